"""Alipay's wire formats: yuan amounts, Beijing times, form bodies, signed JSON envelopes, codes and the trade bill.

The only module where money changes unit (int fen <-> yuan strings, integer arithmetic only) and where
Beijing wall-clock times become aware UTC datetimes.
"""

# Alipay's own texts (bill columns, messages) use full-width punctuation; they must stay byte-exact.
# ruff: noqa: RUF001

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode

from adapters.alipay.signing import RSA2, Rsa2Signer
from adapters.billparse import (
    CANCEL,
    PAYMENT,
    REFUND,
    REVOKED,
    SUCCESS,
    BillRow,
    fold_cancellations,
    positive,
    read_bill,
)
from adapters.billparse import yuan_to_fen as bill_yuan_to_fen
from adapters.protocol import (
    AlreadyPaid,
    AuthCodeInvalid,
    Bill,
    BillEntry,
    BillNotReady,
    ChannelError,
    ChannelUnavailable,
    DefiniteFailure,
    OrderNotFound,
    OrderStateConflict,
    OutcomeUnknown,
    PaymentDeclined,
    RefundRejected,
    RequestRejected,
    TradeResult,
    TradeStatus,
    WireFormatError,
)

GATEWAY_PATH = "/gateway.do"
BILL_PATH = "/downloadBillFile.resource"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=utf-8"
QR_CODE_PREFIX = "https://qr.alipay.com/"
AUTH_CODE_PATTERN = re.compile(r"(2[5-9]|30)\d{14,22}")  # an Alipay payment code: 16-24 digits, 25-30 first

# ---- money -------------------------------------------------------------------------------------------

MIN_FEN = 1  # 0.01 yuan
MAX_FEN = 100_000_000 * 100  # 100000000.00 yuan
ZERO_YUAN = "0.00"  # what Alipay writes for amounts that did not move (point_amount, unpaid receipts)
_YUAN = re.compile(r"(0|[1-9]\d{0,11})(?:\.(\d{1,2}))?")


def fen_to_yuan(fen: int) -> str:
    """`1234` -> `"12.34"`; raises ValueError outside Alipay's range [0.01, 100000000]."""
    if not MIN_FEN <= fen <= MAX_FEN:
        raise ValueError(f"amount {fen} fen is outside [{MIN_FEN}, {MAX_FEN}]")
    return _yuan_text(fen)


def _yuan_text(fen: int) -> str:
    """Any fen amount as a yuan string, negative ones with a leading minus (bills show refunds that way)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def yuan_to_fen(text: str) -> int:
    """`"12.34"` (or `"12.3"`, `"12"`) -> `1234`; raises ValueError for anything else (signs, exponents, 3 decimals)."""
    match = _YUAN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a yuan amount: {text!r}")
    whole, cents = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(cents)


# ---- time --------------------------------------------------------------------------------------------

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
WIRE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_wire_time(at: datetime) -> str:
    """An aware datetime as Alipay's Beijing `yyyy-MM-dd HH:mm:ss`."""
    return at.astimezone(BEIJING).strftime(WIRE_TIME_FORMAT)


def from_wire_time(text: str) -> datetime:
    """Alipay's Beijing `yyyy-MM-dd HH:mm:ss` as an aware UTC datetime; raises ValueError."""
    return datetime.strptime(text, WIRE_TIME_FORMAT).replace(tzinfo=BEIJING).astimezone(UTC)


def beijing_today() -> date:
    return datetime.now(BEIJING).date()


# ---- form bodies -------------------------------------------------------------------------------------


def decode_form(raw: bytes) -> dict[str, str]:
    """A UTF-8 form-urlencoded body (or query string) as a dict; raises ValueError when it is not UTF-8."""
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict"))


def encode_form(params: Mapping[str, str]) -> bytes:
    return urlencode(params).encode("ascii")


