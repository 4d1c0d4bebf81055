"""云闪付 wire format: codes, Beijing times, fen amounts, QR URLs and the bill CSV, and their protocol types.

respCode table. 00/02/12/99 are the codes the 云闪付 service-provider API documents (CHANNELS.md 5B). The
failure codes are our proposal [P], numbered after UnionPay ACP's families (1x message, 3x merchant and
transaction, 4x payment code, 6x account), because the public sources do not list B's failure codes. ACP's
"unknown" codes 03/04/05 are read as unknown too, so a real endpoint answering with them is queried, not failed.

| code | meaning                             | the simulator sends it for               | adapter result               |
|------|-------------------------------------|------------------------------------------|------------------------------|
| 00   | success                             | every accepted request                   | the result                   |
| 02   | user paying (entering the password) | a micropay that needs the password       | TradeResult(PAYING)          |
| 10   | message format error                | body not a JSON object; bad amount,      | RequestRejected              |
|      |                                     | time, currency, termInfo or orderNo      |                              |
| 11   | signature verification failed       | a signature that does not verify         | RequestRejected              |
| 12   | duplicate transaction               | micropay repeated with the same orderNo  | OutcomeUnknown: query        |
|      |                                     | and fields                               |                              |
| 13   | required field missing              | a required field absent or empty         | RequestRejected              |
| 30   | transaction refused                 | a refund the channel will not make       | refund: RefundRejected       |
|      |                                     | (refund fault 21)                        |                              |
| 31   | merchant not recognised             | serProvId or merId not ours              | RequestRejected              |
| 32   | no permission for this transaction  | orderType other than `unionpay`          | RequestRejected              |
| 33   | amount over the limit               | a refund beyond what is left to refund   | RefundRejected               |
| 34   | no such transaction                 | query/close/refund of an unknown orderNo | query: NOT_FOUND; else       |
|      |                                     |                                          | OrderNotFound                |
| 35   | original transaction in wrong state | closeOrder on a paid or revoked order    | AlreadyPaid if origRespCode  |
|      |                                     | (origRespCode says which); refund of an  | is 00/01, else               |
|      |                                     | unpaid order                             | OrderStateConflict           |
| 36   | inconsistent with the original      | orderNo reused with other fields; wrong  | OrderStateConflict           |
|      |                                     | origTxnAmt; refund number reused with    |                              |
|      |                                     | another amount                           |                              |
| 39   | outside the accepted time           | a refund past the refund window          | refund: RefundRejected       |
| 44   | payment code invalid                | not 62 + 17 digits, or never issued      | AuthCodeInvalid              |
| 45   | payment code expired                | a code older than its lifetime           | AuthCodeInvalid              |
| 46   | payment code already used           | a code seen before                       | AuthCodeInvalid              |
| 64   | insufficient balance                | a wallet that cannot cover the amount;   | PaymentDeclined; refund:     |
|      |                                     | on a refund, the merchant's balance      | RefundRejected               |
| 98   | file does not exist (ACP's code)    | downloadBill of a day not over yet       | BillNotReady                 |
| 99   | unknown result / system busy        | system errors; closeOrder that must be   | OutcomeUnknown; reverse:     |
|      |                                     | called again                             | ReverseResult(retry=True)    |

On refund, 30/33/35/36/39/64 raise RefundRejected. A refund answered 00 is accepted, not finished: refundQuery's
origRespCode (00 success, 01 failed, 02 processing) and the refund notification to the refund's backUrl tell.

closeOrder is both "close an unpaid dynamic order" and "cancel a micropay" (our reverse). Where WeChat answers
recall=Y, we answer 99: the result of the cancel is not final, call closeOrder again [P].
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum

from adapters.billparse import CANCEL, PAYMENT, REFUND, REVOKED, SUCCESS, fold_cancellations, read_bill
from adapters.billparse import BillRow as BillFileRow
from adapters.protocol import (
    AlreadyPaid,
    AuthCodeInvalid,
    Bill,
    BillEntry,
    BillNotReady,
    ChannelError,
    DefiniteFailure,
    OrderNotFound,
    OrderStateConflict,
    OutcomeUnknown,
    PaymentDeclined,
    RefundRejected,
    RefundResult,
    RefundStatus,
    RequestRejected,
    TradeResult,
    TradeStatus,
    WireFormatError,
)
from adapters.unionpay.signing import WireValue, render

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
WIRE_TIME_FORMAT = "%Y%m%d%H%M%S"
WIRE_DATE_FORMAT = "%Y%m%d"
CURRENCY_CNY = "156"
ORDER_TYPE_UNIONPAY = "unionpay"  # bar-code and dynamic-QR payments from 云闪付 and UnionPay-standard bank apps
AUTH_CODE_PATTERN = re.compile(r"^62\d{17}$")
ORDER_NO_PATTERN = re.compile(r"^[0-9A-Za-z_-]{1,40}$")
QR_CODE_HOST = "qr.95516.com"
QR_CODE_ISSUER = "00010001"  # the 8-digit path segment of a UnionPay QR URL (as in ACP's example)
QR_CODE_LIFETIME = timedelta(hours=2)  # [P], CHANNELS.md section 6
API_PATH = "/gateway/api/pay/"
MAX_FEN_DIGITS = 12


class RespCode(StrEnum):
    """The answer to a request; see the module table."""

    SUCCESS = "00"
    USER_PAYING = "02"
    FORMAT_ERROR = "10"
    SIGNATURE_INVALID = "11"
    DUPLICATE = "12"
    FIELD_MISSING = "13"
    TRANSACTION_REFUSED = "30"
    MERCHANT_INVALID = "31"
    NO_PERMISSION = "32"
    AMOUNT_OVER_LIMIT = "33"
    NOT_FOUND = "34"
    ORIGINAL_STATE_WRONG = "35"
    ORIGINAL_MISMATCH = "36"
    OUT_OF_TIME = "39"
    AUTH_CODE_INVALID = "44"
    AUTH_CODE_EXPIRED = "45"
    AUTH_CODE_USED = "46"
    INSUFFICIENT_BALANCE = "64"
    FILE_NOT_FOUND = "98"  # ACP's 文件不存在: no bill for that day (yet)
    UNKNOWN = "99"


RESP_MESSAGES: dict[RespCode, str] = {
    RespCode.SUCCESS: "成功",
    RespCode.USER_PAYING: "用户支付中",
    RespCode.FORMAT_ERROR: "报文格式错误",
    RespCode.SIGNATURE_INVALID: "验证签名失败",
    RespCode.DUPLICATE: "重复交易",
    RespCode.FIELD_MISSING: "报文交易要素缺失",
    RespCode.TRANSACTION_REFUSED: "交易未通过",
    RespCode.MERCHANT_INVALID: "商户状态不正确",
    RespCode.NO_PERMISSION: "无此交易权限",
    RespCode.AMOUNT_OVER_LIMIT: "交易金额超限",
    RespCode.NOT_FOUND: "查无此交易",
    RespCode.ORIGINAL_STATE_WRONG: "原交易状态不正确",
    RespCode.ORIGINAL_MISMATCH: "与原交易信息不符",
    RespCode.OUT_OF_TIME: "交易不在受理时间范围内",
    RespCode.AUTH_CODE_INVALID: "付款码无效",
    RespCode.AUTH_CODE_EXPIRED: "付款码已过期",
    RespCode.AUTH_CODE_USED: "付款码已使用",
    RespCode.INSUFFICIENT_BALANCE: "余额不足",
    RespCode.FILE_NOT_FOUND: "文件不存在",
    RespCode.UNKNOWN: "交易状态未明",
}

#: respCodes that leave the outcome open: B's 12/99 and ACP's 03/04/05.
UNKNOWN_RESP_CODES = frozenset({"03", "04", "05", RespCode.DUPLICATE, RespCode.UNKNOWN})


class OrigRespCode(StrEnum):
    """queryOrder's `origRespCode`: the state of the payment itself."""

    PAID = "00"
    REFUNDED = "01"  # 转入退款: paid, and at least one refund exists
    UNPAID = "02"
    CLOSED = "03"
    REVOKED = "04"  # 已撤销: a cancelled bar-code payment
    PAYING = "05"
    FAILED = "06"


