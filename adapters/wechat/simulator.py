"""The WeChat Pay APIv2 simulator: signed CDATA XML on WeChat's own paths, its envelope, err_codes and bill.

The bill (`/pay/downloadbill`) exists only for a Beijing day that is over and had transactions; otherwise it is
the XML error `No Bill Exist` (20002), as WeChat answers. `tar_type=GZIP` gzips the text.
"""

# WeChat's own Chinese messages are quoted verbatim, fullwidth punctuation included.
# ruff: noqa: RUF001

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simcore.app import ChannelSimulator, SimulatorSettings
from adapters.simcore.bank import (
    Outcome,
    RefundRules,
    SimBank,
    SimOrder,
    SimOrderState,
    SimRefund,
    SimRefundState,
)
from adapters.simcore.billing import SimBillLine
from adapters.simcore.notifier import OutgoingNotification
from adapters.wechat.client import WechatConfig
from adapters.wechat.refund_notify import encrypt_req_info
from adapters.wechat.signing import SignType, sign_type_of, signed, verify
from adapters.wechat.wire import (
    BEIJING,
    BILL_DATE_FORMAT,
    BILL_TIME_FORMAT,
    FAIL,
    NO_BILL_ERROR_CODE,
    NO_BILL_MESSAGE,
    SUCCESS,
    BillLine,
    BillType,
    NotUtf8Error,
    WireFormatError,
    decode_xml,
    encode_xml,
    from_wire_time,
    parse_fen,
    render_bill,
    to_wire_time,
)

SIM_APPID = "wxd930ea5d5a258f4f"  # the appid and mch_id of WeChat's own signing example
SIM_MCH_ID = "10000100"
API_KEY_FILE = Path("keys") / "wechat_api_key"
CODE_URL_PREFIX = "weixin://wxpay/bizpayurl?pr="
TRADE_NO_PREFIX = "4200000001"  # with the date and a 10-digit serial: WeChat's 28-digit transaction_id
CODE_LENGTH = 18
NATIVE_ORDER_LIFETIME = timedelta(hours=2)
#: Refunds finish later, up to a year after the payment, at most 50 per order (CHANNELS.md section 3).
REFUND_RULES = RefundRules(asynchronous=True, window=timedelta(days=365), max_refunds=50)
XML_MEDIA_TYPE = "text/xml"

WECHAT_AUTH_CODE = re.compile(r"1[0-5][0-9]{16}")
MERCHANT_NUMBER = re.compile(r"[A-Za-z0-9_\-|*@]{1,32}")
MERCHANT_REFUND_NUMBER = re.compile(r"[A-Za-z0-9_\-|*@]{1,64}")
ENVELOPE_FIELDS = ("appid", "mch_id", "nonce_str", "sign")