def compact_json(value: Any) -> str:
    """JSON as Alipay writes it: no spaces, UTF-8 characters as they are."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def request_params(app_id: str, method: str, biz_content: Mapping[str, Any], notify_url: str | None) -> dict[str, str]:
    """The unsigned common parameters of one gateway call."""
    params = {
        "app_id": app_id,
        "method": method,
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": RSA2,
        "timestamp": to_wire_time(datetime.now(UTC)),
        "version": "1.0",
        "biz_content": compact_json(biz_content),
    }
    if notify_url:
        params["notify_url"] = notify_url
    return params


# ---- codes -------------------------------------------------------------------------------------------


class Code(StrEnum):
    """Gateway result codes."""

    SUCCESS = "10000"
    PAYING = "10003"  # trade.pay only: created, waiting for the buyer's password
    UNKNOWN = "20000"
    INVALID_AUTH_TOKEN = "20001"  # noqa: S105 (a result code, not a secret)
    MISSING_ARGUMENT = "40001"
    INVALID_ARGUMENT = "40002"
    BUSINESS_FAILED = "40004"
    NO_PERMISSION = "40006"


CODE_MESSAGES = {
    Code.SUCCESS: "Success",
    Code.PAYING: "order success pay inprocess",
    Code.UNKNOWN: "Service Currently Unavailable",
    Code.INVALID_AUTH_TOKEN: "Insufficient Token Permissions",
    Code.MISSING_ARGUMENT: "Missing Required Arguments",
    Code.INVALID_ARGUMENT: "Invalid Arguments",
    Code.BUSINESS_FAILED: "Business Failed",
    Code.NO_PERMISSION: "Insufficient Permissions",
}

#: Codes the gateway answers before it knows the caller: it may not sign them.
GATEWAY_REJECTIONS = frozenset(
    {Code.INVALID_AUTH_TOKEN, Code.MISSING_ARGUMENT, Code.INVALID_ARGUMENT, Code.NO_PERMISSION}
)


class SubCode(StrEnum):
    """The `sub_code` values the simulator sends and the adapter understands."""

    UNKNOW_ERROR = "isp.unknow-error"  # sic: Alipay's spelling
    MISSING_METHOD = "isv.missing-method"
    MISSING_APP_ID = "isv.missing-app-id"
    MISSING_SIGNATURE = "isv.missing-signature"
    MISSING_SIGNATURE_TYPE = "isv.missing-signature-type"
    MISSING_TIMESTAMP = "isv.missing-timestamp"
    MISSING_VERSION = "isv.missing-version"
    INVALID_METHOD = "isv.invalid-method"
    INVALID_APP_ID = "isv.invalid-app-id"
    INVALID_SIGNATURE = "isv.invalid-signature"
    INVALID_SIGNATURE_TYPE = "isv.invalid-signature-type"
    INVALID_TIMESTAMP = "isv.invalid-timestamp"
    INVALID_CHARSET = "isv.invalid-charset"
    INVALID_FORMAT = "isv.invalid-format"
    BILL_NOT_EXIST = "isp.bill_not_exist"
    SYSTEM_ERROR = "ACQ.SYSTEM_ERROR"
    INVALID_PARAMETER = "ACQ.INVALID_PARAMETER"
    TOTAL_FEE_EXCEED = "ACQ.TOTAL_FEE_EXCEED"
    PAYMENT_AUTH_CODE_INVALID = "ACQ.PAYMENT_AUTH_CODE_INVALID"
    AUTH_CODE_INVALID_OR_EXPIRE = "ACQ.AUTH_CODE_INVALID_OR_EXPIRE"
    TRADE_HAS_SUCCESS = "ACQ.TRADE_HAS_SUCCESS"
    TRADE_HAS_CLOSE = "ACQ.TRADE_HAS_CLOSE"
    CONTEXT_INCONSISTENT = "ACQ.CONTEXT_INCONSISTENT"
    TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
    TRADE_STATUS_ERROR = "ACQ.TRADE_STATUS_ERROR"
    BUYER_BALANCE_NOT_ENOUGH = "ACQ.BUYER_BALANCE_NOT_ENOUGH"
    BUYER_BANKCARD_BALANCE_NOT_ENOUGH = "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH"
    ERROR_BALANCE_PAYMENT_DISABLE = "ACQ.ERROR_BALANCE_PAYMENT_DISABLE"
    NO_PAYMENT_INSTRUMENTS_AVAILABLE = "ACQ.NO_PAYMENT_INSTRUMENTS_AVAILABLE"
    BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR = "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR"
    BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR = "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR"
    BEYOND_PAY_RESTRICTION = "ACQ.BEYOND_PAY_RESTRICTION"
    BEYOND_PER_RECEIPT_RESTRICTION = "ACQ.BEYOND_PER_RECEIPT_RESTRICTION"
    PAYMENT_REQUEST_HAS_RISK = "ACQ.PAYMENT_REQUEST_HAS_RISK"
    BUYER_ENABLE_STATUS_FORBID = "ACQ.BUYER_ENABLE_STATUS_FORBID"
    PAYMENT_FAIL = "ACQ.PAYMENT_FAIL"
    BUYER_SELLER_EQUAL = "ACQ.BUYER_SELLER_EQUAL"
    TRADE_BUYER_NOT_MATCH = "ACQ.TRADE_BUYER_NOT_MATCH"
    ACCESS_FORBIDDEN = "ACQ.ACCESS_FORBIDDEN"
    EXIST_FORBIDDEN_WORD = "ACQ.EXIST_FORBIDDEN_WORD"
    INVALID_STORE_ID = "ACQ.INVALID_STORE_ID"
    REFUND_AMT_NOT_EQUAL_TOTAL = "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    REASON_TRADE_REFUND_FEE_ERR = "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    TRADE_NOT_ALLOW_REFUND = "ACQ.TRADE_NOT_ALLOW_REFUND"
    SELLER_BALANCE_NOT_ENOUGH = "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    DISCORDANT_REPEAT_REQUEST = "ACQ.DISCORDANT_REPEAT_REQUEST"  # an out_request_no reused with another amount
    REASON_TRADE_BEEN_FREEZEN = "ACQ.REASON_TRADE_BEEN_FREEZEN"  # Alipay's spelling


SUB_MESSAGES = {
    SubCode.UNKNOW_ERROR: "系统繁忙",
    SubCode.MISSING_METHOD: "缺少方法名参数",
    SubCode.MISSING_APP_ID: "缺少AppID参数",
    SubCode.MISSING_SIGNATURE: "缺少签名参数",
    SubCode.MISSING_SIGNATURE_TYPE: "缺少签名类型参数",
    SubCode.MISSING_TIMESTAMP: "缺少时间戳参数",
    SubCode.MISSING_VERSION: "缺少版本参数",
    SubCode.INVALID_METHOD: "不存在的方法名",
    SubCode.INVALID_APP_ID: "无效的AppID参数",
    SubCode.INVALID_SIGNATURE: "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配",
    SubCode.INVALID_SIGNATURE_TYPE: "无效的签名类型",
    SubCode.INVALID_TIMESTAMP: "非法的时间戳参数",
    SubCode.INVALID_CHARSET: "字符集错误",
    SubCode.INVALID_FORMAT: "参数格式错误",
    SubCode.BILL_NOT_EXIST: "账单不存在",
    SubCode.SYSTEM_ERROR: "系统错误",
    SubCode.INVALID_PARAMETER: "参数无效",
    SubCode.TOTAL_FEE_EXCEED: "订单金额超过限额",
    SubCode.PAYMENT_AUTH_CODE_INVALID: "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款",
    SubCode.TRADE_HAS_SUCCESS: "交易已被支付",
    SubCode.TRADE_HAS_CLOSE: "交易已经关闭",
    SubCode.CONTEXT_INCONSISTENT: "交易信息被篡改",
    SubCode.TRADE_NOT_EXIST: "交易不存在",
    SubCode.TRADE_STATUS_ERROR: "交易状态不合法",
    SubCode.BUYER_BALANCE_NOT_ENOUGH: "买家余额不足",
    SubCode.REFUND_AMT_NOT_EQUAL_TOTAL: "退款金额超限",
    SubCode.REASON_TRADE_REFUND_FEE_ERR: "退款金额无效",
    SubCode.TRADE_NOT_ALLOW_REFUND: "当前交易不允许退款",
    SubCode.SELLER_BALANCE_NOT_ENOUGH: "卖家余额不足",
    SubCode.DISCORDANT_REPEAT_REQUEST: "不一致的请求",
    SubCode.REASON_TRADE_BEEN_FREEZEN: "请求退款的交易被冻结",
}


def answer(code: Code, sub_code: SubCode | None = None, /, **fields: Any) -> dict[str, Any]:
    """A response object in Alipay's member order: code, msg, sub_code, sub_msg, then the business fields."""
    body: dict[str, Any] = {"code": code.value, "msg": CODE_MESSAGES[code]}
    if sub_code is not None:
        body["sub_code"] = sub_code.value
        body["sub_msg"] = SUB_MESSAGES.get(sub_code, sub_code.value)
    body.update(fields)
    return body


