"""End of day (结算): a terminal closes its open batch once nothing of it is in flight; its slip and reprints."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from gateway.domain.errors import Conflict, Forbidden, NotFound
from gateway.domain.ids import new_id
from gateway.domain.settlements import BatchTotals, SettlementSlip, batch_totals
from gateway.persistence import batches, terminals
from gateway.persistence import receipts as receipt_rows
from gateway.persistence import settlements as repo
from gateway.persistence.database import Database, Tx
from gateway.persistence.orders import lock_terminal
from gateway.persistence.tables import Settlement
from gateway.services.terminals import TerminalContext

SLIP = "settlement"


@dataclass(frozen=True)
class Settled:
    settlement: Settlement
    next_batch_no: str


@dataclass(frozen=True)
class PrintedSlip:
    slip: SettlementSlip
    prints: int


class SettlementService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def settle(self, terminal: TerminalContext) -> Settled:
        """Close the terminal's open batch: 409 `batch_in_flight` (with the `transactions`) while any payment,
        refund or void of it is unfinished; else write its totals, sign the operator out and move to the next
        batch, in one transaction (a payment numbered at the same moment waits for it, and lands in the next)."""
        if terminal.operator_id is None:
            raise Forbidden("settlement needs an operator signed in on the terminal", code="operator_required")
        now = datetime.now(UTC)

        def settle(tx: Tx) -> Settled:
            lock_terminal(tx, terminal.terminal_id)  # numbering a transaction takes this row too: one at a time
            batch_no = batches.open_batch_no(tx, terminal.terminal_id)
            if batch_no is None:
                batches.open_first_batch(tx, terminal.terminal_id)
                batch_no = batches.six_digits(batches.FIRST_BATCH)
            pending = [_with_cancel_offer(found) for found in repo.in_flight(tx, terminal.terminal_id, batch_no)]
            if pending:
                raise Conflict(
                    f"{len(pending)} transaction(s) of batch {batch_no} are not finished: wait for their results, "
                    "and cancel unpaid codes (POST /v1/payments/{order_id}/cancel) before settling",
                    code="batch_in_flight",
                    transactions=pending,
                )
            totals = batch_totals(
                repo.batch_payments(tx, terminal.terminal_id, batch_no),
                repo.batch_refunds(tx, terminal.terminal_id, batch_no),
            )
            settlement = Settlement(
                id=new_id("stl"),
                merchant_id=terminal.merchant_id,
                terminal_id=terminal.terminal_id,
                batch_no=batch_no,
                operator_id=terminal.operator_id,
                totals=totals.as_json(),
                settled_at=now,
            )
            repo.add_settlement(tx, settlement)
            next_batch_no = batches.close_batch(tx, terminal.terminal_id)
            terminals.set_operator(tx, terminal.terminal_id, None, None)
            return Settled(settlement, next_batch_no)

        return await self._db.transaction(settle)

    async def last_slip(self, terminal: TerminalContext) -> PrintedSlip:
        """The slip of the terminal's last settlement; every print after the first is a reprint, counted."""

        def gather(tx: Tx) -> PrintedSlip:
            settlement = repo.last_settlement(tx, terminal.terminal_id)
            if settlement is None:
                raise NotFound("this terminal has not settled a batch yet", code="settlement_not_found")
            merchant_name, store_name = receipt_rows.shop_names(tx, terminal.merchant_id, terminal.store_id)
            slip = SettlementSlip(
                merchant_name=merchant_name,
                merchant_no=terminal.merchant_id,
                store=store_name,
                terminal_id=terminal.terminal_id,
                operator_no=receipt_rows.operator_number(tx, settlement.operator_id) or "-",
                batch_no=settlement.batch_no,
                settled_at=settlement.settled_at,
                totals=BatchTotals.from_json(settlement.totals),
            )
            count = receipt_rows.count_print(tx, settlement.id, SLIP, datetime.now(UTC))
            return PrintedSlip(replace(slip, reprint=count > 1), count)

        return await self._db.transaction(gather)


def _with_cancel_offer(transaction: dict[str, object]) -> dict[str, object]:
    """An unpaid dynamic code in the way of the settlement carries the request that withdraws it."""
    if transaction["kind"] == "payment" and transaction.get("payment_kind") == "qr":
        return {**transaction, "cancel": f"POST /v1/payments/{transaction['id']}/cancel"}
    return transaction
