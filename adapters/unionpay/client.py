"""The UnionPay adapter: a client of the 云闪付 service-provider JSON API over an injected httpx.AsyncClient."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar

import httpx

from adapters.protocol import (
    Bill,
    ChannelUnavailable,
    MicropayRequest,
    Notification,
    NotificationAck,
    NotificationInvalid,
    PrecreateRequest,
    PrecreateResult,
    RefundNotification,
    RefundRequest,
    RefundResult,
    RefundStatus,
    ResponseSignatureInvalid,
    ReverseResult,
    TradeResult,
    TradeStatus,
)
from adapters.unionpay.signing import WireValue, load_private_key, load_public_key, sign, verify
from adapters.unionpay.wire import (
    API_PATH,
    CURRENCY_CNY,
    ORDER_TYPE_UNIONPAY,
    REFUND_STATUS,
    UNKNOWN_RESP_CODES,
    RespCode,
    decode_message,
    encode_message,
    error_for,
    from_wire_time,
    parse_bill,
    parse_fen,
    refund_result,
    text_fields,
    to_wire_date,
    to_wire_time,
    trade_result,
)

A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True)
class UnionpayConfig:
    """Service-provider credentials for the 云闪付 API; PEM strings, the private key never in a repr."""

    base_url: str  # e.g. https://partner.95516.com, or a simulator's root URL
    ser_prov_id: str
    mer_id: str
    private_key_pem: str = field(repr=False)  # the service provider's signing key
    unionpay_public_key_pem: str  # verifies UnionPay's responses and notifications
    term_id: str = "00000001"  # 8-character terminal number used when a request names none
    timeout_s: float = 5.0


class UnionpayAdapter:
    """Every ChannelAdapter operation as one signed JSON POST to `/gateway/api/pay/<operation>`."""

    name = "unionpay"

    def __init__(self, config: UnionpayConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http
        self._private_key = load_private_key(config.private_key_pem)
        self._unionpay_key = load_public_key(config.unionpay_public_key_pem)

    # ---- payments ------------------------------------------------------------------------------------

    async def micropay(self, request: MicropayRequest) -> TradeResult:
        answer = await self._call(
            "micropay",
            {
                **self._order_fields(request.out_trade_no, request.amount_fen, request.description),
                "authCode": request.auth_code,
                "termId": request.terminal_id or self._config.term_id,
                "termInfo": _term_info(request.client_ip),
                "payTimeout": to_wire_time(request.expires_at) if request.expires_at else None,
            },
        )
        code = answer["respCode"]
        if code not in (RespCode.SUCCESS, RespCode.USER_PAYING):
            raise error_for(answer)
        paid = code == RespCode.SUCCESS
        return TradeResult(
            status=TradeStatus.PAID if paid else TradeStatus.PAYING,
            out_trade_no=answer.get("orderNo", request.out_trade_no),
            channel_trade_no=answer.get("transIndex") or None,
            amount_fen=_readable(parse_fen, answer.get("txnAmt", "")),
            paid_at=_readable(from_wire_time, answer["payTime"]) if paid and answer.get("payTime") else None,
            channel_status=code,
        )

    async def precreate(self, request: PrecreateRequest) -> PrecreateResult:
        answer = await self._call(
            "unifiedorder",
            {
                **self._order_fields(request.out_trade_no, request.amount_fen, request.description),
                "backUrl": request.notify_url,
                "termId": request.terminal_id or self._config.term_id,
                "termInfo": _term_info(request.client_ip),
                "payTimeout": to_wire_time(request.expires_at),
            },
        )
        if answer["respCode"] != RespCode.SUCCESS:
            raise error_for(answer)
        if not answer.get("qrCode"):
            raise ChannelUnavailable("unreadable_answer", "unifiedorder answered 00 without qrCode")
        return PrecreateResult(code_url=answer["qrCode"])

    async def query(self, out_trade_no: str) -> TradeResult:
        answer = await self._call("queryOrder", {"orderNo": out_trade_no, "orderType": ORDER_TYPE_UNIONPAY})
        code = answer["respCode"]
        if code == RespCode.NOT_FOUND:
            return TradeResult(status=TradeStatus.NOT_FOUND, out_trade_no=out_trade_no, channel_status=code)
        if code != RespCode.SUCCESS:
            raise error_for(answer)
        return _readable(trade_result, answer)

    async def reverse(self, out_trade_no: str) -> ReverseResult:
        """closeOrder on a bar-code payment; an open outcome (99) means "call closeOrder again"."""
        answer = await self._call("closeOrder", {"orderNo": out_trade_no, "orderType": ORDER_TYPE_UNIONPAY})
        code = answer["respCode"]
        if code == RespCode.SUCCESS:
            return ReverseResult(retry=False)
        if code in UNKNOWN_RESP_CODES:
            return ReverseResult(retry=True)
        raise error_for(answer)

    async def close(self, out_trade_no: str) -> None:
        answer = await self._call("closeOrder", {"orderNo": out_trade_no, "orderType": ORDER_TYPE_UNIONPAY})
        if answer["respCode"] != RespCode.SUCCESS:
            raise error_for(answer)

    # ---- refunds -------------------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundResult:
        answer = await self._call(
            "refund",
            {
                "origOrderNo": request.out_trade_no,
                "origTxnAmt": request.total_fen,
                "orderNo": request.out_refund_no,
                "orderTime": to_wire_time(datetime.now(UTC)),
                "txnAmt": request.refund_fen,
                "currencyCode": CURRENCY_CNY,
                "orderType": ORDER_TYPE_UNIONPAY,
                "backUrl": request.notify_url,
            },
        )
        if answer["respCode"] != RespCode.SUCCESS:
            raise error_for(answer, refund=True)
        # 00 means accepted: refundQuery (or the refund notification) says when and how it finishes.
        return _readable(lambda fields: refund_result(fields, RefundStatus.PROCESSING), answer)

    async def refund_query(self, out_trade_no: str, out_refund_no: str) -> RefundResult:
        answer = await self._call("refundQuery", {"orderNo": out_refund_no, "origOrderNo": out_trade_no})
        if answer["respCode"] != RespCode.SUCCESS:
            raise error_for(answer, refund=True)
        status = REFUND_STATUS.get(answer.get("origRespCode", ""))
        if status is None:
            raise ChannelUnavailable("unreadable_answer", f"refundQuery origRespCode {answer.get('origRespCode')!r}")
        return _readable(lambda fields: refund_result(fields, status), answer)

    # ---- notifications and bills ---------------------------------------------------------------------

    def parse_notification(self, body: bytes, content_type: str | None) -> Notification:
        fields = self._verified_notification(body, content_type)
        if fields.get("origOrderNo"):
            raise NotificationInvalid("format", "a refund notification, not a payment's")
        try:
            trade = trade_result(fields)
        except ValueError as exc:
            raise NotificationInvalid("format", str(exc)) from exc
        return Notification(trade=trade, app_id=fields["merId"], raw=fields)

    def parse_refund_notification(self, body: bytes, content_type: str | None) -> RefundNotification:
        """The refund notification to the refund's backUrl: orderNo is the refund number, origOrderNo the order's."""
        fields = self._verified_notification(body, content_type)
        status = REFUND_STATUS.get(fields.get("origRespCode", ""))
        if not fields.get("origOrderNo") or not fields.get("orderNo") or status is None:
            raise NotificationInvalid("format", "not a refund notification (orderNo, origOrderNo, origRespCode)")
        try:
            refund = refund_result(fields, status)
        except ValueError as exc:
            raise NotificationInvalid("format", str(exc)) from exc
        return RefundNotification(
            out_trade_no=fields["origOrderNo"],
            out_refund_no=refund.out_refund_no,
            status=refund.status,
            refund_fen=refund.refund_fen,
            channel_refund_no=refund.channel_refund_no,
            channel_trade_no=fields.get("origTransIndex") or None,
            raw=fields,
        )

    def _verified_notification(self, body: bytes, content_type: str | None) -> dict[str, str]:
        """The fields of a JSON notification signed by UnionPay for this merchant; NotificationInvalid if not."""
        if content_type is not None and "json" not in content_type.lower():
            raise NotificationInvalid("format", f"expected JSON, got {content_type}")
        try:
            message = decode_message(body)
        except ValueError as exc:
            raise NotificationInvalid("format", str(exc)) from exc
        if not verify(message, self._unionpay_key):
            raise NotificationInvalid("signature", "the notification's signature does not verify")
        fields = text_fields(message)
        if fields.get("merId") != self._config.mer_id or fields.get("serProvId", self._config.ser_prov_id) != (
            self._config.ser_prov_id
        ):
            raise NotificationInvalid("merchant", "the notification is for another merchant")
        return fields

    def notification_ack(self, accepted: bool) -> NotificationAck:
        """UnionPay stops retrying on HTTP 200 with the body `success`."""
        if accepted:
            return NotificationAck(200, "text/plain", b"success")
        return NotificationAck(400, "text/plain", b"fail")

    async def download_bill(self, day: date) -> Bill:
        """downloadBill (our proposal, see the simulator): the day's file comes back inside the signed answer.

        respCode 98 (文件不存在: the day is not over) is BillNotReady.
        """
        answer = await self._call("downloadBill", {"billDate": to_wire_date(day)})
        if answer["respCode"] != RespCode.SUCCESS:
            raise error_for(answer)
        return _readable(lambda text: parse_bill(text, day), answer.get("fileContent", ""))

    # ---- transport -----------------------------------------------------------------------------------

    def _order_fields(self, out_trade_no: str, amount_fen: int, description: str) -> dict[str, WireValue]:
        """The fields micropay and unifiedorder share; txnAmt is a JSON number of fen, as jeepay sends it."""
        return {
            "orderNo": out_trade_no,
            "orderTime": to_wire_time(datetime.now(UTC)),
            "txnAmt": amount_fen,
            "currencyCode": CURRENCY_CNY,
            "orderInfo": description,
            "orderType": ORDER_TYPE_UNIONPAY,
        }

    async def _call(self, operation: str, business: Mapping[str, WireValue]) -> dict[str, str]:
        """Sign and POST one request; return the verified answer's fields as text, respCode always present."""
        fields: dict[str, WireValue] = {
            "serProvId": self._config.ser_prov_id,
            "merId": self._config.mer_id,
            **{name: value for name, value in business.items() if value is not None},
        }
        fields["signature"] = sign(fields, self._private_key)
        url = self._config.base_url.rstrip("/") + API_PATH + operation
        try:
            response = await self._http.post(
                url,
                content=encode_message(fields),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self._config.timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise ChannelUnavailable("timeout", f"{operation}: no answer within {self._config.timeout_s} s") from exc
        except httpx.HTTPError as exc:
            raise ChannelUnavailable("http_error", f"{operation}: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ChannelUnavailable(f"http_{response.status_code}", operation)
        try:
            message = decode_message(response.content)
        except ValueError as exc:
            raise ChannelUnavailable("unparseable", f"{operation}: HTTP {response.status_code}, {exc}") from exc
        if not verify(message, self._unionpay_key):
            raise ResponseSignatureInvalid("signature", f"{operation}: the answer's signature does not verify")
        answer = text_fields(message)
        if "respCode" not in answer:
            raise ChannelUnavailable("unreadable_answer", f"{operation}: no respCode")
        return answer


def _term_info(client_ip: str) -> str:
    """termInfo is a JSON object sent as a string."""
    return json.dumps({"ip": client_ip}, separators=(",", ":"))


def _readable(read: Callable[[A], R], value: A) -> R:
    """`read(value)`; a malformed answer becomes ChannelUnavailable, since nothing in it can be trusted."""
    try:
        return read(value)
    except ValueError as exc:
        raise ChannelUnavailable("unreadable_answer", str(exc)) from exc