#: How each bank outcome is said on the wire when it is not a success: (err_code, err_code_des).
OUTCOME_ERRORS: dict[Outcome, tuple[str, str]] = {
    Outcome.PAYING: ("USERPAYING", "需要用户输入支付密码"),
    Outcome.UNKNOWN: ("SYSTEMERROR", "系统超时，请立即调用被扫订单结果查询API，查询当前订单状态"),
    Outcome.HTTP_TIMEOUT: ("SYSTEMERROR", "系统超时"),
    Outcome.HTTP_500: ("SYSTEMERROR", "系统错误"),
    Outcome.INSUFFICIENT_BALANCE: ("NOTENOUGH", "用户余额不足"),
    Outcome.CODE_EXPIRED: ("AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试"),
    Outcome.CODE_INVALID: ("AUTH_CODE_INVALID", "请扫描微信支付授权码"),
    Outcome.CODE_USED: ("AUTH_CODE_ERROR", "每个二维码仅限使用一次，请刷新再试"),
    Outcome.OUT_TRADE_NO_USED: ("OUT_TRADE_NO_USED", "商户订单号重复"),
    Outcome.ORDER_PAID: ("ORDERPAID", "订单已支付"),
    Outcome.ORDER_CLOSED: ("ORDERCLOSED", "订单已关闭"),
    Outcome.ORDER_REVERSED: ("ORDERREVERSED", "订单已撤销"),
    Outcome.NOT_FOUND: ("ORDERNOTEXIST", "此交易订单号不存在"),
    Outcome.REFUND_TOO_MUCH: ("ERROR", "累计退款金额大于支付金额"),
    Outcome.REFUND_NOT_PAID: ("ERROR", "订单状态错误，不能退款"),
    Outcome.AMOUNT_MISMATCH: ("REFUND_FEE_MISMATCH", "订单金额或退款金额与之前请求不一致，请核实后再试"),
    Outcome.REFUND_REJECTED: ("USER_ACCOUNT_ABNORMAL", "退款请求失败，用户帐号注销"),
    Outcome.MERCHANT_BALANCE_LOW: ("NOTENOUGH", "基本账户余额不足，请充值后重新发起"),
    Outcome.REFUND_OVERDUE: ("TRADE_OVERDUE", "订单已经超过退款期限"),
    Outcome.REFUND_LIMIT: ("ERROR", "每个支付订单的部分退款次数不能超过50次"),
}

#: A refund's system error asks for the same request again, under the same refund number.
REFUND_ERRORS: dict[Outcome, tuple[str, str]] = {
    **OUTCOME_ERRORS,
    Outcome.UNKNOWN: ("SYSTEMERROR", "系统超时，请不要更换商户退款单号，请使用相同参数再次调用API"),
}

#: What refund queries and notifications call a refund's state (a failed refund bounced: CHANGE).
REFUND_STATUS_FOR_SIM: dict[SimRefundState, str] = {
    SimRefundState.PROCESSING: "PROCESSING",
    SimRefundState.SUCCESS: SUCCESS,
    SimRefundState.FAILED: "CHANGE",
}

#: closeorder knows only ORDERPAID and ORDERCLOSED: a reversed order is closed as far as it is concerned.
CLOSE_ERRORS: dict[Outcome, tuple[str, str]] = {
    **OUTCOME_ERRORS,
    Outcome.ORDER_REVERSED: ("ORDERCLOSED", "订单已撤销"),
}

#: A reverse that finds a refunded order cannot give the money back a second time.
REVERSE_ERRORS: dict[Outcome, tuple[str, str]] = {
    **OUTCOME_ERRORS,
    Outcome.ORDER_PAID: ("TRADE_ERROR", "订单已发生退款，不能撤销"),
}

TRADE_STATE_FOR_SIM: dict[SimOrderState, str] = {
    SimOrderState.CREATED: "NOTPAY",
    SimOrderState.PAYING: "USERPAYING",
    SimOrderState.SUCCESS: "SUCCESS",
    SimOrderState.FAILED: "PAYERROR",
    SimOrderState.CLOSED: "CLOSED",
    SimOrderState.REVOKED: "REVOKED",
}

TRADE_STATE_DESCRIPTIONS = {
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "NOTPAY": "未支付",
    "CLOSED": "已关闭",
    "REVOKED": "已撤销（付款码支付）",
    "USERPAYING": "用户支付中（付款码支付）",
    "PAYERROR": "支付失败(其他原因，如银行返回失败)",
}


@dataclass(frozen=True)
class WechatMerchant:
    """The one merchant the simulator serves, with its API key."""

    appid: str
    mch_id: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class Reply:
    """What an endpoint answers: signed business fields, a return_code=FAIL refusal, or the bill text."""

    fields: Mapping[str, str] = field(default_factory=dict)
    outcome: Outcome | None = None  # drives the latency, the hang of an HTTP timeout and the HTTP 500
    refusal: Mapping[str, str] | None = None
    data: bytes | None = None  # the bill: its text, or that text gzipped
    media_type: str = ""


