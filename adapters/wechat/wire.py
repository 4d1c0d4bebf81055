"""WeChat Pay APIv2 wire formats: CDATA XML, Beijing times, err_codes, the daily bill, and their protocol types."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree

from adapters.billparse import PAYMENT, REFUND, BillRow, positive, read_bill
from adapters.billparse import yuan_to_fen as bill_yuan_to_fen
from adapters.protocol import (
    AlreadyPaid,
    AuthCodeInvalid,
    Bill,
    BillEntry,
    ChannelError,
    OrderNotFound,
    OrderStateConflict,
    OutcomeUnknown,
    PaymentDeclined,
    RefundRejected,
    RefundStatus,
    RequestRejected,
    TradeResult,
    TradeStatus,
    WireFormatError,
)
from adapters.simcore.fees import rate_percent

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
SUCCESS = "SUCCESS"
FAIL = "FAIL"
WIRE_TIME_FORMAT = "%Y%m%d%H%M%S"
BILL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
BILL_DATE_FORMAT = "%Y%m%d"
NO_BILL_MESSAGE = "No Bill Exist"
NO_BILL_ERROR_CODE = "20002"

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FEN = re.compile(r"[0-9]{1,12}")


class NotUtf8Error(WireFormatError):
    """A body that is not UTF-8 (WeChat's NOT_UTF8)."""


# ---- XML ------------------------------------------------------------------------------------------------


def encode_xml(fields: Mapping[str, str], root: str = "xml") -> bytes:
    """`<xml>` (or `root`) with one element per field: digits bare, everything else in CDATA, as WeChat writes it."""
    parts = [f"<{root}>"]
    for name, value in fields.items():
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"not an XML field name: {name!r}")
        parts.append(f"<{name}>{_xml_text(value)}</{name}>")
    parts.append(f"</{root}>")
    return "".join(parts).encode("utf-8")


def _xml_text(value: str) -> str:
    if value.isdigit() and value.isascii():
        return value
    # "]]>" cannot appear inside one CDATA section, so it is split across two.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def decode_xml(body: bytes, root_tag: str = "xml") -> dict[str, str]:
    """The flat fields of an `<xml>` (or `root_tag`) document; entities and DTDs are refused, unknown fields kept."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8Error("body is not UTF-8") from exc
    try:
        root = defusedxml.ElementTree.fromstring(body)
    except (ParseError, defusedxml.DefusedXmlException) as exc:
        raise WireFormatError(f"not well-formed XML: {exc}") from exc
    if root.tag != root_tag:
        raise WireFormatError(f"root element is <{root.tag}>, not <{root_tag}>")
    fields: dict[str, str] = {}
    for child in root:
        if child.tag in fields:
            raise WireFormatError(f"field {child.tag} appears twice")
        fields[child.tag] = child.text or ""
    return fields


# ---- values -----------------------------------------------------------------------------------------------


def to_wire_time(moment: datetime) -> str:
    """`yyyyMMddHHmmss` in Beijing time."""
    return moment.astimezone(BEIJING).strftime(WIRE_TIME_FORMAT)


def from_wire_time(text: str) -> datetime:
    """An aware UTC datetime from `yyyyMMddHHmmss` in Beijing time."""
    return _beijing_to_utc(text, WIRE_TIME_FORMAT)


def _beijing_to_utc(text: str, layout: str) -> datetime:
    try:
        return datetime.strptime(text, layout).replace(tzinfo=BEIJING).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # year 1 in Beijing is before datetime's first UTC moment
        raise WireFormatError(f"not a time in {layout}: {text!r}") from exc


def parse_fen(text: str | None, name: str) -> int:
    """A money field: a positive integer number of fen."""
    if text is None or not _FEN.fullmatch(text) or int(text) <= 0:
        raise WireFormatError(f"{name} must be a positive integer number of fen, got {text!r}")
    return int(text)


def fen_to_yuan(fen: int) -> str:
    """The bill's yuan amount with two decimals (the only place WeChat money is in yuan)."""
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def yuan_to_fen(text: str) -> int:
    try:
        yuan = Decimal(text)
    except InvalidOperation as exc:
        raise WireFormatError(f"not a yuan amount: {text!r}") from exc
    fen = yuan * 100
    if not fen.is_finite() or fen != fen.to_integral_value():
        raise WireFormatError(f"yuan amount has more than two decimals: {text!r}")
    return int(fen)


