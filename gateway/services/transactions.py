"""A terminal's transactions by their numbers: its last one, one by voucher number (open batch) or reference number.

An answer not final yet (PAYING, AWAITING_PAYMENT) is first asked of the channel, through the payment services'
own query paths, so what the terminal is told has gone through the order machine like any other answer.
"""

from __future__ import annotations

from gateway.domain.errors import InvalidInput, NotFound
from gateway.domain.orders import OrderKind
from gateway.persistence import batches
from gateway.persistence.database import Database
from gateway.persistence.tables import Order
from gateway.services.payments import PaymentService
from gateway.services.qr_payments import QrPaymentService
from gateway.services.terminals import TerminalContext


class TerminalTransactions:
    """Looks a terminal's own payments up by batch, voucher and reference numbers (another terminal's: none)."""

    def __init__(self, db: Database, payments: PaymentService, qr_payments: QrPaymentService) -> None:
        self._db = db
        self._payments = payments
        self._qr_payments = qr_payments

    async def last(self, terminal: TerminalContext) -> Order:
        found = await self._db.transaction(batches.last_order, terminal.terminal_id)
        return await self._current(found, "this terminal has no transaction yet")

    async def find(self, terminal: TerminalContext, voucher_no: str | None, reference_no: str | None) -> Order:
        """By exactly one of voucher number (in the terminal's open batch) and reference number."""
        if (voucher_no is None) == (reference_no is None):
            raise InvalidInput("give either voucher_no or reference_no", code="validation_error")
        if voucher_no is not None:
            found = await self._db.transaction(batches.order_by_voucher, terminal.terminal_id, voucher_no)
            return await self._current(found, f"no transaction with voucher number {voucher_no} in the open batch")
        assert reference_no is not None
        found = await self._db.transaction(batches.order_by_reference, terminal.terminal_id, reference_no)
        return await self._current(found, f"no transaction with reference number {reference_no} on this terminal")

    async def _current(self, order: Order | None, missing: str) -> Order:
        if order is None:
            raise NotFound(missing, code="transaction_not_found")
        return await self.refresh(order)

    async def refresh(self, order: Order) -> Order:
        """The order as it stands, asking its channel first while it is not final (the answer goes through the
        order's machine, as the follow-up job would apply it)."""
        if order.status.is_final:
            return order
        if order.kind is OrderKind.QR:
            return await self._qr_payments.query_now(order.id)
        return await self._payments.query_now(order)
