"""Fixed receipts (times, ids, amounts) for the golden, width and screenshot tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from gateway.domain.channels import Channel
from gateway.domain.receipts import Receipt, ReceiptCopy, ReceiptKind

PAYMENT = Receipt(
    merchant_name="示例便利店 Demo Mart",
    merchant_no="mch_0001",
    store="南京西路店",
    terminal_id="T0001",
    operator_no="01",
    kind=ReceiptKind.PAYMENT,
    channel=Channel.WECHAT,
    payer="134567******1234",
    batch_no="000001",
    voucher_no="000042",
    reference_no="000000000107",
    trade_no="4200001234202612021234567890",
    at=datetime(2026, 12, 2, 16, 5, 9, tzinfo=UTC),
    amount_fen=1250,
    copy=ReceiptCopy.MERCHANT,
    note="切勿因重复扫码造成重复扣账",
)
REFUND = replace(
    PAYMENT,
    kind=ReceiptKind.REFUND,
    channel=Channel.ALIPAY,
    payer="208800****5678",
    voucher_no="000043",
    reference_no="000000000108",
    trade_no="2026120322001400000001",
    at=datetime(2026, 12, 2, 17, 30, 0, tzinfo=UTC),
    amount_fen=305,
    copy=ReceiptCopy.CUSTOMER,
    original_voucher_no="000042",
    original_reference_no="000000000107",
    note="部分退货",
)
VOID = replace(
    PAYMENT,
    kind=ReceiptKind.VOID,
    voucher_no="000044",
    reference_no="000000000109",
    at=datetime(2026, 12, 2, 16, 20, 0, tzinfo=UTC),
    original_voucher_no="000042",
    original_reference_no="000000000107",
    note="整笔撤销 主管 900",
)
REPRINT = replace(PAYMENT, channel=Channel.UNIONPAY, copy=ReceiptCopy.CUSTOMER, reprint=True)
SAMPLES = {"payment": PAYMENT, "refund": REFUND, "void": VOID, "reprint": REPRINT}