TRADE_STATUS: dict[str, TradeStatus] = {
    OrigRespCode.PAID: TradeStatus.PAID,
    OrigRespCode.REFUNDED: TradeStatus.REFUNDED,
    OrigRespCode.UNPAID: TradeStatus.WAITING,
    OrigRespCode.CLOSED: TradeStatus.CLOSED,
    OrigRespCode.REVOKED: TradeStatus.REVERSED,
    OrigRespCode.PAYING: TradeStatus.PAYING,
    OrigRespCode.FAILED: TradeStatus.FAILED,
}


class RefundOrigRespCode(StrEnum):
    """refundQuery's `origRespCode`: the state of the refund."""

    SUCCESS = "00"
    FAILED = "01"
    PROCESSING = "02"


REFUND_STATUS: dict[str, RefundStatus] = {
    RefundOrigRespCode.SUCCESS: RefundStatus.SUCCESS,
    RefundOrigRespCode.FAILED: RefundStatus.FAILED,
    RefundOrigRespCode.PROCESSING: RefundStatus.PROCESSING,
}


class TxnType(StrEnum):
    """Transaction types in the bill, ACP's numbering."""

    CONSUME = "01"
    REFUND = "04"
    CONSUME_CANCEL = "31"  # a cancelled (closeOrder) bar-code payment that had been charged


