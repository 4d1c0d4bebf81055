"""Receipts (签购单): a pure renderer of one Receipt as 32-column printer text or a printable HTML page."""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.domain.beijing import BEIJING
from gateway.domain.channels import Channel

#: A 58 mm thermal printer prints 32 columns of a monospace font; a CJK or fullwidth character takes two.
WIDTH = 32
REPRINT_LINE = "*** 重打印 REPRINT ***"
RULE = "-" * WIDTH


class ReceiptKind(StrEnum):
    """The transaction type printed on the slip."""

    PAYMENT = "扫码消费"
    VOID = "扫码撤销"
    REFUND = "扫码退货"


class ReceiptCopy(StrEnum):
    """Which of the two slips of a transaction this is; the values are the `copy` query parameter's."""

    MERCHANT = "merchant"
    CUSTOMER = "customer"


COPY_TITLES = {ReceiptCopy.MERCHANT: "商户存根 MERCHANT COPY", ReceiptCopy.CUSTOMER: "顾客存根 CUSTOMER COPY"}
CHANNEL_NAMES = {Channel.WECHAT: "微信支付", Channel.ALIPAY: "支付宝", Channel.UNIONPAY: "云闪付"}
KIND_NAMES = {ReceiptKind.PAYMENT: "SALE", ReceiptKind.VOID: "VOID", ReceiptKind.REFUND: "REFUND"}


@dataclass(frozen=True)
class Receipt:
    """Everything one slip shows; `at` is aware UTC, `amount_fen` integer fen."""

    merchant_name: str
    merchant_no: str
    store: str
    terminal_id: str
    operator_no: str
    kind: ReceiptKind
    channel: Channel
    payer: str
    batch_no: str
    voucher_no: str
    reference_no: str
    trade_no: str
    at: datetime
    amount_fen: int
    copy: ReceiptCopy
    note: str
    reprint: bool = False
    original_voucher_no: str | None = None
    original_reference_no: str | None = None


def yuan(amount_fen: int) -> str:
    """`RMB 12.50` from 1250 fen (`RMB -0.03` from -3), by integer division only."""
    whole, fen = divmod(abs(amount_fen), 100)
    return f"RMB {'-' if amount_fen < 0 else ''}{whole}.{fen:02d}"


def columns(text: str) -> int:
    """How many printer columns `text` takes: two for a wide or fullwidth character, one otherwise."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def wrap(text: str, width: int = WIDTH) -> list[str]:
    """Split `text` into lines of at most `width` columns, character by character (CJK has no spaces)."""
    lines: list[str] = []
    line, used = "", 0
    for ch in text:
        w = columns(ch)
        if used + w > width:
            lines.append(line.rstrip())
            line, used = "", 0
            if ch == " ":
                continue
        line += ch
        used += w
    lines.append(line.rstrip())
    return lines


def center(text: str) -> str:
    """`text` centred in the line width (left-biased), without trailing spaces."""
    return " " * max(0, (WIDTH - columns(text)) // 2) + text


def fields(receipt: Receipt) -> list[tuple[str, str]]:
    """The slip's labelled values, in print order."""
    local = receipt.at.astimezone(BEIJING)
    rows = [
        ("商户名称 MERCHANT NAME", receipt.merchant_name),
        ("商户编号 MERCHANT NO", receipt.merchant_no),
        ("门店 STORE", receipt.store),
        ("终端编号 TERMINAL NO", receipt.terminal_id),
        ("操作员号 OPERATOR NO", receipt.operator_no),
        ("交易类型 TRANS TYPE", f"{receipt.kind.value} {KIND_NAMES[receipt.kind]}"),
        ("支付渠道 CHANNEL", CHANNEL_NAMES[receipt.channel]),
        ("付款码/付款人 PAYER", receipt.payer),
        ("批次号 BATCH NO", receipt.batch_no),
        ("凭证号 VOUCHER NO", receipt.voucher_no),
        ("参考号 REF NO", receipt.reference_no),
        ("渠道单号 TRADE NO", receipt.trade_no),
        ("日期 DATE", local.strftime("%Y/%m/%d")),
        ("时间 TIME", local.strftime("%H:%M:%S")),
    ]
    if receipt.original_voucher_no is not None:
        rows.append(("原凭证号 ORIG VOUCHER NO", receipt.original_voucher_no))
    if receipt.original_reference_no is not None:
        rows.append(("原参考号 ORIG REF NO", receipt.original_reference_no))
    rows.append(("金额 AMOUNT", yuan(receipt.amount_fen)))
    return rows


def field_lines(label: str, value: str) -> list[str]:
    """One `label:value` line when it fits, else the label then the value wrapped below it."""
    one = f"{label}:{value}"
    if columns(one) <= WIDTH:
        return [one]
    return [*wrap(f"{label}:"), *wrap(value)]


def render_text(receipt: Receipt) -> str:
    """The slip as plain text, no line over WIDTH columns, ending in a newline."""
    lines = [center("签购单 POS SLIP"), *wrap(COPY_TITLES[receipt.copy])]
    if receipt.reprint:
        lines.append(center(REPRINT_LINE))
    lines.append(RULE)
    for label, value in fields(receipt):
        lines.extend(field_lines(label, value))
    lines.append(RULE)
    lines.extend(wrap(f"备注 NOTE:{receipt.note}"))
    if receipt.copy is ReceiptCopy.MERCHANT:
        lines.extend(["持卡人签名 SIGNATURE:", "", RULE])
    return "\n".join(lines) + "\n"


STYLE = """@page { size: 58mm auto; margin: 0; }
body { width: 58mm; margin: 0 auto; padding: 2mm; box-sizing: border-box;
  font-family: "Noto Sans Mono CJK SC", "DejaVu Sans Mono", monospace; font-size: 9pt; line-height: 1.3; }
h1, .copy, .reprint { text-align: center; margin: 0; font-size: 10pt; }
.reprint { font-weight: bold; }
dl { margin: 1mm 0; border-top: 1px dashed #000; border-bottom: 1px dashed #000; padding: 1mm 0; }
dt { margin: 0; }
dd { margin: 0 0 0.5mm 3mm; overflow-wrap: anywhere; font-weight: bold; }
p { margin: 1mm 0; overflow-wrap: anywhere; }"""


def render_html(receipt: Receipt) -> str:
    """The slip as a printable HTML page 58 mm wide, every value escaped."""
    e = html.escape
    title = COPY_TITLES[receipt.copy]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>签购单 {e(receipt.voucher_no)} {e(title)}</title>",
        f"<style>\n{STYLE}\n</style>",
        "</head>",
        "<body>",
        "<h1>签购单 POS SLIP</h1>",
        f'<p class="copy">{e(title)}</p>',
    ]
    if receipt.reprint:
        parts.append(f'<p class="reprint">{e(REPRINT_LINE)}</p>')
    parts.append("<dl>")
    for label, value in fields(receipt):
        parts.append(f"<dt>{e(label)}</dt><dd>{e(value)}</dd>")
    parts.append("</dl>")
    parts.append(f'<p class="note">备注 NOTE:{e(receipt.note)}</p>')
    if receipt.copy is ReceiptCopy.MERCHANT:
        parts.append('<p class="signature">持卡人签名 SIGNATURE:<br><br></p>')
    parts.extend(["</body>", "</html>"])
    return "\n".join(parts) + "\n"
