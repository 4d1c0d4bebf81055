"""The WeChat Pay APIv2 adapter: signed XML requests over httpx, every answer turned into a protocol type or error."""

from __future__ import annotations

import gzip
import secrets
import ssl
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

import httpx

from adapters.protocol import (
    Bill,
    BillNotReady,
    ChannelError,
    ChannelUnavailable,
    MicropayRequest,
    Notification,
    NotificationAck,
    NotificationInvalid,
    OrderNotFound,
    OutcomeUnknown,
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
from adapters.wechat.refund_notify import decrypt_req_info
from adapters.wechat.signing import SignType, sign_type_of, signed, verify
from adapters.wechat.wire import (
    ERROR_TYPES,
    FAIL,
    NO_BILL_ERROR_CODE,
    NO_BILL_MESSAGE,
    REFUND_ERROR_TYPES,
    SUCCESS,
    WireFormatError,
    ack_xml,
    bill_date,
    decode_xml,
    encode_xml,
    error_for,
    parse_bill,
    parse_fen,
    refund_index,
    refund_status,
    to_wire_time,
    trade_result,
)

XML_CONTENT_TYPE = "text/xml; charset=utf-8"
GZIP_MAGIC = b"\x1f\x8b"

T = TypeVar("T")


@dataclass(frozen=True)
class WechatConfig:
    """One merchant's WeChat Pay APIv2 credentials and where to reach WeChat.

    `client_cert_path`/`client_key_path` are the merchant's API certificate (apiclient_cert.pem and
    apiclient_key.pem) that the real `/secapi/` endpoints (reverse, refund) demand over TLS.
    """

    base_url: str
    appid: str
    mch_id: str
    api_key: str = field(repr=False)
    timeout_s: float = 5.0
    sign_type: str = SignType.MD5.value
    client_cert_path: str | None = None
    client_key_path: str | None = None


class WechatAdapter:
    """A client of WeChat Pay APIv2 (付款码 micropay and NATIVE orders) for one merchant."""

    name = "wechat"

    def __init__(self, config: WechatConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http
        self._sign_type = SignType(config.sign_type)
        self._certificate_http = _certificate_client(config) or http

    async def aclose(self) -> None:
        """Close the client this adapter made for certificate calls; the injected one belongs to the caller."""
        if self._certificate_http is not self._http:
            await self._certificate_http.aclose()

    # ---- payments ----------------------------------------------------------------------------------------

    async def micropay(self, request: MicropayRequest) -> TradeResult:
        answer = await self._call(
            "pay/micropay",
            {
                "body": request.description,
                "out_trade_no": request.out_trade_no,
                "total_fee": str(request.amount_fen),
                "spbill_create_ip": request.client_ip,
                "auth_code": request.auth_code,
                "device_info": request.terminal_id or "",
                "time_expire": to_wire_time(request.expires_at) if request.expires_at else "",
            },
        )
        if answer.get("err_code") == "USERPAYING":
            return TradeResult(TradeStatus.PAYING, request.out_trade_no, channel_status="USERPAYING")
        _raise_on_failure(answer)
        trade = _read(lambda: trade_result(answer, SUCCESS))
        if trade.amount_fen != request.amount_fen:
            raise OutcomeUnknown("TOTAL_FEE_MISMATCH", f"paid {trade.amount_fen} fen, asked {request.amount_fen}")
        return trade

    async def precreate(self, request: PrecreateRequest) -> PrecreateResult:
        answer = await self._call(
            "pay/unifiedorder",
            {
                "body": request.description,
                "out_trade_no": request.out_trade_no,
                "total_fee": str(request.amount_fen),
                "spbill_create_ip": request.client_ip,
                "notify_url": request.notify_url,
                "trade_type": "NATIVE",
                "product_id": request.out_trade_no,
                "device_info": request.terminal_id or "",
                "time_expire": to_wire_time(request.expires_at),
            },
        )
        _raise_on_failure(answer)
        code_url = answer.get("code_url")
        if not code_url:
            raise ChannelUnavailable("UNPARSEABLE", "unifiedorder answered without code_url")
        return PrecreateResult(code_url)

    async def query(self, out_trade_no: str) -> TradeResult:
        answer = await self._call("pay/orderquery", {"out_trade_no": out_trade_no})
        if answer.get("err_code") == "ORDERNOTEXIST":
            return TradeResult(TradeStatus.NOT_FOUND, out_trade_no, channel_status="ORDERNOTEXIST")
        _raise_on_failure(answer)
        trade_state = answer.get("trade_state")
        if not trade_state:
            raise ChannelUnavailable("UNPARSEABLE", "orderquery answered without trade_state")
        return _read(lambda: trade_result(answer, trade_state))

    async def reverse(self, out_trade_no: str) -> ReverseResult:
        answer = await self._call("secapi/pay/reverse", {"out_trade_no": out_trade_no}, certificate=True)
        if answer.get("recall") == "Y":
            return ReverseResult(retry=True)
        _raise_on_failure(answer)
        return ReverseResult(retry=False)

    async def close(self, out_trade_no: str) -> None:
        answer = await self._call("pay/closeorder", {"out_trade_no": out_trade_no})
        if answer.get("err_code") == "ORDERCLOSED":
            return  # closed already (by us, by expiry or by a reverse): what we asked for
        _raise_on_failure(answer)

    # ---- refunds -----------------------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundResult:
        answer = await self._call(
            "secapi/pay/refund",
            {
                "transaction_id": request.channel_trade_no or "",
                "out_trade_no": request.out_trade_no,
                "out_refund_no": request.out_refund_no,
                "total_fee": str(request.total_fen),
                "refund_fee": str(request.refund_fen),
                "refund_desc": request.reason,
                "notify_url": request.notify_url or "",
            },
            certificate=True,
        )
        _raise_on_failure(answer, REFUND_ERROR_TYPES)
        refund_fen = _read(lambda: parse_fen(answer.get("refund_fee"), "refund_fee"))
        if refund_fen != request.refund_fen:
            raise OutcomeUnknown("REFUND_FEE_MISMATCH", f"accepted {refund_fen} fen, asked {request.refund_fen}")
        # WeChat's answer means "accepted"; the refund itself finishes later (refund query tells).
        return RefundResult(request.out_refund_no, RefundStatus.PROCESSING, refund_fen, answer.get("refund_id"))

    async def refund_query(self, out_trade_no: str, out_refund_no: str) -> RefundResult:
        answer = await self._call("pay/refundquery", {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no})
        _raise_on_failure(answer, REFUND_ERROR_TYPES)
        n = _read(lambda: refund_index(answer, out_refund_no))
        if n is None:
            raise OrderNotFound("REFUNDNOTEXIST", f"refund query answer does not list {out_refund_no}")
        return RefundResult(
            out_refund_no,
            refund_status(answer.get(f"refund_status_{n}", "")),
            _read(lambda: parse_fen(answer.get(f"refund_fee_{n}"), f"refund_fee_{n}")),
            answer.get(f"refund_id_{n}"),
        )

    # ---- notifications -----------------------------------------------------------------------------------

    def parse_notification(self, body: bytes, content_type: str | None) -> Notification:
        fields = self._notification_envelope(body)
        try:
            sign_type = sign_type_of(fields)
        except ValueError as exc:
            raise NotificationInvalid("SIGNERROR", "unknown sign_type") from exc
        if not verify(fields, self._config.api_key, sign_type):
            raise NotificationInvalid("SIGNERROR", "notification signature does not verify")
        if not fields.get("out_trade_no"):
            raise NotificationInvalid("LACK_PARAMS", "notification has no out_trade_no")
        channel_status = SUCCESS if fields.get("result_code") == SUCCESS else "PAYERROR"
        try:
            trade = trade_result(fields, channel_status)
        except WireFormatError as exc:
            raise NotificationInvalid("PARAM_ERROR", str(exc)) from exc
        return Notification(trade, app_id=fields["appid"], raw=fields)

    def parse_refund_notification(self, body: bytes, content_type: str | None) -> RefundNotification:
        """A refund result notification: unsigned, its `req_info` decrypted with the key made from the API key.

        Only this merchant's key decrypts it to a well-formed `<root>`, which is what authenticates it.
        """
        envelope = self._notification_envelope(body)
        if not envelope.get("req_info"):
            raise NotificationInvalid("LACK_PARAMS", "refund notification has no req_info")
        try:
            fields = decrypt_req_info(envelope["req_info"], self._config.api_key)
            refund_fen = parse_fen(fields.get("refund_fee"), "refund_fee")
        except WireFormatError as exc:
            raise NotificationInvalid("REQ_INFO_INVALID", str(exc)) from exc
        if not fields.get("out_trade_no") or not fields.get("out_refund_no"):
            raise NotificationInvalid("LACK_PARAMS", "refund notification lacks out_trade_no or out_refund_no")
        return RefundNotification(
            out_trade_no=fields["out_trade_no"],
            out_refund_no=fields["out_refund_no"],
            status=refund_status(fields.get("refund_status", "")),
            refund_fen=refund_fen,
            channel_refund_no=fields.get("refund_id") or None,
            channel_trade_no=fields.get("transaction_id") or None,
            raw=fields,
        )

    def _notification_envelope(self, body: bytes) -> dict[str, str]:
        """The fields of a notification that says SUCCESS and names this merchant; NotificationInvalid if not."""
        try:
            fields = decode_xml(body)
        except WireFormatError as exc:
            raise NotificationInvalid("XML_FORMAT_ERROR", str(exc)) from exc
        if fields.get("return_code") != SUCCESS:
            raise NotificationInvalid("RETURN_FAIL", fields.get("return_msg", "return_code is not SUCCESS"))
        if fields.get("appid") != self._config.appid or fields.get("mch_id") != self._config.mch_id:
            raise NotificationInvalid("APPID_MCHID_NOT_MATCH", "notification is for another merchant")
        return fields

    def notification_ack(self, accepted: bool) -> NotificationAck:
        return NotificationAck(200, "text/xml", ack_xml(accepted))

    # ---- the daily bill ----------------------------------------------------------------------------------

    async def download_bill(self, day: date) -> Bill:
        """The day's ALL bill, asked for gzipped; WeChat's `No Bill Exist` (20002) is BillNotReady."""
        fields = {"bill_date": bill_date(day), "bill_type": "ALL", "tar_type": "GZIP"}
        content = (await self._post("pay/downloadbill", fields)).content
        if content.startswith(GZIP_MAGIC):
            content = _read(lambda: _gunzip(content))
        elif content.lstrip().startswith(b"<"):  # a refusal is XML, even when GZIP was asked for
            answer = _read(lambda: decode_xml(content))
            if answer.get("return_code") == FAIL and (
                answer.get("error_code") == NO_BILL_ERROR_CODE or answer.get("return_msg") == NO_BILL_MESSAGE
            ):
                raise BillNotReady(NO_BILL_ERROR_CODE, f"WeChat has no bill for {day}")
            _raise_on_failure(self._verified(answer))
            raise ChannelUnavailable("UNPARSEABLE", "downloadbill answered XML without a failure")
        return _read(lambda: parse_bill(content.decode("utf-8"), day))

    # ---- transport ---------------------------------------------------------------------------------------

    async def _call(self, path: str, business: dict[str, str], certificate: bool = False) -> dict[str, str]:
        """POST a signed request; the verified answer of a return_code=SUCCESS response."""
        response = await self._post(path, business, certificate)
        return self._verified(_read(lambda: decode_xml(response.content)))

    async def _post(self, path: str, business: dict[str, str], certificate: bool = False) -> httpx.Response:
        fields = {
            "appid": self._config.appid,
            "mch_id": self._config.mch_id,
            "nonce_str": secrets.token_hex(16),
            "sign_type": self._sign_type.value,
            **{name: value for name, value in business.items() if value},
        }
        body = encode_xml(signed(fields, self._config.api_key, self._sign_type))
        http = self._certificate_http if certificate else self._http
        url = f"{self._config.base_url.rstrip('/')}/{path}"
        try:
            response = await http.post(
                url, content=body, headers={"Content-Type": XML_CONTENT_TYPE}, timeout=self._config.timeout_s
            )
        except httpx.HTTPError as exc:
            raise ChannelUnavailable("NETWORK", f"{type(exc).__name__} calling {path}") from exc
        if response.status_code != 200:
            raise ChannelUnavailable(f"HTTP_{response.status_code}", f"{path} answered HTTP {response.status_code}")
        return response

    def _verified(self, answer: dict[str, str]) -> dict[str, str]:
        """Check the envelope: FAIL is a refusal, SUCCESS must carry a valid signature and a result_code."""
        return_code = answer.get("return_code")
        if return_code == FAIL:
            raise RequestRejected(FAIL, answer.get("return_msg", ""))
        if return_code != SUCCESS or answer.get("result_code") not in (SUCCESS, FAIL):
            raise ChannelUnavailable("UNPARSEABLE", "answer has no return_code/result_code")
        # WeChat signs answers with the sign type of the request.
        if not verify(answer, self._config.api_key, self._sign_type):
            raise ResponseSignatureInvalid("SIGNERROR", "answer signature does not verify")
        return answer


def _raise_on_failure(answer: dict[str, str], types: Mapping[str, type[ChannelError]] = ERROR_TYPES) -> None:
    if answer.get("result_code") != SUCCESS:
        raise error_for(answer.get("err_code", ""), answer.get("err_code_des", ""), types)


def _read(parse: Callable[[], T]) -> T:
    """Run a parser over an answer; a malformed answer is as good as no answer."""
    try:
        return parse()
    except (WireFormatError, UnicodeDecodeError) as exc:
        raise ChannelUnavailable("UNPARSEABLE", str(exc)) from exc


def _gunzip(content: bytes) -> bytes:
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as exc:
        raise WireFormatError(f"the gzipped bill does not decompress: {exc}") from exc


def _certificate_client(config: WechatConfig) -> httpx.AsyncClient | None:
    """A client presenting the merchant's API certificate, when one is configured."""
    if not config.client_cert_path:
        return None
    context = ssl.create_default_context()
    context.load_cert_chain(config.client_cert_path, config.client_key_path)
    return httpx.AsyncClient(verify=context, timeout=config.timeout_s)