# ---- messages ----------------------------------------------------------------------------------------


def decode_message(body: bytes) -> dict[str, WireValue]:
    """A 云闪付 JSON message: one object of strings, integers or nulls; ValueError for anything else."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    for name, value in message.items():
        if isinstance(value, bool) or not isinstance(value, str | int | None):
            raise ValueError(f"field {name} is neither a string nor an integer")
    return message


def encode_message(fields: Mapping[str, WireValue]) -> bytes:
    """A message as UTF-8 JSON, null fields left out."""
    return json.dumps({k: v for k, v in fields.items() if v is not None}, ensure_ascii=False).encode("utf-8")


def text_fields(message: Mapping[str, WireValue]) -> dict[str, str]:
    """A message's non-null fields as text, the form every reader below works on."""
    return {name: render(value) for name, value in message.items() if value is not None}


# ---- times and amounts -------------------------------------------------------------------------------


def to_wire_time(moment: datetime) -> str:
    """An aware datetime as Beijing `yyyyMMddHHmmss`."""
    return moment.astimezone(BEIJING).strftime(WIRE_TIME_FORMAT)


def from_wire_time(text: str) -> datetime:
    """Beijing `yyyyMMddHHmmss` as an aware UTC datetime; ValueError if malformed."""
    if len(text) != len("yyyyMMddHHmmss") or not text.isdigit():
        raise ValueError(f"not a yyyyMMddHHmmss time: {text!r}")
    return datetime.strptime(text, WIRE_TIME_FORMAT).replace(tzinfo=BEIJING).astimezone(UTC)


def to_wire_date(day: date) -> str:
    return day.strftime(WIRE_DATE_FORMAT)


def from_wire_date(text: str) -> date:
    """`yyyyMMdd` as a date; ValueError if malformed."""
    if len(text) != len("yyyyMMdd") or not text.isdigit():
        raise ValueError(f"not a yyyyMMdd date: {text!r}")
    return datetime.strptime(text, WIRE_DATE_FORMAT).date()


