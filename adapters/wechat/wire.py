"""WeChat Pay APIv2 wire formats: CDATA XML, Beijing times, err_codes, the daily bill, and their protocol types."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree

from adapters.protocol import (
    AlreadyPaid,
    AuthCodeInvalid,
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
)

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
SUCCESS = "SUCCESS"
FAIL = "FAIL"
WIRE_TIME_FORMAT = "%Y%m%d%H%M%S"
BILL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
BILL_DATE_FORMAT = "%Y%m%d"
NO_BILL_MESSAGE = "No Bill Exist"

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FEN = re.compile(r"[0-9]{1,12}")


class WireFormatError(ValueError):
    """A body or field that is not what the protocol says it is."""


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
FEE_RATE_PER_MILLE = 6  # the common 0.6% rate


@dataclass(frozen=True)
class BillLine:
    """One row of a bill: a payment (trade_state SUCCESS) or money given back (REFUND, REVOKED)."""

    at: datetime
    appid: str
    mch_id: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    trade_state: str
    paid_fen: int = 0
    refund_fen: int = 0
    refund_id: str = ""
    out_refund_no: str = ""
    body: str = ""

    @property
    def fee_fen(self) -> int:
        """The merchant's fee; a refund gives its share back (round half up, as fen)."""
        return (self.paid_fen * FEE_RATE_PER_MILLE + 500) // 1000 - (self.refund_fen * FEE_RATE_PER_MILLE + 500) // 1000

    def cells(self) -> tuple[str, ...]:
        refund = bool(self.refund_fen)
        return (
            self.at.astimezone(BEIJING).strftime(BILL_TIME_FORMAT),
            self.appid,
            self.mch_id,
            "0",
            "",
            self.transaction_id,
            self.out_trade_no,
            self.openid,
            self.trade_type,
            self.trade_state,
            "OTHERS",
            "CNY",
            fen_to_yuan(self.paid_fen),
            "0.00",
            self.refund_id,
            self.out_refund_no,
            fen_to_yuan(self.refund_fen),
            "0.00",
            "ORIGINAL" if refund else "",
            "SUCCESS" if refund else "",
            self.body,
            "",
            fen_to_yuan(self.fee_fen),
            "0.60%",
            fen_to_yuan(self.paid_fen),
            fen_to_yuan(self.refund_fen),
            "",
        )


def render_bill(lines: Sequence[BillLine]) -> str:
    """WeChat's bill text: a header, one backquote-prefixed row per line, then the summary header and row."""
    summary = (
        str(len(lines)),
        fen_to_yuan(sum(line.paid_fen for line in lines)),
        fen_to_yuan(sum(line.refund_fen for line in lines)),
        "0.00",
        fen_to_yuan(sum(line.fee_fen for line in lines)),
        fen_to_yuan(sum(line.paid_fen for line in lines)),
        fen_to_yuan(sum(line.refund_fen for line in lines)),
    )
    rows = [",".join(BILL_COLUMNS)]
    rows += [_bill_row(line.cells()) for line in lines]
    rows += [",".join(BILL_SUMMARY_COLUMNS), _bill_row(summary)]
    return "\r\n".join(rows) + "\r\n"


def _bill_row(cells: Sequence[str]) -> str:
    # The backquote keeps spreadsheets from reading long order numbers as numbers.
    return ",".join("`" + cell for cell in cells)


def parse_bill(text: str) -> list[BillEntry]:
    """Payments and refunds of a bill; columns are found by name, so added columns do no harm."""
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines:
        raise WireFormatError("empty bill")
    header = lines[0].split(",")
    try:
        column = {name: header.index(name) for name in ("交易时间", "微信订单号", "商户订单号", "交易状态")}
        column["退款金额"] = header.index("退款金额")
        column["商户退款单号"] = header.index("商户退款单号")
        column["订单金额"] = header.index("订单金额" if "订单金额" in header else "应结订单金额")
    except ValueError as exc:
        raise WireFormatError(f"bill header lacks a column: {exc}") from exc
    entries = []
    for line in lines[1:]:
        if line.startswith(BILL_SUMMARY_COLUMNS[0]):
            break
        cells = line.removeprefix("`").split(",`")
        if len(cells) != len(header):
            raise WireFormatError(f"bill row has {len(cells)} cells, header has {len(header)}")
        entry = _bill_entry({name: cells[index] for name, index in column.items()})
        if entry is not None:
            entries.append(entry)
    return entries


def _bill_entry(row: Mapping[str, str]) -> BillEntry | None:
    state = row["交易状态"]
    at = _beijing_to_utc(row["交易时间"], BILL_TIME_FORMAT)
    if state == "SUCCESS":
        return BillEntry("payment", row["商户订单号"], row["微信订单号"], yuan_to_fen(row["订单金额"]), at)
    if state in ("REFUND", "REVOKED"):
        return BillEntry(
            "refund",
            row["商户订单号"],
            row["微信订单号"],
            yuan_to_fen(row["退款金额"]),
            at,
            out_refund_no=row["商户退款单号"] or None,
        )
    return None


def bill_date(day: date) -> str:
    return day.strftime(BILL_DATE_FORMAT)


def ack_xml(accepted: bool, message: str = "") -> bytes:
    """The answer to a notification: exactly SUCCESS/OK when it was taken."""
    return encode_xml(
        {"return_code": SUCCESS if accepted else FAIL, "return_msg": message or ("OK" if accepted else FAIL)}
    )
