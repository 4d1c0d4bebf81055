"""Migrations build exactly the tables the models describe, on SQLite and PostgreSQL, store UTC, and go back."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, func, inspect, select, table

from gateway.persistence.database import Database, Tx
from gateway.persistence.migrate import alembic_config, upgrade
from gateway.persistence.tables import Base, Merchant, UTCDateTime


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        await upgrade(db)  # a second run finds nothing to do

        def differences(tx: Tx) -> list[object]:
            context = MigrationContext.configure(tx.connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        assert await db.transaction(differences) == []
    finally:
        await db.dispose()


async def test_times_come_back_aware_utc(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        beijing = timezone(timedelta(hours=8))
        insert = Merchant.__table__.insert().values(
            id="mch_t", name="t", require_operator=False, created_at=datetime(2026, 11, 21, 16, 0, tzinfo=beijing)
        )
        await db.transaction(lambda tx: tx.connection.execute(insert))
        stored = await db.transaction(lambda tx: tx.connection.execute(select(Merchant.created_at)).scalar_one())
        assert stored == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
        assert stored.utcoffset() == timedelta(0)
    finally:
        await db.dispose()


async def test_naive_times_are_refused(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        insert = Merchant.__table__.insert().values(
            id="mch_n", name="n", require_operator=False, created_at=datetime(2026, 11, 21, 8, 0)
        )
        with pytest.raises(Exception, match="naive datetime"):
            await db.transaction(lambda tx: tx.connection.execute(insert))
    finally:
        await db.dispose()


def _paid_order_rows() -> dict[str, dict[str, object]]:
    """A merchant, its store and terminal, and a PAID micropay of that terminal (as of revisions 0007 on)."""
    return {
        "merchants": _MERCHANT,
        "stores": {"id": "sto_s", "merchant_id": "mch_m", "name": "S", "created_at": _NOW},
        "terminals": {
            "id": "trm_t", "merchant_id": "mch_m", "store_id": "sto_s", "name": "T", "key_id": "tk_t",
            "secret_encrypted": "sealed", "event_seq": 0, "created_at": _NOW,
        },
        "orders": {
            "id": "ord_o", "merchant_id": "mch_m", "store_id": "sto_s", "terminal_id": "trm_t",
            "out_trade_no": "o1", "kind": "micropay", "amount_fen": 100, "refunded_fen": 0,
            "status": "PAID", "description": "", "created_at": _NOW, "updated_at": _NOW,
        },
    }  # fmt: skip


def test_migrations_form_one_line() -> None:
    from alembic.script import ScriptDirectory

    from gateway.persistence.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1, "merge or re-chain the new revision"


def _downgrade(tx: Tx, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = tx.connection
    command.downgrade(config, revision)


def _columns_of(tables: Iterable[str]) -> Callable[[Tx], dict[str, set[str]]]:
    def columns(tx: Tx) -> dict[str, set[str]]:
        found = inspect(tx.connection)
        return {name: {c["name"] for c in found.get_columns(name)} for name in tables}

    return columns


def _counts_of(tables: Iterable[str]) -> Callable[[Tx], dict[str, int]]:
    def counts(tx: Tx) -> dict[str, int]:
        return {
            name: tx.connection.execute(select(func.count()).select_from(table(name))).scalar_one() for name in tables
        }

    return counts


async def _insert_rows(db: Database, rows: dict[str, dict[str, object]]) -> None:
    """One row per table, in order, through plain Core tables (as of the revision the database is at)."""
    for name, row in rows.items():
        columns_of_row = (column(key, UTCDateTime()) if key.endswith("_at") else column(key) for key in row)
        insert = table(name, *columns_of_row).insert().values(row)
        await db.transaction(lambda tx, statement=insert: tx.connection.execute(statement))


_NOW = datetime.now(UTC)
_MERCHANT = {"id": "mch_m", "name": "M", "require_operator": False, "created_at": _NOW}

#: What 0006 (key rotation, disabling merchants) adds, by table.
ROTATION_COLUMNS = {
    "merchants": {"disabled_at"},
    "terminals": {"previous_key_id", "previous_secret_encrypted"},
    "cameras": {"previous_key_prefix", "previous_secret_hash"},
}


async def test_key_rotation_columns_upgrade_and_downgrade_keeping_every_row(database_url: str) -> None:
    db = Database(database_url)
    columns, counts = _columns_of(ROTATION_COLUMNS), _counts_of(ROTATION_COLUMNS)
    try:
        await upgrade(db, "0005")
        await _insert_rows(
            db,
            {
                "merchants": _MERCHANT,
                "stores": {"id": "sto_s", "merchant_id": "mch_m", "name": "S", "created_at": _NOW},
                "terminals": {
                    "id": "trm_t", "merchant_id": "mch_m", "store_id": "sto_s", "name": "T", "key_id": "tk_t",
                    "secret_encrypted": "sealed", "event_seq": 0, "created_at": _NOW,
                },
                "cameras": {
                    "id": "cam_c", "terminal_id": "trm_t", "name": "C", "key_prefix": "p", "secret_hash": "h",
                    "created_at": _NOW,
                },
            },
        )  # fmt: skip
        before = await db.transaction(columns)
        assert all(not (before[name] & added) for name, added in ROTATION_COLUMNS.items())

        await upgrade(db, "0006")
        after = await db.transaction(columns)
        assert all(added <= after[name] for name, added in ROTATION_COLUMNS.items())
        assert await db.transaction(counts) == {"merchants": 1, "terminals": 1, "cameras": 1}

        await db.transaction(_downgrade, "0005")
        assert await db.transaction(columns) == before
        # the tables were altered in place: a copied `terminals` would have cascaded into its cameras
        assert await db.transaction(counts) == {"merchants": 1, "terminals": 1, "cameras": 1}

        await upgrade(db, "0006")
        assert await db.transaction(columns) == after
    finally:
        await db.dispose()


#: What 0007 adds: operator lockout, disabling and password changes; the operator who opened a scan session.
OPERATOR_COLUMNS = {
    "operators": {"failed_sign_ins", "locked_until", "disabled_at", "password_changed_at"},
    "scan_sessions": {"operator_id"},
}


async def test_operator_columns_upgrade_and_downgrade_keeping_every_row(database_url: str) -> None:
    db = Database(database_url)
    columns, counts = _columns_of(OPERATOR_COLUMNS), _counts_of(OPERATOR_COLUMNS)
    try:
        await upgrade(db, "0006")
        await _insert_rows(
            db,
            {
                "merchants": _MERCHANT,
                "stores": {"id": "sto_s", "merchant_id": "mch_m", "name": "S", "created_at": _NOW},
                "terminals": {
                    "id": "trm_t", "merchant_id": "mch_m", "store_id": "sto_s", "name": "T", "key_id": "tk_t",
                    "secret_encrypted": "sealed", "event_seq": 0, "created_at": _NOW,
                },
                "operators": {
                    "id": "op_o", "merchant_id": "mch_m", "number": "01", "name": "O", "role": "cashier",
                    "password_hash": "h", "created_at": _NOW,
                },
                "scan_sessions": {
                    "id": "scn_s", "terminal_id": "trm_t", "merchant_id": "mch_m", "active_terminal_id": "trm_t",
                    "status": "OPEN", "amount_fen": 100, "out_trade_no": "s1", "description": "",
                    "expires_at": _NOW, "created_at": _NOW,
                },
            },
        )  # fmt: skip
        before = await db.transaction(columns)
        assert all(not (before[name] & added) for name, added in OPERATOR_COLUMNS.items())

        await upgrade(db, "0007")
        after = await db.transaction(columns)
        assert after == {name: before[name] | added for name, added in OPERATOR_COLUMNS.items()}
        assert await db.transaction(counts) == {"operators": 1, "scan_sessions": 1}
        state = select(
            column("failed_sign_ins"), column("locked_until"), column("disabled_at"), column("password_changed_at")
        ).select_from(table("operators"))
        # an operator from before starts with no wrong passwords, unlocked and enabled
        assert await db.transaction(lambda tx: tuple(tx.connection.execute(state).one())) == (0, None, None, None)

        await db.transaction(_downgrade, "0006")
        assert await db.transaction(columns) == before
        assert await db.transaction(counts) == {"operators": 1, "scan_sessions": 1}

        await upgrade(db, "0007")
        assert await db.transaction(columns) == after
    finally:
        await db.dispose()


#: What 0009 (batches, voucher and reference numbers) adds, by table.
BATCH_COLUMNS = {
    "merchants": {"reference_seq"},
    "terminals": {"batch_no", "voucher_seq"},
    "orders": {"batch_no", "voucher_no", "reference_no"},
    "refunds": {"batch_no", "voucher_no", "reference_no"},
}


async def test_batch_columns_upgrade_and_downgrade_keeping_every_row(database_url: str) -> None:
    db = Database(database_url)
    columns, counts = _columns_of(BATCH_COLUMNS), _counts_of(BATCH_COLUMNS)
    try:
        await upgrade(db, "0008")
        await _insert_rows(db, _paid_order_rows())
        before = await db.transaction(columns)
        assert all(not (before[name] & added) for name, added in BATCH_COLUMNS.items())
        kept = {"merchants": 1, "terminals": 1, "orders": 1, "refunds": 0}

        await upgrade(db, "0009")
        after = await db.transaction(columns)
        assert after == {name: before[name] | added for name, added in BATCH_COLUMNS.items()}
        assert await db.transaction(counts) == kept
        counters = select(column("batch_no"), column("voucher_seq")).select_from(table("terminals"))
        # a terminal from before has no batch yet and has given no voucher number
        assert await db.transaction(lambda tx: tuple(tx.connection.execute(counters).one())) == (None, 0)
        numbers = select(column("batch_no"), column("voucher_no"), column("reference_no")).select_from(table("orders"))
        assert await db.transaction(lambda tx: tuple(tx.connection.execute(numbers).one())) == (None, None, None)

        await db.transaction(_downgrade, "0008")
        assert await db.transaction(columns) == before
        assert await db.transaction(counts) == kept

        await upgrade(db, "0009")
        assert await db.transaction(columns) == after
    finally:
        await db.dispose()


def _has_receipt_prints(tx: Tx) -> bool:
    return bool(inspect(tx.connection).has_table("receipt_prints"))


async def test_void_and_receipt_schema_upgrades_and_downgrades_keeping_every_row(database_url: str) -> None:
    db = Database(database_url)
    columns, counts = _columns_of(["refunds"]), _counts_of(["orders", "refunds"])
    refund = {
        "id": "rfd_r", "order_id": "ord_o", "merchant_id": "mch_m", "channel": "wechat", "channel_out_trade_no": "ordo",
        "out_refund_no": "rfdr", "total_fen": 100, "amount_fen": 100, "reason": "requested", "status": "SUCCEEDED",
        "created_at": _NOW, "updated_at": _NOW,
    }  # fmt: skip
    try:
        await upgrade(db, "0009")
        await _insert_rows(db, {**_paid_order_rows(), "refunds": refund})
        before = await db.transaction(columns)

        await upgrade(db, "0010")
        assert await db.transaction(columns) == {"refunds": before["refunds"] | {"via_reverse"}}
        assert await db.transaction(_has_receipt_prints)
        via_reverse = select(column("via_reverse")).select_from(table("refunds"))
        # refunds from before were all sent to the channel as refunds
        assert await db.transaction(lambda tx: tx.connection.execute(via_reverse).scalar_one()) in (False, 0)
        assert await db.transaction(counts) == {"orders": 1, "refunds": 1}

        await db.transaction(_downgrade, "0009")
        assert await db.transaction(columns) == before and not await db.transaction(_has_receipt_prints)
        assert await db.transaction(counts) == {"orders": 1, "refunds": 1}
    finally:
        await db.dispose()


async def test_fee_and_settlement_schema_upgrades_and_downgrades_keeping_every_row(database_url: str) -> None:
    db = Database(database_url)
    columns, counts = _columns_of(["orders", "refunds"]), _counts_of(["orders"])
    new_tables = ("merchant_fee_rates", "settlements")

    def has_tables(tx: Tx) -> list[bool]:
        return [inspect(tx.connection).has_table(name) for name in new_tables]

    try:
        await upgrade(db, "0010")
        await _insert_rows(db, _paid_order_rows())
        before = await db.transaction(columns)

        await upgrade(db, "0011")
        assert await db.transaction(columns) == {
            "orders": before["orders"] | {"fee_rate_bp", "fee_fen"},
            "refunds": before["refunds"] | {"fee_fen"},
        }
        assert await db.transaction(has_tables) == [True, True]
        fee = select(column("fee_rate_bp"), column("fee_fen")).select_from(table("orders"))
        # a payment from before has no fee on record: its rate then is not known
        assert await db.transaction(lambda tx: tuple(tx.connection.execute(fee).one())) == (None, None)

        await db.transaction(_downgrade, "0010")
        assert await db.transaction(columns) == before and await db.transaction(has_tables) == [False, False]
        assert await db.transaction(counts) == {"orders": 1}
    finally:
        await db.dispose()


async def test_reconciliation_schema_upgrades_and_downgrades(database_url: str) -> None:
    db = Database(database_url)

    def has_reconciliations(tx: Tx) -> bool:
        return bool(inspect(tx.connection).has_table("reconciliations"))

    try:
        await upgrade(db, "0011")
        await _insert_rows(db, _paid_order_rows())
        assert not await db.transaction(has_reconciliations)
        await upgrade(db, "0012")
        assert await db.transaction(has_reconciliations)
        await db.transaction(_downgrade, "0011")
        assert not await db.transaction(has_reconciliations)
        assert await db.transaction(_counts_of(["orders"])) == {"orders": 1}
    finally:
        await db.dispose()


def _webhook_rows() -> dict[str, dict[str, object]]:
    """The paid order's event, owed to the merchant's notify URL, with one attempt made, and its follow-up job."""
    return {
        **_paid_order_rows(),
        "outbox_events": {
            "id": 1, "terminal_id": "trm_t", "merchant_id": "mch_m", "order_id": "ord_o", "seq": 1,
            "type": "order.paid", "payload": "{}", "created_at": _NOW,
        },
        "webhook_deliveries": {
            "id": 1, "event_id": 1, "merchant_id": "mch_m", "order_id": "ord_o", "url": "http://127.0.0.1/n",
            "status": "pending", "attempts": 1, "created_at": _NOW,
        },
        "webhook_attempts": {"id": 1, "delivery_id": 1, "number": 1, "at": _NOW, "duration_ms": 3},
        "jobs": {"kind": "webhook", "order_id": "ord_o", "due_at": _NOW, "attempts": 0, "created_at": _NOW},
    }  # fmt: skip


async def test_gateway_jobs_schema_upgrades_and_downgrades_keeping_every_webhook_row(database_url: str) -> None:
    db = Database(database_url)
    kept = ("outbox_events", "webhook_deliveries", "webhook_attempts", "jobs")
    counts = _counts_of(kept)

    def nullable(tx: Tx) -> dict[str, bool]:
        found = inspect(tx.connection)
        wanted = {"jobs": "order_id", "outbox_events": "terminal_id", "webhook_deliveries": "order_id"}
        return {
            name: next(c["nullable"] for c in found.get_columns(name) if c["name"] == wanted[name]) for name in wanted
        }

    try:
        await upgrade(db, "0012")
        await _insert_rows(db, _webhook_rows())
        assert await db.transaction(nullable) == {"jobs": False, "outbox_events": False, "webhook_deliveries": False}

        await upgrade(db, "0013")
        assert await db.transaction(nullable) == {"jobs": True, "outbox_events": True, "webhook_deliveries": True}
        assert await db.transaction(counts) == dict.fromkeys(kept, 1)

        await db.transaction(_downgrade, "0012")
        assert await db.transaction(nullable) == {"jobs": False, "outbox_events": False, "webhook_deliveries": False}
        assert await db.transaction(counts) == dict.fromkeys(kept, 1)
    finally:
        await db.dispose()