def parse_fen(value: WireValue) -> int | None:
    """A positive amount in fen from a JSON number or digit string; None when it is not one."""
    if isinstance(value, bool):
        return None
    text = str(value) if isinstance(value, int) else value
    if not text or not text.isdigit() or len(text) > MAX_FEN_DIGITS:
        return None
    fen = int(text)
    return fen if fen > 0 else None


# ---- dynamic QR codes --------------------------------------------------------------------------------


def qr_code_url(token: str) -> str:
    return f"https://{QR_CODE_HOST}/{QR_CODE_ISSUER}/{token}"


def qr_token(url: str) -> str | None:
    """The token at the end of one of our QR URLs, or None if `url` is not shaped like one."""
    prefix = f"https://{QR_CODE_HOST}/"
    if not url.startswith(prefix):
        return None
    parts = url[len(prefix) :].split("/")
    if len(parts) != 2 or len(parts[0]) != len(QR_CODE_ISSUER) or not parts[0].isdigit() or not parts[1]:
        return None
    return parts[1]


# ---- answers to protocol types -----------------------------------------------------------------------


def trade_result(fields: Mapping[str, str]) -> TradeResult:
    """A queryOrder answer or a notification as a TradeResult; ValueError if its state or amount is unreadable."""
    orig = fields.get("origRespCode", "")
    status = TRADE_STATUS.get(orig)
    if status is None:
        raise ValueError(f"unknown origRespCode {orig!r}")
    amount = fields.get("txnAmt")
    amount_fen = parse_fen(amount) if amount else None
    if amount and amount_fen is None:
        raise ValueError(f"bad txnAmt {amount!r}")
    pay_time = fields.get("payTime")
    return TradeResult(
        status=status,
        out_trade_no=fields.get("orderNo", ""),
        channel_trade_no=fields.get("transIndex") or None,
        amount_fen=amount_fen,
        paid_at=from_wire_time(pay_time) if pay_time else None,
        channel_status=orig,
    )


def refund_result(fields: Mapping[str, str], status: RefundStatus) -> RefundResult:
    """A refund or refundQuery answer as a RefundResult; ValueError if the amount is unreadable."""
    refund_fen = parse_fen(fields.get("txnAmt", ""))
    if refund_fen is None:
        raise ValueError(f"bad txnAmt {fields.get('txnAmt')!r}")
    return RefundResult(
        out_refund_no=fields.get("orderNo", ""),
        status=status,
        refund_fen=refund_fen,
        channel_refund_no=fields.get("transIndex") or None,
    )


_FAILURES: dict[str, type[DefiniteFailure]] = {
    RespCode.FORMAT_ERROR: RequestRejected,
    RespCode.SIGNATURE_INVALID: RequestRejected,
    RespCode.FIELD_MISSING: RequestRejected,
    RespCode.MERCHANT_INVALID: RequestRejected,
    RespCode.NO_PERMISSION: RequestRejected,
    RespCode.AMOUNT_OVER_LIMIT: RefundRejected,
    RespCode.NOT_FOUND: OrderNotFound,
    RespCode.ORIGINAL_STATE_WRONG: OrderStateConflict,
    RespCode.ORIGINAL_MISMATCH: OrderStateConflict,
    RespCode.AUTH_CODE_INVALID: AuthCodeInvalid,
    RespCode.AUTH_CODE_EXPIRED: AuthCodeInvalid,
    RespCode.AUTH_CODE_USED: AuthCodeInvalid,
    RespCode.INSUFFICIENT_BALANCE: PaymentDeclined,
    RespCode.FILE_NOT_FOUND: BillNotReady,
}