@dataclass
class OrderWireDetails:
    """What the wire said about an order that the bank does not keep."""

    trade_type: str
    body: str
    sign_type: SignType
    device_info: str = ""
    attach: str = ""
    prepay_id: str = ""
    code_url: str = ""


Handler = Callable[[dict[str, str]], Reply]


def _ok(**fields: str) -> Reply:
    return Reply({"result_code": SUCCESS, **fields})


def _fail(err_code: str, err_code_des: str, outcome: Outcome | None = None, **extra: str) -> Reply:
    return Reply({"result_code": FAIL, "err_code": err_code, "err_code_des": err_code_des, **extra}, outcome)


def _outcome_failure(
    outcome: Outcome, errors: Mapping[Outcome, tuple[str, str]] = OUTCOME_ERRORS, **extra: str
) -> Reply:
    """The result_code=FAIL answer for a bank outcome; one we have no word for is a SYSTEMERROR, never a crash."""
    err_code, err_code_des = errors.get(outcome, ("SYSTEMERROR", "系统错误"))
    return _fail(err_code, err_code_des, outcome, **extra)


def _refused(return_msg: str, **extra: str) -> Reply:
    return Reply(refusal={"return_msg": return_msg, **extra})


def _param_error(detail: str) -> Reply:
    return _fail("PARAM_ERROR", detail)


