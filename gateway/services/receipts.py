"""Receipts (签购单) of a terminal's transactions: gathered from its payment or refund, printed, reprints counted."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from gateway.domain.errors import Conflict, NotFound
from gateway.domain.orders import OrderStatus
from gateway.domain.receipts import Receipt, ReceiptCopy, ReceiptKind
from gateway.domain.refunds import RefundReason, RefundStatus
from gateway.persistence import batches
from gateway.persistence import receipts as repo
from gateway.persistence import refunds as refunds_repo
from gateway.persistence.database import Database, Tx
from gateway.persistence.orders import load_order
from gateway.persistence.tables import Order, Refund
from gateway.services.terminals import TerminalContext

#: A payment has a slip once its money arrived; a voided or refunded one keeps it.
PRINTABLE_PAYMENTS = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED, OrderStatus.VOIDED)
#: A refund or void has a slip once its channel accepted it.
PRINTABLE_REFUNDS = (RefundStatus.PROCESSING, RefundStatus.SUCCEEDED)
PAYMENT_NOTE = "切勿因重复扫码造成重复扣账"
DYNAMIC_CODE_PAYER = "动态码 QR"


@dataclass(frozen=True)
class Slip:
    """A receipt as printed, and how many times its copy has been printed (1: the first print)."""

    receipt: Receipt
    prints: int


class ReceiptService:
    """The merchant and customer copies of a terminal's own payments, refunds and voids (another terminal's: 404)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_payment(self, terminal: TerminalContext, order_id: str, copy: ReceiptCopy) -> Slip:
        def gather(tx: Tx) -> Slip:
            order = load_order(tx, order_id)
            if order is None or order.terminal_id != terminal.terminal_id or order.voucher_no is None:
                raise NotFound(f"no transaction {order_id} on this terminal", code="transaction_not_found")
            return _payment_slip(tx, terminal, order, copy)

        return await self._db.transaction(gather)

    async def of_refund(self, terminal: TerminalContext, refund_id: str, copy: ReceiptCopy) -> Slip:
        def gather(tx: Tx) -> Slip:
            refund = refunds_repo.get_refund(tx, refund_id)
            if refund is None or refund.terminal_id != terminal.terminal_id or refund.voucher_no is None:
                raise NotFound(f"no refund or void {refund_id} on this terminal", code="transaction_not_found")
            return _refund_slip(tx, terminal, refund, copy)

        return await self._db.transaction(gather)

    async def of_last(self, terminal: TerminalContext, copy: ReceiptCopy) -> Slip:
        """The slip of the terminal's latest transaction: payment, refund or void, whichever was numbered last."""

        def gather(tx: Tx) -> Slip:
            order = batches.last_order(tx, terminal.terminal_id)
            refund = batches.last_refund(tx, terminal.terminal_id)
            if refund is not None and (order is None or (refund.reference_no or "") > (order.reference_no or "")):
                return _refund_slip(tx, terminal, refund, copy)
            if order is None:
                raise NotFound("this terminal has no transaction yet", code="transaction_not_found")
            return _payment_slip(tx, terminal, order, copy)

        return await self._db.transaction(gather)


def _payment_slip(tx: Tx, terminal: TerminalContext, order: Order, copy: ReceiptCopy) -> Slip:
    if order.status not in PRINTABLE_PAYMENTS:
        raise Conflict(
            f"payment {order.id} is {order.status}: only a paid payment has a receipt", code="receipt_not_available"
        )
    assert order.channel is not None and order.paid_at is not None  # a paid order has both
    receipt = _receipt(
        tx,
        terminal,
        order,
        kind=ReceiptKind.PAYMENT,
        numbered=order,
        trade_no=order.channel_trade_no,
        at=order.paid_at,
        amount_fen=order.amount_fen,
        copy=copy,
        note=order.description or PAYMENT_NOTE,
    )
    return _printed(tx, order.id, receipt)


def _refund_slip(tx: Tx, terminal: TerminalContext, refund: Refund, copy: ReceiptCopy) -> Slip:
    order = load_order(tx, refund.order_id)
    assert order is not None  # a refund's order stays
    if refund.status not in PRINTABLE_REFUNDS:
        raise Conflict(
            f"{refund.id} is {refund.status}: a refund or void has a receipt once its channel accepted it",
            code="receipt_not_available",
        )
    voided = refund.reason is RefundReason.VOID
    receipt = _receipt(
        tx,
        terminal,
        order,
        kind=ReceiptKind.VOID if voided else ReceiptKind.REFUND,
        numbered=refund,
        trade_no=refund.channel_refund_no or order.channel_trade_no,
        at=refund.created_at,
        amount_fen=refund.amount_fen,
        copy=copy,
        note=refund.description or ("整笔撤销" if voided else "退货"),
        original=order,
    )
    return _printed(tx, refund.id, receipt)


def _receipt(
    tx: Tx,
    terminal: TerminalContext,
    order: Order,
    *,
    kind: ReceiptKind,
    numbered: Order | Refund,
    trade_no: str | None,
    at: datetime,
    amount_fen: int,
    copy: ReceiptCopy,
    note: str,
    original: Order | None = None,
) -> Receipt:
    """What a slip shows of the transaction `numbered` (the payment itself, or a refund or void of `order`)."""
    assert order.channel is not None and numbered.batch_no and numbered.voucher_no and numbered.reference_no
    merchant_name, store_name = repo.shop_names(tx, order.merchant_id, order.store_id)
    return Receipt(
        merchant_name=merchant_name,
        merchant_no=order.merchant_id,
        store=store_name,
        terminal_id=terminal.terminal_id,
        operator_no=repo.operator_number(tx, numbered.operator_id) or "-",
        kind=kind,
        channel=order.channel,
        payer=order.auth_code_masked or DYNAMIC_CODE_PAYER,
        batch_no=numbered.batch_no,
        voucher_no=numbered.voucher_no,
        reference_no=numbered.reference_no,
        trade_no=trade_no or "-",
        at=at,
        amount_fen=amount_fen,
        copy=copy,
        note=note,
        original_voucher_no=None if original is None else original.voucher_no,
        original_reference_no=None if original is None else original.reference_no,
    )


def _printed(tx: Tx, transaction_id: str, receipt: Receipt) -> Slip:
    """Count this print of the slip's copy in the transaction that gathered it; a second print is a reprint."""
    prints = repo.count_print(tx, transaction_id, receipt.copy.value, datetime.now(UTC))
    return Slip(replace(receipt, reprint=prints > 1), prints)