class WireTradeStatus(StrEnum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    TRADE_FINISHED = "TRADE_FINISHED"
    TRADE_CLOSED = "TRADE_CLOSED"


REFUND_SUCCESS = "REFUND_SUCCESS"
NOTIFY_TYPE = "trade_status_sync"

# ---- response envelopes ------------------------------------------------------------------------------

ERROR_RESPONSE_KEY = "error_response"


def response_key(method: str) -> str:
    """`alipay.trade.pay` -> `alipay_trade_pay_response`."""
    return method.replace(".", "_") + "_response"


def render_response(key: str, body: Mapping[str, Any], signer: Rsa2Signer | None) -> bytes:
    """`{"<key>":{...},"sign":"..."}`; the sign covers exactly the bytes of the inner object as sent."""
    content = compact_json(body)
    signature = f',"sign":"{signer.sign(content)}"' if signer is not None else ""
    return f'{{"{key}":{content}{signature}}}'.encode()


@dataclass(frozen=True)
class Envelope:
    """One parsed gateway answer: which member carried it, its fields, and the raw text its sign covers."""

    key: str
    body: dict[str, Any]
    signed_text: str
    sign: str | None


def parse_envelope(text: str, method: str) -> Envelope:
    """The method's `_response` (or `error_response`) of a gateway answer; raises ValueError if malformed."""
    members = raw_members(text)
    key = response_key(method) if response_key(method) in members else ERROR_RESPONSE_KEY
    if key not in members:
        raise ValueError(f"neither {response_key(method)} nor {ERROR_RESPONSE_KEY} in the answer")
    body = json.loads(members[key])
    sign = json.loads(members["sign"]) if "sign" in members else None
    if not isinstance(body, dict) or not (sign is None or isinstance(sign, str)):
        raise ValueError("malformed answer")
    return Envelope(key, body, members[key], sign)


def raw_members(text: str) -> dict[str, str]:
    """The exact source text of each member of a top-level JSON object.

    Signatures cover the response object as Alipay wrote it, so it must not be re-serialised.
    """
    decoder = json.JSONDecoder()
    members: dict[str, str] = {}
    index = _skip_space(text, 0)
    if text[index : index + 1] != "{":
        raise ValueError("not a JSON object")
    index = _skip_space(text, index + 1)
    closed = text[index : index + 1] == "}"
    while not closed:
        name, index = decoder.raw_decode(text, index)
        index = _skip_space(text, index)
        if not isinstance(name, str) or text[index : index + 1] != ":":
            raise ValueError("malformed JSON member")
        start = _skip_space(text, index + 1)
        _, end = decoder.raw_decode(text, start)
        members[name] = text[start:end]
        index = _skip_space(text, end)
        separator = text[index : index + 1]
        if separator not in (",", "}"):
            raise ValueError("malformed JSON object")
        closed = separator == "}"
        index = _skip_space(text, index + 1)
    if index != len(text):
        raise ValueError("text after the JSON object")
    return members


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


# ---- answers -> protocol types -----------------------------------------------------------------------

_SUB_CODE_ERRORS: dict[str, type[ChannelError]] = {
    SubCode.SYSTEM_ERROR: OutcomeUnknown,
    SubCode.UNKNOW_ERROR: OutcomeUnknown,
    SubCode.PAYMENT_AUTH_CODE_INVALID: AuthCodeInvalid,
    SubCode.AUTH_CODE_INVALID_OR_EXPIRE: AuthCodeInvalid,
    SubCode.TRADE_HAS_SUCCESS: AlreadyPaid,
    SubCode.TRADE_HAS_CLOSE: OrderStateConflict,
    SubCode.CONTEXT_INCONSISTENT: OrderStateConflict,
    SubCode.TRADE_STATUS_ERROR: OrderStateConflict,
    SubCode.TRADE_NOT_EXIST: OrderNotFound,
    SubCode.BILL_NOT_EXIST: BillNotReady,
    **dict.fromkeys(
        (
            SubCode.BUYER_BALANCE_NOT_ENOUGH,
            SubCode.BUYER_BANKCARD_BALANCE_NOT_ENOUGH,
            SubCode.ERROR_BALANCE_PAYMENT_DISABLE,
            SubCode.NO_PAYMENT_INSTRUMENTS_AVAILABLE,
            SubCode.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR,
            SubCode.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR,
            SubCode.BEYOND_PAY_RESTRICTION,
            SubCode.BEYOND_PER_RECEIPT_RESTRICTION,
            SubCode.TOTAL_FEE_EXCEED,
            SubCode.PAYMENT_REQUEST_HAS_RISK,
            SubCode.BUYER_ENABLE_STATUS_FORBID,
            SubCode.PAYMENT_FAIL,
            SubCode.BUYER_SELLER_EQUAL,
            SubCode.TRADE_BUYER_NOT_MATCH,
        ),
        PaymentDeclined,
    ),
    **dict.fromkeys(
        (
            SubCode.REFUND_AMT_NOT_EQUAL_TOTAL,
            SubCode.REASON_TRADE_REFUND_FEE_ERR,
            SubCode.TRADE_NOT_ALLOW_REFUND,
            SubCode.SELLER_BALANCE_NOT_ENOUGH,
            SubCode.DISCORDANT_REPEAT_REQUEST,
            SubCode.REASON_TRADE_BEEN_FREEZEN,
        ),
        RefundRejected,
    ),
    **dict.fromkeys(
        (
            SubCode.INVALID_PARAMETER,
            SubCode.ACCESS_FORBIDDEN,
            SubCode.EXIST_FORBIDDEN_WORD,
            SubCode.INVALID_STORE_ID,
        ),
        RequestRejected,
    ),
}


def error_for(body: Mapping[str, Any]) -> ChannelError:
    """The typed error for an answer whose code is not a success."""
    code, sub_code = str(body.get("code", "")), str(body.get("sub_code") or "")
    message = str(body.get("sub_msg") or body.get("msg") or "")
    if code == Code.UNKNOWN:
        return OutcomeUnknown(sub_code or code, message)
    if code in GATEWAY_REJECTIONS:
        return RequestRejected(sub_code or code, message)
    if code == Code.BUSINESS_FAILED:
        return _SUB_CODE_ERRORS.get(sub_code, DefiniteFailure)(sub_code or code, message)
    return ChannelUnavailable(code or "no-code", f"unexpected answer code {code!r}")


_TRADE_STATUSES = {
    WireTradeStatus.WAIT_BUYER_PAY: TradeStatus.WAITING,
    WireTradeStatus.TRADE_SUCCESS: TradeStatus.PAID,
    WireTradeStatus.TRADE_FINISHED: TradeStatus.PAID,
    WireTradeStatus.TRADE_CLOSED: TradeStatus.CLOSED,
}


def trade_status_of(fields: Mapping[str, Any]) -> TradeStatus:
    """Our status for a query or notification's `trade_status`; raises ValueError for an unknown word.

    Alipay closes a fully refunded trade (TRADE_CLOSED); a closed trade that carries a payment time
    was therefore paid and refunded, not closed unpaid.
    """
    status = _TRADE_STATUSES[WireTradeStatus(str(fields.get("trade_status", "")))]
    if status is TradeStatus.CLOSED and _paid_time_text(fields):
        return TradeStatus.REFUNDED
    return status


def trade_result(fields: Mapping[str, Any], status: TradeStatus, out_trade_no: str) -> TradeResult:
    """A TradeResult from a pay/query answer or a notification; raises ValueError on malformed fields."""
    total, paid = fields.get("total_amount"), _paid_time_text(fields)
    return TradeResult(
        status=status,
        out_trade_no=str(fields.get("out_trade_no") or out_trade_no),
        channel_trade_no=str(fields["trade_no"]) if fields.get("trade_no") else None,
        amount_fen=yuan_to_fen(str(total)) if total else None,
        paid_at=from_wire_time(paid) if paid else None,
        payer_id=str(fields.get("buyer_user_id") or fields.get("buyer_id") or "") or None,
        channel_status=str(fields.get("trade_status") or fields.get("code") or ""),
    )


def _paid_time_text(fields: Mapping[str, Any]) -> str:
    # trade.pay and notifications call it gmt_payment, trade.query send_pay_date
    return str(fields.get("gmt_payment") or fields.get("send_pay_date") or "")


# ---- the trade bill (对账单, bill_type=trade) -----------------------------------------------------------

BILL_COLUMNS = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
)
BILL_KINDS = {"payment": "交易", "refund": "退款", "cancel": "退款"}  # a cancel is a refund line, marked in 备注
CANCEL_REMARK = "交易撤销"  # our mark on the refund line of a cancelled (reversed) payment: see docs/bills.md
BILL_ENCODING = "gbk"  # Alipay's bills are GBK text
_DETAIL_SUFFIX = "_业务明细.csv"
_SUMMARY_SUFFIX = "_业务明细(汇总).csv"
SUMMARY_COLUMNS = (
    "门店编号",
    "门店名称",
    "交易订单总笔数",
    "退款订单总笔数",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "卡消费金额（元）",
    "服务费（元）",
    "分润（元）",
    "实收净额（元）",
)