class WechatSimulator(ChannelSimulator):
    """WeChat Pay APIv2 for one merchant, over the shared simulated bank.

    The real reverse and refund endpoints (`/secapi/...`) demand the merchant's client TLS certificate; this
    simulator is served over plain HTTP and does not ask for one.
    """

    notify_ladder_s = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)

    def __init__(self, settings: SimulatorSettings, bank: SimBank, merchant: WechatMerchant) -> None:
        self.merchant = merchant
        self._details: dict[str, OrderWireDetails] = {}
        self._code_tokens: dict[str, str] = {}  # the `pr` of a code_url -> out_trade_no
        super().__init__(settings, bank)

    # ---- transport ---------------------------------------------------------------------------------------

    def protocol_routes(self) -> list[BaseRoute]:
        endpoints: dict[str, tuple[Handler, tuple[str, ...]]] = {
            "/pay/micropay": (self._micropay, ("body", "out_trade_no", "total_fee", "spbill_create_ip", "auth_code")),
            "/pay/unifiedorder": (
                self._unifiedorder,
                ("body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"),
            ),
            "/pay/orderquery": (self._orderquery, ("transaction_id|out_trade_no",)),
            "/secapi/pay/reverse": (self._reverse, ("transaction_id|out_trade_no",)),
            "/pay/closeorder": (self._closeorder, ("out_trade_no",)),
            "/secapi/pay/refund": (
                self._refund,
                ("transaction_id|out_trade_no", "out_refund_no", "total_fee", "refund_fee"),
            ),
            "/pay/refundquery": (self._refundquery, ("refund_id|out_refund_no|transaction_id|out_trade_no",)),
            "/pay/downloadbill": (self._downloadbill, ("bill_date",)),
        }
        return [
            Route(path, self._endpoint(handler, required), methods=["GET", "POST"])
            for path, (handler, required) in endpoints.items()
        ]

    def _endpoint(self, handler: Handler, required: tuple[str, ...]) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            accepted = await self._accept(request, required)
            if isinstance(accepted, Reply):
                reply, sign_type = accepted, SignType.MD5
            else:
                reply, sign_type = handler(accepted), sign_type_of(accepted)
            await self.before_answer(reply.outcome)
            if reply.outcome is Outcome.HTTP_500:
                return PlainTextResponse("Internal Server Error", status_code=500)
            if reply.data is not None:
                return Response(reply.data, media_type=reply.media_type)
            if reply.refusal is not None:
                return Response(encode_xml({"return_code": FAIL, **reply.refusal}), media_type=XML_MEDIA_TYPE)
            return self._signed_answer(reply.fields, sign_type)

        return serve

    async def _accept(self, request: Request, required: tuple[str, ...]) -> dict[str, str] | Reply:
        """The request's fields, or the return_code=FAIL refusal of a request WeChat would not process."""
        if request.method != "POST":
            return _refused("请使用post方法")
        body = await request.body()
        if not body.strip():
            return _refused("post数据为空")
        try:
            fields = decode_xml(body)
        except NotUtf8Error:
            return _refused("编码格式错误")
        except WireFormatError:
            return _refused("XML格式错误")
        missing = next((name for name in ENVELOPE_FIELDS if not fields.get(name)), None)
        if missing is not None:
            return _refused(f"缺少参数{missing}")
        if fields["mch_id"] != self.merchant.mch_id:
            return _refused("MCHID不存在")
        if fields["appid"] != self.merchant.appid:
            return _refused("appid和mch_id不匹配")
        try:
            sign_type = sign_type_of(fields)
        except ValueError:
            return _refused("sign_type参数错误")
        if not verify(fields, self.merchant.api_key, sign_type):
            return _refused("签名错误")
        for names in required:
            if not any(fields.get(name) for name in names.split("|")):
                return _refused(f"缺少参数{names.replace('|', '或')}")
        return fields

    def _signed_answer(self, business: Mapping[str, str], sign_type: SignType) -> Response:
        fields = {"return_code": SUCCESS, "return_msg": "OK", **self._identity(), **business}
        return Response(encode_xml(signed(fields, self.merchant.api_key, sign_type)), media_type=XML_MEDIA_TYPE)

    def _identity(self) -> dict[str, str]:
        return {"appid": self.merchant.appid, "mch_id": self.merchant.mch_id, "nonce_str": secrets.token_hex(16)}

    # ---- payments ----------------------------------------------------------------------------------------

    def _micropay(self, fields: dict[str, str]) -> Reply:
        problem = _check_amounts(fields, "total_fee") or _check_out_trade_no(fields)
        if problem is not None:
            return problem
        auth_code, out_trade_no = fields["auth_code"], fields["out_trade_no"]
        if not WECHAT_AUTH_CODE.fullmatch(auth_code):
            return _outcome_failure(Outcome.CODE_INVALID)
        fingerprint = "|".join(("MICROPAY", fields["total_fee"], fields["body"], auth_code))
        outcome = self.bank.micropay(out_trade_no, int(fields["total_fee"]), auth_code, fingerprint)
        order = self.bank.orders.get(out_trade_no)
        if order is None or order.fingerprint != fingerprint:
            return _outcome_failure(outcome)
        self._remember(order, fields, "MICROPAY")
        if outcome in (Outcome.PAID, Outcome.HTTP_TIMEOUT) and order.state is SimOrderState.SUCCESS:
            return Reply({"result_code": SUCCESS, **self._trade_fields(order)}, outcome)
        return _outcome_failure(outcome)

    def _unifiedorder(self, fields: dict[str, str]) -> Reply:
        problem = _check_amounts(fields, "total_fee") or _check_out_trade_no(fields)
        if problem is not None:
            return problem
        if fields["trade_type"] != "NATIVE":
            return _param_error("trade_type参数错误：本模拟器只受理NATIVE")
        if not fields.get("product_id"):
            return _refused("缺少参数product_id")
        now = datetime.now(UTC)
        try:
            expires_at = from_wire_time(fields["time_expire"]) if fields.get("time_expire") else None
        except WireFormatError:
            return _param_error("time_expire格式错误")
        if expires_at is not None and expires_at <= now:
            return _param_error("time_expire时间过短")
        fingerprint = "|".join(("NATIVE", fields["total_fee"], fields["body"], fields["product_id"]))
        outcome, order = self.bank.precreate(
            fields["out_trade_no"],
            int(fields["total_fee"]),
            fingerprint,
            fields["notify_url"],
            expires_at or now + NATIVE_ORDER_LIFETIME,
        )
        if order is None:
            return _outcome_failure(outcome)
        self.bank.advance(order)
        if order.state is SimOrderState.SUCCESS:
            return _outcome_failure(Outcome.ORDER_PAID)
        if order.state is not SimOrderState.CREATED:
            return _outcome_failure(Outcome.ORDER_CLOSED)
        details = self._remember(order, fields, "NATIVE")
        if not details.code_url:
            token = secrets.token_urlsafe(8)
            self._code_tokens[token] = order.out_trade_no
            details.code_url = CODE_URL_PREFIX + token
            details.prepay_id = "wx" + to_wire_time(now) + secrets.token_hex(10)  # 36 characters, like WeChat's
        return _ok(trade_type="NATIVE", prepay_id=details.prepay_id, code_url=details.code_url)

    def _orderquery(self, fields: dict[str, str]) -> Reply:
        queued = self._queued_fault("query")
        if queued is not None:
            return _outcome_failure(queued)
        order = self._find(fields)
        if order is None:
            return _outcome_failure(Outcome.NOT_FOUND)
        state = _trade_state(order)
        return _ok(trade_state=state, trade_state_desc=TRADE_STATE_DESCRIPTIONS[state], **self._trade_fields(order))

    def _reverse(self, fields: dict[str, str]) -> Reply:
        outcome = self.bank.reverse(self._out_trade_no_of(fields))
        if outcome is Outcome.OK:
            return _ok(recall="N")
        if outcome in (Outcome.RETRY, Outcome.UNKNOWN, Outcome.HTTP_TIMEOUT, Outcome.HTTP_500):
            return _fail("SYSTEMERROR", "系统繁忙，请重新调用撤销", outcome=outcome, recall="Y")
        return _outcome_failure(outcome, REVERSE_ERRORS, recall="N")

    def _closeorder(self, fields: dict[str, str]) -> Reply:
        order = self.bank.find(fields["out_trade_no"])
        already_closed = order is not None and order.state is SimOrderState.CLOSED
        outcome = self.bank.close(fields["out_trade_no"])
        if outcome is Outcome.OK and not already_closed:
            return _ok(result_msg="OK")
        return _outcome_failure(Outcome.ORDER_CLOSED if outcome is Outcome.OK else outcome, CLOSE_ERRORS)

    # ---- refunds -----------------------------------------------------------------------------------------

    def _refund(self, fields: dict[str, str]) -> Reply:
        problem = _check_amounts(fields, "total_fee", "refund_fee")
        if problem is not None:
            return problem
        if not MERCHANT_REFUND_NUMBER.fullmatch(fields["out_refund_no"]):
            return _param_error("out_refund_no参数格式错误")
        out_trade_no = self._out_trade_no_of(fields)
        order = self.bank.find(out_trade_no)
        if order is not None and order.amount_fen != int(fields["total_fee"]):
            return _param_error("订单金额total_fee与原订单不一致")
        outcome, refund = self.accept_refund(
            out_trade_no, fields["out_refund_no"], int(fields["refund_fee"]), fields.get("notify_url") or None
        )
        if order is None or refund is None or outcome not in (Outcome.PAID, Outcome.OK):
            return _outcome_failure(outcome, REFUND_ERRORS)
        return _ok(
            transaction_id=order.trade_no,
            out_trade_no=order.out_trade_no,
            out_refund_no=refund.out_refund_no,
            refund_id=refund.refund_no,
            refund_fee=str(refund.amount_fen),
            total_fee=str(order.amount_fen),
            cash_fee=str(order.amount_fen),
            cash_refund_fee=str(refund.amount_fen),
        )

    def _refundquery(self, fields: dict[str, str]) -> Reply:
        queued = self._queued_fault("refund_query")
        if queued is not None:
            return _outcome_failure(queued)
        found = self._refunds_for(fields)
        if found is None:
            return _fail("REFUNDNOTEXIST", "退款订单查询失败")
        order, refunds = found
        answer = {
            "transaction_id": order.trade_no,
            "out_trade_no": order.out_trade_no,
            "total_fee": str(order.amount_fen),
            "cash_fee": str(order.amount_fen),
            "refund_fee": str(sum(refund.amount_fen for refund in refunds)),
            "refund_count": str(len(refunds)),
        }
        for n, refund in enumerate(refunds):
            state = self.bank.look_at_refund(order, refund)
            answer |= {
                f"out_refund_no_{n}": refund.out_refund_no,
                f"refund_id_{n}": refund.refund_no,
                f"refund_fee_{n}": str(refund.amount_fen),
                f"refund_status_{n}": REFUND_STATUS_FOR_SIM[state],
                f"refund_channel_{n}": "ORIGINAL",
                f"refund_account_{n}": "REFUND_SOURCE_UNSETTLED_FUNDS",
                f"refund_recv_accout_{n}": "支付用户的零钱",
            }
            if state is SimRefundState.SUCCESS and refund.finished_at is not None:
                answer[f"refund_success_time_{n}"] = _bill_time(refund.finished_at)
        return _ok(**answer)

    def _refunds_for(self, fields: Mapping[str, str]) -> tuple[SimOrder, list[SimRefund]] | None:
        """The order and its refunds a refund query names; refund_id and out_refund_no narrow to one refund."""
        if fields.get("transaction_id") or fields.get("out_trade_no"):
            order = self._find(fields)
            candidates = [order] if order is not None else []
        else:
            candidates = list(self.bank.orders.values())
        for order in candidates:
            refunds = sorted(order.refunds.values(), key=lambda refund: refund.at)
            if fields.get("refund_id"):
                refunds = [refund for refund in refunds if refund.refund_no == fields["refund_id"]]
            elif fields.get("out_refund_no"):
                refunds = [refund for refund in refunds if refund.out_refund_no == fields["out_refund_no"]]
            if refunds:
                return order, refunds
        return None

    # ---- the daily bill ----------------------------------------------------------------------------------

    def _downloadbill(self, fields: dict[str, str]) -> Reply:
        queued = self._queued_fault("download_bill")
        if queued is not None:
            return _outcome_failure(queued)
        try:
            if not (len(fields["bill_date"]) == 8 and fields["bill_date"].isdigit()):
                raise ValueError(fields["bill_date"])
            day = datetime.strptime(fields["bill_date"], BILL_DATE_FORMAT).date()
            bill_type = BillType(fields.get("bill_type") or "ALL")
        except ValueError:
            return _refused("invalid bill_date or bill_type", error_code="20001")
        tar_type = fields.get("tar_type", "")
        if tar_type not in ("", "GZIP"):
            return _refused("invalid tar_type", error_code="20001")
        lines = [line for line in map(self._bill_line, self.bills.lines(day)) if _on_bill(line, bill_type)]
        if not self.bill_exists(day) or not lines:  # WeChat builds no bill for a day without transactions either
            return _refused(NO_BILL_MESSAGE, error_code=NO_BILL_ERROR_CODE)
        text = render_bill(lines, bill_type)
        if tar_type == "GZIP":
            return Reply(data=gzip.compress(text.encode("utf-8")), media_type="application/x-gzip")
        return Reply(data=text.encode("utf-8"), media_type="text/plain;charset=utf-8")

    def _bill_line(self, line: SimBillLine) -> BillLine:
        details = self._details.get(line.out_trade_no)
        refund = line.kind == "refund"
        return BillLine(
            at=line.at,
            appid=self.merchant.appid,
            mch_id=self.merchant.mch_id,
            transaction_id=line.trade_no,
            out_trade_no=line.out_trade_no,
            openid=self._openid(line.customer_id),
            trade_type=details.trade_type if details else "MICROPAY",
            trade_state="REFUND" if refund else line.status,
            amount_fen=line.amount_fen,
            fee_fen=line.fee_fen,
            rate_bp=self.bills.fees.rate_bp,
            refund_id=line.refund_no,
            out_refund_no=line.out_refund_no,
            body=details.body if details else "",
            refund_requested_at=line.requested_at,
        )

    # ---- notifications and dynamic codes -----------------------------------------------------------------

    def payment_notification(self, order: SimOrder) -> OutgoingNotification:
        details = self._details.get(order.out_trade_no)
        sign_type = details.sign_type if details else SignType.MD5

        def build() -> tuple[bytes, str]:
            fields = {"return_code": SUCCESS, "return_msg": "OK", **self._identity(), "result_code": SUCCESS}
            if sign_type is not SignType.MD5:
                fields["sign_type"] = sign_type.value
            fields |= self._trade_fields(order)
            return encode_xml(signed(fields, self.merchant.api_key, sign_type)), XML_MEDIA_TYPE

        return OutgoingNotification(order.notify_url or "", build, is_notification_ack, order.out_trade_no)

    def refund_notification(self, order: SimOrder, refund: SimRefund) -> OutgoingNotification:
        """The refund result notification: an unsigned envelope whose `req_info` holds the encrypted refund."""

        def build() -> tuple[bytes, str]:
            secret = {
                "transaction_id": order.trade_no,
                "out_trade_no": order.out_trade_no,
                "refund_id": refund.refund_no,
                "out_refund_no": refund.out_refund_no,
                "total_fee": str(order.amount_fen),
                "settlement_total_fee": str(order.amount_fen),
                "refund_fee": str(refund.amount_fen),
                "settlement_refund_fee": str(refund.amount_fen),
                "refund_status": REFUND_STATUS_FOR_SIM[refund.state],
                "refund_recv_accout": "支付用户的零钱",
                "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
                "refund_request_source": "API",
            }
            if refund.state is SimRefundState.SUCCESS and refund.finished_at is not None:
                secret["success_time"] = _bill_time(refund.finished_at)
            envelope = {
                "return_code": SUCCESS,
                "appid": self.merchant.appid,
                "mch_id": self.merchant.mch_id,
                "nonce_str": secrets.token_hex(16),
                "req_info": encrypt_req_info(secret, self.merchant.api_key),
            }
            return encode_xml(envelope), XML_MEDIA_TYPE

        return OutgoingNotification(refund.notify_url or "", build, is_notification_ack, refund.out_refund_no)

    def order_for_code_url(self, code_url: str) -> str | None:
        if not code_url.startswith(CODE_URL_PREFIX):
            return None
        return self._code_tokens.get(code_url.removeprefix(CODE_URL_PREFIX))

    # ---- helpers -----------------------------------------------------------------------------------------

    def _queued_fault(self, operation: str) -> Outcome | None:
        """A fault queued for an operation the bank has no method for (queries, the bill)."""
        fault = self.bank.faults.take(operation)
        return Outcome(fault.value) if fault is not None else None

    def _remember(self, order: SimOrder, fields: Mapping[str, str], trade_type: str) -> OrderWireDetails:
        return self._details.setdefault(
            order.out_trade_no,
            OrderWireDetails(
                trade_type=trade_type,
                body=fields.get("body", ""),
                sign_type=sign_type_of(fields),
                device_info=fields.get("device_info", ""),
                attach=fields.get("attach", ""),
            ),
        )

    def _find(self, fields: Mapping[str, str]) -> SimOrder | None:
        """The order named by transaction_id (which WeChat prefers) or out_trade_no."""
        transaction_id = fields.get("transaction_id")
        if transaction_id:
            order = next((order for order in self.bank.orders.values() if order.trade_no == transaction_id), None)
            return self.bank.find(order.out_trade_no) if order is not None else None
        return self.bank.find(fields.get("out_trade_no", ""))

    def _out_trade_no_of(self, fields: Mapping[str, str]) -> str:
        order = self._find(fields)
        return order.out_trade_no if order is not None else fields.get("out_trade_no", "")

    def _trade_fields(self, order: SimOrder) -> dict[str, str]:
        """The fields describing a trade in answers and notifications; payer and payment only once known."""
        details = self._details.get(order.out_trade_no)
        fields = {
            "out_trade_no": order.out_trade_no,
            "total_fee": str(order.amount_fen),
            "fee_type": "CNY",
            "trade_type": details.trade_type if details else "",
        }
        if details is not None:
            fields |= {"device_info": details.device_info, "attach": details.attach}
        if order.customer_id is not None:
            fields |= {"transaction_id": order.trade_no, "openid": self._openid(order.customer_id), "is_subscribe": "N"}
        if order.paid_at is not None:
            fields |= {
                "bank_type": "OTHERS",
                "cash_fee": str(order.amount_fen),
                "cash_fee_type": "CNY",
                "time_end": to_wire_time(order.paid_at),
            }
        return {name: value for name, value in fields.items() if value}

    def _openid(self, customer_id: str) -> str:
        """A stable per-appid user id in WeChat's shape: 28 characters starting with `o`."""
        digest = hashlib.sha256(f"{self.merchant.appid}:{customer_id}".encode()).digest()
        return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