#: A refund refused because of the original order's state or amounts, the window or the merchant's balance.
_REFUND_FAILURES: dict[str, type[DefiniteFailure]] = {
    RespCode.TRANSACTION_REFUSED: RefundRejected,
    RespCode.ORIGINAL_STATE_WRONG: RefundRejected,
    RespCode.ORIGINAL_MISMATCH: RefundRejected,
    RespCode.OUT_OF_TIME: RefundRejected,
    RespCode.INSUFFICIENT_BALANCE: RefundRejected,
}


def error_for(fields: Mapping[str, str], *, refund: bool = False) -> ChannelError:
    """The typed error for a respCode that is neither success nor "user paying"."""
    code = fields.get("respCode", "")
    message = fields.get("respMsg", "")
    if code in UNKNOWN_RESP_CODES:
        return OutcomeUnknown(code, message)
    if code == RespCode.ORIGINAL_STATE_WRONG and fields.get("origRespCode") in (
        OrigRespCode.PAID,
        OrigRespCode.REFUNDED,
    ):
        return AlreadyPaid(code, message)
    failure = (_REFUND_FAILURES.get(code) if refund else None) or _FAILURES.get(code, DefiniteFailure)
    return failure(code, message)


# ---- the daily bill ----------------------------------------------------------------------------------
#
# Our approximation [P], in the spirit of UnionPay's acquirer reconciliation ("ZM") file: surface B publishes no
# bill. `|`-separated cells under a header line of ZM-style names, `#` lines around them; amounts in fen (12
# digits, zero-padded; a fee or settlement amount may carry a minus sign), times Beijing yyyyMMddHHmmss. A refund
# (04) is its own order (商户订单号 = the refund number) naming its payment in the 原始 columns; a cancelled
# payment is its consume line (01) plus a consume-cancel line (31). docs/bills.md describes every column.

BILL_COLUMNS = (
    "交易代码",
    "系统跟踪号",
    "交易时间",
    "账号",
    "交易金额",
    "商户订单号",
    "原始商户订单号",
    "银联交易号",
    "原始银联交易号",
    "原始交易的系统跟踪号",
    "原始交易日期时间",
    "商户手续费",
    "结算金额",
    "商户代码",
    "终端号",
)
BILL_TITLE = "#云闪付二维码对账文件"
_REQUIRED_BILL_COLUMNS = (
    "交易代码",
    "交易时间",
    "交易金额",
    "商户订单号",
    "原始商户订单号",
    "银联交易号",
    "原始银联交易号",
    "商户手续费",
)
_SIGNED_FEN = re.compile(r"-?\d{1,13}")


@dataclass(frozen=True)
class BillRow:
    """One line of the bill: a consumption, a refund (orderNo = refund number) or a cancelled consumption.

    Refund and cancel lines name the payment they undo in origOrderNo and origTransIndex.
    """

    txn_time: datetime
    txn_type: TxnType
    order_no: str
    trans_index: str
    txn_amt: int
    orig_order_no: str = ""
    orig_trans_index: str = ""
    fee_fen: int = 0  # charged on a consumption, given back on a refund (>= 0)
    account: str = ""  # the payer's account, masked
    orig_txn_time: datetime | None = None
    term_id: str = ""

    @property
    def signed_fee_fen(self) -> int:
        """商户手续费: what the merchant pays on this line, negative when given back."""
        return self.fee_fen if self.txn_type is TxnType.CONSUME else -self.fee_fen

    @property
    def settlement_fen(self) -> int:
        """结算金额: what the line adds to the merchant's settlement."""
        gross = self.txn_amt if self.txn_type is TxnType.CONSUME else -self.txn_amt
        return gross - self.signed_fee_fen


def trace_number(reference: str) -> str:
    """A stable 6-digit 系统跟踪号 for a channel number (ours: UnionPay assigns them per transaction)."""
    return f"{int(hashlib.sha256(reference.encode()).hexdigest(), 16) % 1_000_000:06d}"


def _transmission_time(moment: datetime) -> str:
    """ZM's 10-digit MMDDhhmmss, Beijing time."""
    return moment.astimezone(BEIJING).strftime("%m%d%H%M%S")