@dataclass(frozen=True)
class BillLine:
    """One business line of the trade bill as the simulator's books know it."""

    kind: str  # "payment", "refund", or "cancel" (the refund line of a cancelled payment)
    trade_no: str
    out_trade_no: str
    subject: str
    created_at: datetime
    finished_at: datetime
    buyer_logon_id: str
    order_fen: int  # the order's amount
    amount_fen: int  # this line's money: the charge, or the refund
    out_request_no: str = ""
    terminal_id: str = ""
    fee_fen: int = 0  # the service fee charged on a payment, or given back on a refund (>= 0)

    @property
    def signed_fen(self) -> int:
        """商家实收 and the refund's 订单金额: what the merchant received, negative on refund lines."""
        return self.amount_fen if self.kind == "payment" else -self.amount_fen

    @property
    def signed_fee_fen(self) -> int:
        """服务费: the fee charged, negative when given back."""
        return self.fee_fen if self.kind == "payment" else -self.fee_fen


def bill_archive_name(account: str, day: date) -> str:
    return f"{account}_{day:%Y%m%d}.csv.zip"


def render_bill(account: str, day: date, lines: Sequence[BillLine], exported_at: datetime) -> bytes:
    """The zipped GBK CSV pair Alipay serves: the detail list and its summary."""
    stem = f"{account}_{day:%Y%m%d}"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(stem + _DETAIL_SUFFIX, _bill_detail(account, day, lines, exported_at).encode(BILL_ENCODING))
        bundle.writestr(stem + _SUMMARY_SUFFIX, _bill_summary(account, day, lines, exported_at).encode(BILL_ENCODING))
    return archive.getvalue()


