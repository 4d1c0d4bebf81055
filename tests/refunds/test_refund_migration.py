"""Migration 0008 on SQLite and PostgreSQL: refunds from before get their order's merchant, orders and merchants
start with nothing reserved and no supervisor rule, and it goes back keeping every row."""

from __future__ import annotations

from sqlalchemy import column, select, table

from gateway.persistence.database import Database
from gateway.persistence.migrate import upgrade
from tests.persistence.test_migrations import _NOW, _columns_of, _counts_of, _downgrade, _insert_rows, _paid_order_rows

#: What 0008 adds, by table.
REFUND_COLUMNS = {
    "merchants": {"refund_requires_supervisor"},
    "orders": {"refund_reserved_fen", "refund_count"},
    "refunds": {
        "merchant_id", "merchant_refund_no", "description", "terminal_id", "operator_id", "supervisor_id",
        "failure_code",
    },
}  # fmt: skip


async def test_refund_columns_upgrade_and_downgrade_keeping_every_row(database_url: str) -> None:
    db = Database(database_url)
    columns, counts = _columns_of(REFUND_COLUMNS), _counts_of(REFUND_COLUMNS)
    try:
        await upgrade(db, "0007")
        refund = {
            "id": "rfd_r", "order_id": "ord_o", "channel": "wechat", "channel_out_trade_no": "ordo",
            "out_refund_no": "rfdr", "total_fen": 100, "amount_fen": 100, "reason": "duplicate_payment",
            "status": "SUCCEEDED", "created_at": _NOW, "updated_at": _NOW,
        }  # fmt: skip
        await _insert_rows(db, {**_paid_order_rows(), "refunds": refund})
        before = await db.transaction(columns)
        assert all(not (before[name] & added) for name, added in REFUND_COLUMNS.items())

        await upgrade(db, "0008")
        after = await db.transaction(columns)
        assert after == {name: before[name] | added for name, added in REFUND_COLUMNS.items()}
        assert await db.transaction(counts) == {"merchants": 1, "orders": 1, "refunds": 1}
        refund = select(column("merchant_id"), column("merchant_refund_no")).select_from(table("refunds"))
        assert await db.transaction(lambda tx: tuple(tx.connection.execute(refund).one())) == ("mch_m", None)
        order = select(column("refund_reserved_fen"), column("refund_count")).select_from(table("orders"))
        assert await db.transaction(lambda tx: tuple(tx.connection.execute(order).one())) == (0, 0)
        rule = select(column("refund_requires_supervisor")).select_from(table("merchants"))
        assert await db.transaction(lambda tx: tx.connection.execute(rule).scalar_one()) in (False, 0)

        await db.transaction(_downgrade, "0007")
        assert await db.transaction(columns) == before
        assert await db.transaction(counts) == {"merchants": 1, "orders": 1, "refunds": 1}
        await upgrade(db, "0008")
        assert await db.transaction(columns) == after
    finally:
        await db.dispose()