def _fen_cell(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen):012d}"


def render_bill(mer_id: str, day: date, rows: Iterable[BillRow]) -> str:
    """The day's file: a title line, the header, one `|` line per row, then the 合计 trailer."""
    rows = list(rows)
    lines = [f"{BILL_TITLE}|{mer_id}|{to_wire_date(day)}", "|".join(BILL_COLUMNS)]
    for row in rows:
        trace_of = row.trans_index + ("/31" if row.txn_type is TxnType.CONSUME_CANCEL else "")
        cells = {
            "交易代码": row.txn_type.value,
            "系统跟踪号": trace_number(trace_of),
            "交易时间": to_wire_time(row.txn_time),
            "账号": row.account,
            "交易金额": f"{row.txn_amt:012d}",
            "商户订单号": row.order_no,
            "原始商户订单号": row.orig_order_no,
            "银联交易号": row.trans_index,
            "原始银联交易号": row.orig_trans_index,
            "原始交易的系统跟踪号": trace_number(row.orig_trans_index) if row.orig_trans_index else "",
            "原始交易日期时间": _transmission_time(row.orig_txn_time) if row.orig_txn_time else "",
            "商户手续费": _fen_cell(row.signed_fee_fen),
            "结算金额": _fen_cell(row.settlement_fen),
            "商户代码": mer_id,
            "终端号": row.term_id,
        }
        lines.append("|".join(cells[name] for name in BILL_COLUMNS))
    amount = sum(row.txn_amt for row in rows)
    fees = sum(row.signed_fee_fen for row in rows)
    settled = sum(row.settlement_fen for row in rows)
    lines.append(f"#合计|{len(rows)}|{_fen_cell(amount)}|{_fen_cell(fees)}|{_fen_cell(settled)}")
    return "\r\n".join(lines) + "\r\n"


def parse_bill(text: str, day: date) -> Bill:
    """The day's entries by column name; a line that cannot be read is a bad line; WireFormatError without a header."""
    numbered = [
        (n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.startswith("#")
    ]
    if not numbered:
        raise WireFormatError("the bill has no header line")
    header = numbered[0][1].split("|")
    rows = [BillFileRow(n, line, [cell.strip() for cell in line.split("|")]) for n, line in numbered[1:]]
    return fold_cancellations(read_bill(day, header, rows, _REQUIRED_BILL_COLUMNS, _bill_entry))


def _bill_entry(line: Mapping[str, str], line_no: int) -> BillEntry:
    txn_type = TxnType(line["交易代码"])
    amount_fen = parse_fen(line["交易金额"])
    if amount_fen is None:
        raise ValueError(f"bad 交易金额 {line['交易金额']!r}")
    if not _SIGNED_FEN.fullmatch(line["商户手续费"]):
        raise ValueError(f"bad 商户手续费 {line['商户手续费']!r}")
    fee_fen = abs(int(line["商户手续费"]))
    at = from_wire_time(line["交易时间"])
    if txn_type is TxnType.CONSUME:
        return BillEntry(
            PAYMENT, line["商户订单号"], line["银联交易号"], amount_fen, fee_fen, SUCCESS, at, line_no=line_no
        )
    out_trade_no, trade_no = line["原始商户订单号"], line["原始银联交易号"]
    if not out_trade_no or not trade_no:
        raise ValueError(f"a {txn_type.value} line must name its original order and transaction")
    if txn_type is TxnType.CONSUME_CANCEL:
        return BillEntry(CANCEL, out_trade_no, trade_no, amount_fen, 0, REVOKED, at, line_no=line_no)
    return BillEntry(
        REFUND,
        out_trade_no,
        trade_no,
        amount_fen,
        fee_fen,
        SUCCESS,
        at,
        out_refund_no=line["商户订单号"],
        channel_refund_no=line["银联交易号"],
        line_no=line_no,
    )