def _on_bill(line: BillLine, bill_type: BillType) -> bool:
    """Whether a line belongs on a bill of `bill_type`: SUCCESS has only kept payments, REFUND only refunds."""
    if bill_type is BillType.SUCCESS:
        return line.trade_state == "SUCCESS"
    if bill_type is BillType.REFUND:
        return line.is_refund
    return True


def _bill_time(moment: datetime) -> str:
    """`yyyy-MM-dd HH:mm:ss` in Beijing time, as refund queries and notifications write success times."""
    return moment.astimezone(BEIJING).strftime(BILL_TIME_FORMAT)


def _trade_state(order: SimOrder) -> str:
    if order.state is SimOrderState.SUCCESS and order.refunds:
        return "REFUND"
    return TRADE_STATE_FOR_SIM[order.state]


def _check_amounts(fields: Mapping[str, str], *names: str) -> Reply | None:
    for name in names:
        try:
            parse_fen(fields.get(name), name)
        except WireFormatError:
            return _param_error(f"{name}参数格式错误")
    return None


def _check_out_trade_no(fields: Mapping[str, str]) -> Reply | None:
    if MERCHANT_NUMBER.fullmatch(fields["out_trade_no"]):
        return None
    return _param_error("out_trade_no参数格式错误")


def is_notification_ack(status_code: int, body: bytes) -> bool:
    """WeChat stops retrying only on HTTP 200 with `<xml><return_code>SUCCESS</return_code>...`."""
    if status_code != 200:
        return False
    try:
        return decode_xml(body).get("return_code") == SUCCESS
    except WireFormatError:
        return False


def _wechat_code_prefix() -> str:
    return secrets.choice(("10", "11", "12", "13", "14"))  # mainland users' codes


def load_or_create_merchant(var_dir: Path) -> WechatMerchant:
    """The simulated merchant; its 32-character API key is generated once under `var_dir`."""
    path = var_dir / API_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key)
    return WechatMerchant(SIM_APPID, SIM_MCH_ID, path.read_text().strip())


def create_simulator(var_dir: Path, settings: SimulatorSettings | None = None) -> WechatSimulator:
    """A WeChat simulator whose merchant key lives under `var_dir`."""
    settings = settings or SimulatorSettings()
    bank = SimBank(settings.bank, _wechat_code_prefix, CODE_LENGTH, TRADE_NO_PREFIX, REFUND_RULES)
    return WechatSimulator(settings, bank, load_or_create_merchant(var_dir))


def adapter_config(var_dir: Path, base_url: str) -> WechatConfig:
    """The merchant's side of the simulator made from the same `var_dir`, pointing at `base_url`."""
    merchant = load_or_create_merchant(var_dir)
    return WechatConfig(base_url=base_url, appid=merchant.appid, mch_id=merchant.mch_id, api_key=merchant.api_key)