def _bill_header(title: str, account: str, day: date) -> list[str]:
    return [
        f"#{title}",
        f"#账号：[{account}]",
        f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day + timedelta(days=1):%Y年%m月%d日} 00:00:00]",
    ]


def _bill_detail(account: str, day: date, lines: Sequence[BillLine], exported_at: datetime) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write(
        "\r\n".join([*_bill_header("支付宝业务明细查询", account, day), "#" + "-" * 40 + "业务明细列表" + "-" * 40])
    )
    out.write("\r\n")
    writer.writerow(BILL_COLUMNS)
    for line in lines:
        row = dict.fromkeys(BILL_COLUMNS, "")
        row.update(
            {
                "支付宝交易号": line.trade_no,
                "商户订单号": line.out_trade_no,
                "业务类型": BILL_KINDS[line.kind],
                "商品名称": line.subject,
                "创建时间": to_wire_time(line.created_at),
                "完成时间": to_wire_time(line.finished_at),
                "终端号": line.terminal_id,
                "对方账户": line.buyer_logon_id,
                "订单金额（元）": _yuan_text(line.signed_fen),
                "商家实收（元）": _yuan_text(line.signed_fen),
                "退款批次号/请求号": line.out_request_no,
                "服务费（元）": _yuan_text(line.signed_fee_fen),
                "备注": CANCEL_REMARK if line.kind == "cancel" else "",
            }
        )
        for column in BILL_COLUMNS:
            if column.endswith("（元）") and not row[column]:
                row[column] = _yuan_text(0)
        # Alipay pads every value with a tab so spreadsheets keep long numbers as text.
        writer.writerow(f"{row[column]}\t" for column in BILL_COLUMNS)
    payments = [line for line in lines if line.kind == "payment"]
    refunds = [line for line in lines if line.kind != "payment"]
    out.write("#" + "-" * 40 + "业务明细列表结束" + "-" * 38 + "\r\n")
    out.write(f"#交易合计：{len(payments)}笔，商家实收共{_yuan_text(_received(payments))}元，商家优惠共0.00元\r\n")
    out.write(f"#退款合计：{len(refunds)}笔，商家实收共{_yuan_text(_received(refunds))}元，商家优惠共0.00元\r\n")
    out.write(f"#导出时间：[{exported_at.astimezone(BEIJING):%Y年%m月%d日 %H:%M:%S}]\r\n")
    return out.getvalue()