# ---- trades and refunds -------------------------------------------------------------------------------------

TRADE_STATUS_FOR_STATE: dict[str, TradeStatus] = {
    "SUCCESS": TradeStatus.PAID,
    "REFUND": TradeStatus.REFUNDED,
    "NOTPAY": TradeStatus.WAITING,
    "CLOSED": TradeStatus.CLOSED,
    "REVOKED": TradeStatus.REVERSED,
    "USERPAYING": TradeStatus.PAYING,
    "ACCEPT": TradeStatus.PAYING,
    "PAYERROR": TradeStatus.FAILED,
}

REFUND_STATUS_FOR_STATE: dict[str, RefundStatus] = {
    "SUCCESS": RefundStatus.SUCCESS,
    "PROCESSING": RefundStatus.PROCESSING,
    "REFUNDCLOSE": RefundStatus.FAILED,
    "CHANGE": RefundStatus.FAILED,  # the refund bounced (e.g. closed card) and needs manual handling
}


def trade_result(fields: Mapping[str, str], channel_status: str) -> TradeResult:
    """A trade as a micropay answer, an order query or a notification describes it."""
    status = TRADE_STATUS_FOR_STATE.get(channel_status, TradeStatus.PAYING)  # unknown words stay pending
    total_fee = fields.get("total_fee")
    time_end = fields.get("time_end")
    return TradeResult(
        status=status,
        out_trade_no=fields.get("out_trade_no", ""),
        channel_trade_no=fields.get("transaction_id") or None,
        amount_fen=parse_fen(total_fee, "total_fee") if total_fee else None,
        paid_at=from_wire_time(time_end) if time_end else None,
        payer_id=fields.get("openid") or None,
        channel_status=channel_status,
    )


def refund_index(fields: Mapping[str, str], out_refund_no: str) -> int | None:
    """The `$n` of a refund in a refund-query answer, by its out_refund_no."""
    try:
        count = int(fields.get("refund_count", "0"))
    except ValueError as exc:
        raise WireFormatError("refund_count is not a number") from exc
    return next((n for n in range(count) if fields.get(f"out_refund_no_{n}") == out_refund_no), None)


def refund_status(text: str) -> RefundStatus:
    # An unknown word is still in flight as far as we can tell.
    return REFUND_STATUS_FOR_STATE.get(text, RefundStatus.PROCESSING)


# ---- errors -------------------------------------------------------------------------------------------------

_REQUEST_ERRORS = (
    "PARAM_ERROR",
    "LACK_PARAMS",
    "SIGNERROR",
    "XML_FORMAT_ERROR",
    "NOAUTH",
    "APPID_NOT_EXIST",
    "MCHID_NOT_EXIST",
    "APPID_MCHID_NOT_MATCH",
    "NOT_UTF8",
    "REQUIRE_POST_METHOD",
    "POST_DATA_EMPTY",
    "INVALID_REQUEST",
    "INVALID_TRANSACTIONID",
    "TRADE_ERROR",
)

ERROR_TYPES: dict[str, type[ChannelError]] = {
    **dict.fromkeys(_REQUEST_ERRORS, RequestRejected),
    **dict.fromkeys(("SYSTEMERROR", "BANKERROR", "USERPAYING", "BIZERR_NEED_RETRY"), OutcomeUnknown),
    **dict.fromkeys(("FREQUENCY_LIMITED", "INVALID_REQ_TOO_MUCH"), OutcomeUnknown),
    **dict.fromkeys(("AUTHCODEEXPIRE", "AUTH_CODE_ERROR", "AUTH_CODE_INVALID"), AuthCodeInvalid),
    **dict.fromkeys(("NOTENOUGH", "NOTSUPORTCARD", "BUYER_MISMATCH"), PaymentDeclined),
    "ORDERPAID": AlreadyPaid,
    **dict.fromkeys(("ORDERCLOSED", "ORDERREVERSED", "OUT_TRADE_NO_USED", "REVERSE_EXPIRE"), OrderStateConflict),
    **dict.fromkeys(("ORDERNOTEXIST", "REFUNDNOTEXIST"), OrderNotFound),
    **dict.fromkeys(("TRADE_OVERDUE", "REFUND_FEE_MISMATCH", "ERROR", "USER_ACCOUNT_ABNORMAL"), RefundRejected),
}

