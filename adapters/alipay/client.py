"""The Alipay adapter: a client of the OpenAPI gateway (当面付) over an injected httpx.AsyncClient."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import httpx

from adapters.alipay.signing import NOTIFY_UNSIGNED_FIELDS, RSA2, SIGN_TYPE_FIELD, Rsa2Signer, Rsa2Verifier
from adapters.alipay.wire import (
    FORM_CONTENT_TYPE,
    GATEWAY_PATH,
    GATEWAY_REJECTIONS,
    NOTIFY_TYPE,
    QR_CODE_PREFIX,
    REFUND_SUCCESS,
    Code,
    Envelope,
    SubCode,
    decode_form,
    encode_form,
    error_for,
    fen_to_yuan,
    parse_bill,
    parse_envelope,
    request_params,
    to_wire_time,
    trade_result,
    trade_status_of,
    yuan_to_fen,
)
from adapters.protocol import (
    Bill,
    ChannelUnavailable,
    MicropayRequest,
    Notification,
    NotificationAck,
    NotificationInvalid,
    OrderNotFound,
    PrecreateRequest,
    PrecreateResult,
    RefundNotification,
    RefundRequest,
    RefundResult,
    RefundStatus,
    RequestRejected,
    ResponseSignatureInvalid,
    ReverseResult,
    TradeResult,
    TradeStatus,
)

T = TypeVar("T")


@dataclass(frozen=True)
class AlipayConfig:
    """One Alipay app: its id, its private key (signs requests) and Alipay's public key (verifies answers)."""

    base_url: str  # the gateway's root: https://openapi.alipay.com, or a simulator's URL
    app_id: str
    app_private_key: str  # PEM
    alipay_public_key: str  # PEM
    timeout_s: float = 5.0