def _received(lines: Sequence[BillLine]) -> int:
    return sum(line.signed_fen for line in lines)


def _bill_summary(account: str, day: date, lines: Sequence[BillLine], exported_at: datetime) -> str:
    """One row per store (a terminal stands for its store here), then the 合计 row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\r\n".join([*_bill_header("支付宝业务汇总查询", account, day), ""]))
    writer.writerow(SUMMARY_COLUMNS)
    stores = sorted({line.terminal_id for line in lines})
    for store in stores:
        writer.writerow(_summary_row(store, [line for line in lines if line.terminal_id == store]))
    writer.writerow(_summary_row("合计", lines))
    out.write(f"#导出时间：[{exported_at.astimezone(BEIJING):%Y年%m月%d日 %H:%M:%S}]\r\n")
    return out.getvalue()


def _summary_row(store: str, lines: Sequence[BillLine]) -> list[str]:
    payments = [line for line in lines if line.kind == "payment"]
    received, fees = _received(lines), sum(line.signed_fee_fen for line in lines)
    zero = _yuan_text(0)
    return [
        store,
        "",
        str(len(payments)),
        str(len(lines) - len(payments)),
        _yuan_text(sum(line.order_fen for line in payments)),
        _yuan_text(received),
        zero,
        zero,
        zero,
        _yuan_text(fees),
        zero,
        _yuan_text(received - fees),
    ]


_REQUIRED_BILL_COLUMNS = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "完成时间",
    "订单金额（元）",
    "商家实收（元）",
    "服务费（元）",
)


def parse_bill(archive: bytes, day: date) -> Bill:
    """The business lines of a zipped GBK trade bill by column name; a line that cannot be read is a bad line.

    Line numbers count the lines of the detail CSV. WireFormatError when it is not such a bill at all.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            detail = next(name for name in bundle.namelist() if name.endswith(_DETAIL_SUFFIX))
            text = bundle.read(detail).decode(BILL_ENCODING)
    except (zipfile.BadZipFile, StopIteration) as exc:
        raise WireFormatError(f"not an Alipay trade bill: {exc or 'no detail file'}") from exc
    except UnicodeDecodeError as exc:
        raise WireFormatError(f"the detail file is not GBK: {exc}") from exc
    numbered = [
        (n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.startswith("#")
    ]
    if not numbered:
        raise WireFormatError("the detail file has no header line")
    header = [cell.strip() for cell in _csv_cells(numbered[0][1])]
    rows = [BillRow(n, line, [cell.strip() for cell in _csv_cells(line)]) for n, line in numbered[1:]]
    return fold_cancellations(read_bill(day, header, rows, _REQUIRED_BILL_COLUMNS, _bill_entry))


def _csv_cells(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def _bill_entry(row: Mapping[str, str], line_no: int) -> BillEntry:
    kind = row["业务类型"]
    at = from_wire_time(row["完成时间"])
    fee = abs(bill_yuan_to_fen(row["服务费（元）"], "服务费（元）"))
    trade_no, out_trade_no = row["支付宝交易号"], row["商户订单号"]
    if kind == BILL_KINDS["payment"]:
        amount = positive(bill_yuan_to_fen(row["订单金额（元）"], "订单金额（元）"), "订单金额（元）")
        return BillEntry(PAYMENT, out_trade_no, trade_no, amount, fee, SUCCESS, at, line_no=line_no)
    if kind == BILL_KINDS["refund"]:
        amount = positive(abs(bill_yuan_to_fen(row["商家实收（元）"], "商家实收（元）")), "商家实收（元）")
        if row.get("备注") == CANCEL_REMARK:
            return BillEntry(CANCEL, out_trade_no, trade_no, amount, 0, REVOKED, at, line_no=line_no)
        out_refund_no = row.get("退款批次号/请求号") or None
        return BillEntry(REFUND, out_trade_no, trade_no, amount, fee, SUCCESS, at, out_refund_no, line_no=line_no)
    raise ValueError(f"unknown 业务类型 {kind!r}")