#: On a refund, NOTENOUGH is the merchant's balance, not the customer's.
REFUND_ERROR_TYPES: dict[str, type[ChannelError]] = {**ERROR_TYPES, "NOTENOUGH": RefundRejected}


def error_for(err_code: str, err_code_des: str, types: Mapping[str, type[ChannelError]] = ERROR_TYPES) -> ChannelError:
    """The typed error for a result_code=FAIL answer; a code we do not know leaves the outcome unknown."""
    return types.get(err_code, OutcomeUnknown)(err_code or "FAIL", err_code_des)


# ---- the daily bill --------------------------------------------------------------------------------------------

BILL_COLUMNS = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
BILL_SUMMARY_COLUMNS = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)
_REFUND_COLUMNS = ("微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "申请退款金额")
_REFUND_TOTALS = ("退款总金额", "充值券退款总金额", "申请退款总金额")
_REFUND_TIMES = ("退款申请时间", "退款成功时间")  # the REFUND bill's extra columns, after 代金券金额


class BillType(StrEnum):
    """`bill_type`: every line, successful payments only (no refund columns), or refunds only (two more times)."""

    ALL = "ALL"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"

    def columns(self) -> tuple[str, ...]:
        if self is BillType.SUCCESS:
            return tuple(name for name in BILL_COLUMNS if name not in _REFUND_COLUMNS)
        if self is BillType.REFUND:
            cut = BILL_COLUMNS.index("代金券金额") + 1
            return (*BILL_COLUMNS[:cut], *_REFUND_TIMES, *BILL_COLUMNS[cut:])
        return BILL_COLUMNS

    def summary_columns(self) -> tuple[str, ...]:
        if self is BillType.SUCCESS:
            return tuple(name for name in BILL_SUMMARY_COLUMNS if name not in _REFUND_TOTALS)
        return BILL_SUMMARY_COLUMNS


@dataclass(frozen=True)
class BillLine:
    """One row of a bill: a payment (交易状态 SUCCESS, or REVOKED when reversed) or a refund (REFUND)."""

    at: datetime  # payment: paid; refund: finished
    appid: str
    mch_id: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    trade_state: str
    amount_fen: int  # the payment's amount, or the refund's
    fee_fen: int  # charged on the payment, or given back on the refund (>= 0)
    rate_bp: int
    refund_id: str = ""
    out_refund_no: str = ""
    body: str = ""
    refund_requested_at: datetime | None = None

    @property
    def is_refund(self) -> bool:
        return self.trade_state == "REFUND"

    @property
    def paid_fen(self) -> int:
        return 0 if self.is_refund else self.amount_fen

    @property
    def refund_fen(self) -> int:
        return self.amount_fen if self.is_refund else 0

    @property
    def signed_fee_fen(self) -> int:
        """The fee as the bill shows it: a refund's fee given back is negative."""
        return -self.fee_fen if self.is_refund else self.fee_fen

    def cells(self) -> dict[str, str]:
        refund = self.is_refund
        requested = self.refund_requested_at or self.at
        return {
            "交易时间": _bill_time_text(self.at),
            "公众账号ID": self.appid,
            "商户号": self.mch_id,
            "特约商户号": "0",
            "设备号": "",
            "微信订单号": self.transaction_id,
            "商户订单号": self.out_trade_no,
            "用户标识": self.openid,
            "交易类型": self.trade_type,
            "交易状态": self.trade_state,
            "付款银行": "OTHERS",
            "货币种类": "CNY",
            "应结订单金额": fen_to_yuan(self.paid_fen),
            "代金券金额": "0.00",
            "退款申请时间": _bill_time_text(requested) if refund else "",
            "退款成功时间": _bill_time_text(self.at) if refund else "",
            "微信退款单号": self.refund_id,
            "商户退款单号": self.out_refund_no,
            "退款金额": fen_to_yuan(self.refund_fen),
            "充值券退款金额": "0.00",
            "退款类型": "ORIGINAL" if refund else "",
            "退款状态": "SUCCESS" if refund else "",
            "商品名称": self.body,
            "商户数据包": "",
            "手续费": fee_text(self.signed_fee_fen),
            "费率": rate_percent(self.rate_bp),
            "订单金额": fen_to_yuan(self.paid_fen),
            "申请退款金额": fen_to_yuan(self.refund_fen),
            "费率备注": "",
        }


def fee_text(fen: int) -> str:
    """A fee in yuan with WeChat's five decimals: 6 -> `0.06000`, -2 -> `-0.02000`."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}000"


def _bill_time_text(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(BILL_TIME_FORMAT)


def render_bill(lines: Sequence[BillLine], bill_type: BillType = BillType.ALL) -> str:
    """WeChat's bill text: a header, one backtick-prefixed row per line, then the summary header and row."""
    totals = {
        "总交易单数": str(len(lines)),
        "应结订单总金额": fen_to_yuan(sum(line.paid_fen for line in lines)),
        "退款总金额": fen_to_yuan(sum(line.refund_fen for line in lines)),
        "充值券退款总金额": "0.00",
        "手续费总金额": fee_text(sum(line.signed_fee_fen for line in lines)),
        "订单总金额": fen_to_yuan(sum(line.paid_fen for line in lines)),
        "申请退款总金额": fen_to_yuan(sum(line.refund_fen for line in lines)),
    }
    columns, summary = bill_type.columns(), bill_type.summary_columns()
    rows = [",".join(columns)]
    rows += [_bill_row([line.cells()[name] for name in columns]) for line in lines]
    rows += [",".join(summary), _bill_row([totals[name] for name in summary])]
    return "\r\n".join(rows) + "\r\n"


def _bill_row(cells: Sequence[str]) -> str:
    # The backtick keeps spreadsheets from reading long order numbers as numbers.
    return ",".join("`" + cell for cell in cells)


def parse_bill(text: str, day: date) -> Bill:
    """A bill's payments and refunds, its columns found by name; a line that cannot be read is a bad line.

    A refund that has not finished (退款状态 other than SUCCESS) moved no money yet and is left out.
    """
    lines = text.removeprefix("\ufeff").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise WireFormatError("empty bill")
    header = numbered[0][1].split(",")
    rows = []
    for line_no, line in numbered[1:]:
        cells = [cell.removeprefix("`") for cell in line.split(",")]
        if cells[0].strip() == BILL_SUMMARY_COLUMNS[0]:
            break  # the summary header: what follows are the day's totals
        rows.append(BillRow(line_no, line, cells))
    names = [name.strip() for name in header]
    amount = "订单金额" if "订单金额" in names else "应结订单金额"
    required = ("交易时间", "微信订单号", "商户订单号", "交易状态", "手续费", amount)
    return read_bill(day, header, rows, required, lambda row, n: _bill_entry(row, n, amount))


def _bill_entry(row: Mapping[str, str], line_no: int, amount_column: str) -> BillEntry | None:
    state = row["交易状态"].strip()
    at = _beijing_to_utc(row["交易时间"].strip(), BILL_TIME_FORMAT)
    fee = abs(bill_yuan_to_fen(row["手续费"], "手续费"))
    trade_no, out_trade_no = row["微信订单号"].strip(), row["商户订单号"].strip()
    if state in ("SUCCESS", "REVOKED"):
        amount = positive(bill_yuan_to_fen(row[amount_column], amount_column), amount_column)
        return BillEntry(PAYMENT, out_trade_no, trade_no, amount, fee, state, at, line_no=line_no)
    if state == "REFUND":
        if row.get("退款状态", "SUCCESS").strip() not in ("SUCCESS", ""):
            return None
        refund_fen = positive(bill_yuan_to_fen(row.get("退款金额") or row["申请退款金额"], "退款金额"), "退款金额")
        return BillEntry(
            REFUND,
            out_trade_no,
            trade_no,
            refund_fen,
            fee,
            "SUCCESS",
            at,
            out_refund_no=row.get("商户退款单号", "").strip() or None,
            channel_refund_no=row.get("微信退款单号", "").strip() or None,
            line_no=line_no,
        )
    raise ValueError(f"unknown 交易状态 {state!r}")


def bill_date(day: date) -> str:
    return day.strftime(BILL_DATE_FORMAT)


def ack_xml(accepted: bool, message: str = "") -> bytes:
    """The answer to a notification: exactly SUCCESS/OK when it was taken."""
    return encode_xml(
        {"return_code": SUCCESS if accepted else FAIL, "return_msg": message or ("OK" if accepted else FAIL)}
    )