class AlipayAdapter:
    """Alipay 当面付: bar-code pay, precreate QR, query, cancel, close, refund, refund query, bill."""

    name = "alipay"

    def __init__(self, config: AlipayConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http
        self._signer = Rsa2Signer(config.app_private_key)
        self._verifier = Rsa2Verifier(config.alipay_public_key)
        self._gateway_url = config.base_url.rstrip("/") + GATEWAY_PATH

    async def micropay(self, request: MicropayRequest) -> TradeResult:
        biz = {
            "out_trade_no": request.out_trade_no,
            "scene": "bar_code",
            "auth_code": request.auth_code,
            "subject": request.description,
            "total_amount": _yuan(request.amount_fen),
            "product_code": "FACE_TO_FACE_PAYMENT",
            **_optional(terminal_id=request.terminal_id),
        }
        if request.expires_at is not None:
            biz["time_expire"] = to_wire_time(request.expires_at)
        body = _expect(await self._call("alipay.trade.pay", biz), Code.SUCCESS, Code.PAYING)
        status = TradeStatus.PAID if body["code"] == Code.SUCCESS else TradeStatus.PAYING
        return _parsed(lambda: trade_result(body, status, request.out_trade_no))

    async def precreate(self, request: PrecreateRequest) -> PrecreateResult:
        biz = {
            "out_trade_no": request.out_trade_no,
            "total_amount": _yuan(request.amount_fen),
            "subject": request.description,
            "time_expire": to_wire_time(request.expires_at),
            **_optional(terminal_id=request.terminal_id),
        }
        body = _expect(await self._call("alipay.trade.precreate", biz, request.notify_url), Code.SUCCESS)
        qr_code = body.get("qr_code")
        if not isinstance(qr_code, str) or not qr_code.startswith(QR_CODE_PREFIX):
            raise ChannelUnavailable("malformed-answer", "precreate answered without a qr_code")
        return PrecreateResult(code_url=qr_code)

    async def query(self, out_trade_no: str) -> TradeResult:
        body = await self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if body.get("sub_code") == SubCode.TRADE_NOT_EXIST:
            # A precreated order does not exist at Alipay until the buyer scans it: keep waiting.
            return TradeResult(TradeStatus.NOT_FOUND, out_trade_no, channel_status=SubCode.TRADE_NOT_EXIST.value)
        _expect(body, Code.SUCCESS)
        return _parsed(lambda: trade_result(body, trade_status_of(body), out_trade_no))

    async def reverse(self, out_trade_no: str) -> ReverseResult:
        """alipay.trade.cancel: closes an unpaid trade or refunds a paid one; retry while retry_flag=Y."""
        body = await self._call("alipay.trade.cancel", {"out_trade_no": out_trade_no})
        if body.get("retry_flag") == "Y":
            return ReverseResult(retry=True)
        _expect(body, Code.SUCCESS)
        return ReverseResult(retry=False, action=str(body.get("action", "")))

    async def close(self, out_trade_no: str) -> None:
        _expect(await self._call("alipay.trade.close", {"out_trade_no": out_trade_no}), Code.SUCCESS)

    async def refund(self, request: RefundRequest) -> RefundResult:
        biz = {
            "out_trade_no": request.out_trade_no,
            "refund_amount": _yuan(request.refund_fen),
            "out_request_no": request.out_refund_no,
            **_optional(refund_reason=request.reason, trade_no=request.channel_trade_no),
        }
        body = _expect(await self._call("alipay.trade.refund", biz), Code.SUCCESS)
        # fund_change=Y: this call moved the money. N: nothing moved now (a repeated out_request_no, or a refund
        # still under way); Alipay's advice is to confirm with the refund query, so it is still processing.
        status = RefundStatus.SUCCESS if body.get("fund_change") == "Y" else RefundStatus.PROCESSING
        return RefundResult(request.out_refund_no, status, request.refund_fen)

    async def refund_query(self, out_trade_no: str, out_refund_no: str) -> RefundResult:
        biz = {"out_trade_no": out_trade_no, "out_request_no": out_refund_no}
        body = _expect(await self._call("alipay.trade.fastpay.refund.query", biz), Code.SUCCESS)
        if body.get("refund_status") != REFUND_SUCCESS:
            # Alipay answers a refund it never received (or refused) with a bare success.
            raise OrderNotFound("refund-not-found", f"no refund {out_refund_no} on {out_trade_no}")
        amount = _parsed(lambda: yuan_to_fen(str(body["refund_amount"])))
        return RefundResult(out_refund_no, RefundStatus.SUCCESS, amount)

    def parse_notification(self, body: bytes, content_type: str | None) -> Notification:
        if content_type is not None and not content_type.lower().startswith("application/x-www-form-urlencoded"):
            raise NotificationInvalid("content-type", f"expected a form, got {content_type}")
        try:
            fields = decode_form(body)
        except ValueError as exc:
            raise NotificationInvalid("charset", "notification is not UTF-8") from exc
        if fields.get("app_id") != self._config.app_id:
            raise NotificationInvalid("app-id", "notification is for another app")
        if fields.get(SIGN_TYPE_FIELD) != RSA2 or not self._verifier.verify_params(fields, NOTIFY_UNSIGNED_FIELDS):
            raise NotificationInvalid("signature", "notification signature does not verify")
        if fields.get("notify_type") != NOTIFY_TYPE or not fields.get("out_trade_no"):
            raise NotificationInvalid("shape", "not a trade status notification")
        try:
            trade = trade_result(fields, trade_status_of(fields), fields["out_trade_no"])
        except (KeyError, ValueError) as exc:
            raise NotificationInvalid("shape", f"malformed notification: {exc}") from exc
        return Notification(trade=trade, app_id=fields["app_id"], raw=fields)

    def parse_refund_notification(self, body: bytes, content_type: str | None) -> RefundNotification:
        """Alipay refunds answer at once and have no refund notification of their own: nothing here is one."""
        raise NotificationInvalid("unsupported", "Alipay sends no refund notifications; alipay.trade.refund answers")

    def notification_ack(self, accepted: bool) -> NotificationAck:
        """Alipay stops retrying on the exact text `success`; anything else is a failure."""
        return NotificationAck(200, "text/plain", b"success" if accepted else b"fail")

    async def download_bill(self, day: date) -> Bill:
        """The zipped GBK trade bill for one Beijing day: ask for its link, then fetch it.

        `isp.bill_not_exist` (a day not over yet, or one Alipay has no bill for) is BillNotReady.
        """
        biz = {"bill_type": "trade", "bill_date": day.isoformat()}
        body = _expect(await self._call("alipay.data.dataservice.bill.downloadurl.query", biz), Code.SUCCESS)
        url = body.get("bill_download_url")
        if not isinstance(url, str) or not url:
            raise ChannelUnavailable("malformed-answer", "no bill_download_url")
        response = await self._send(lambda: self._http.get(url, timeout=self._config.timeout_s))
        return _parsed(lambda: parse_bill(response.content, day))

    # ---- HTTP glue -----------------------------------------------------------------------------------

    async def _call(self, method: str, biz: dict[str, Any], notify_url: str | None = None) -> dict[str, Any]:
        """One signed gateway call; the verified answer object, whatever its code."""
        params = self._signer.signed(request_params(self._config.app_id, method, biz, notify_url))
        response = await self._send(
            lambda: self._http.post(
                self._gateway_url,
                content=encode_form(params),
                headers={"Content-Type": FORM_CONTENT_TYPE},
                timeout=self._config.timeout_s,
            )
        )
        envelope = _parsed(lambda: parse_envelope(response.content.decode("utf-8"), method))
        self._check_signature(envelope)
        return envelope.body

    async def _send(self, request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """Run one HTTP exchange; no answer, or an HTTP error status, means the channel is unavailable."""
        try:
            response = await request()
        except httpx.TimeoutException as exc:
            raise ChannelUnavailable("timeout", str(exc) or type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise ChannelUnavailable("transport", str(exc) or type(exc).__name__) from exc
        if response.status_code != 200:
            raise ChannelUnavailable(f"http-{response.status_code}", response.text[:200])
        return response

    def _check_signature(self, envelope: Envelope) -> None:
        """Every answer must be signed, except gateway rejections sent before Alipay knows the caller."""
        if envelope.sign is None:
            if str(envelope.body.get("code")) in GATEWAY_REJECTIONS:
                return
            raise ResponseSignatureInvalid("missing-sign", f"unsigned {envelope.key}")
        if not self._verifier.verify(envelope.signed_text, envelope.sign):
            raise ResponseSignatureInvalid("invalid-sign", f"{envelope.key} signature does not verify")


def _expect(body: dict[str, Any], *codes: Code) -> dict[str, Any]:
    """`body` if its code is one of `codes`, else the typed error it stands for."""
    if str(body.get("code")) not in codes:
        raise error_for(body)
    return body


def _parsed(parse: Callable[[], T]) -> T:
    """Run a parser over an answer; a malformed answer is as good as none."""
    try:
        return parse()
    except (KeyError, ValueError, TypeError) as exc:
        raise ChannelUnavailable("malformed-answer", str(exc)) from exc


def _yuan(fen: int) -> str:
    try:
        return fen_to_yuan(fen)
    except ValueError as exc:
        raise RequestRejected(SubCode.INVALID_PARAMETER, str(exc)) from exc


def _optional(**fields: str | None) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value}
