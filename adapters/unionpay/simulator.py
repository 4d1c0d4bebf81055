"""The 云闪付 simulator: the service-provider JSON API (CHANNELS.md 5B) over a SimBank, signed with UnionPay's key.

Every protocol answer is HTTP 200 with a signed JSON body, as UnionPay answers, except the injected HTTP 500.
Operation names for faults queued through `/_sim/faults`: micropay, precreate (unifiedorder), query, reverse
(closeOrder on a bar-code payment), close (closeOrder on a dynamic order), refund, refund_query, bill.

`downloadBill` is our proposal [P], modelled on ACP's file-transfer transaction: surface B publishes no bill API,
so the day's file (see `wire.render_bill` and docs/bills.md) travels as the `fileContent` field of a signed
answer; a day that is not over yet is respCode 98 (ACP's 文件不存在).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
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
from adapters.simcore.billing import REVOKED, SimBillLine
from adapters.simcore.keys import load_or_create_rsa_key, public_pem
from adapters.simcore.notifier import OutgoingNotification
from adapters.unionpay.client import UnionpayConfig
from adapters.unionpay.signing import WireValue, sign, verify
from adapters.unionpay.wire import (
    API_PATH,
    AUTH_CODE_PATTERN,
    CURRENCY_CNY,
    ORDER_NO_PATTERN,
    ORDER_TYPE_UNIONPAY,
    QR_CODE_LIFETIME,
    RESP_MESSAGES,
    BillRow,
    OrigRespCode,
    RefundOrigRespCode,
    RespCode,
    TxnType,
    decode_message,
    encode_message,
    from_wire_date,
    from_wire_time,
    parse_fen,
    qr_code_url,
    qr_token,
    render_bill,
    text_fields,
    to_wire_time,
)

SIM_SER_PROV_ID = "SP9990000001"
SIM_MER_ID = "777290058110048"  # the merchant number of UnionPay's public ACP test environment
KEY_DIR = Path("keys") / "unionpay"
UNIONPAY_KEY_FILE = "unionpay_sign.pem"  # UnionPay's pair: signs answers and notifications
PROVIDER_KEY_FILE = "service_provider.pem"  # the service provider's pair: signs requests
CODE_PREFIX = "62"
CODE_LENGTH = 19
TRADE_NO_PREFIX = "UP"
JSON_MEDIA_TYPE = "application/json;charset=utf-8"
#: Refunds finish later; the window is not public, so a year like WeChat's is our proposal [P].
REFUND_RULES = RefundRules(asynchronous=True, window=timedelta(days=365))

_OUTCOME_CODES: dict[Outcome, RespCode] = {
    Outcome.PAID: RespCode.SUCCESS,
    Outcome.OK: RespCode.SUCCESS,
    Outcome.PAYING: RespCode.USER_PAYING,
    Outcome.UNKNOWN: RespCode.UNKNOWN,
    Outcome.HTTP_TIMEOUT: RespCode.UNKNOWN,  # what finally comes back, long after the client gave up
    Outcome.HTTP_500: RespCode.UNKNOWN,  # never signed and sent: answered as a bare HTTP 500
    Outcome.RETRY: RespCode.UNKNOWN,  # closeOrder must be called again
    Outcome.INSUFFICIENT_BALANCE: RespCode.INSUFFICIENT_BALANCE,
    Outcome.CODE_EXPIRED: RespCode.AUTH_CODE_EXPIRED,
    Outcome.CODE_INVALID: RespCode.AUTH_CODE_INVALID,
    Outcome.CODE_USED: RespCode.AUTH_CODE_USED,
    Outcome.OUT_TRADE_NO_USED: RespCode.ORIGINAL_MISMATCH,
    Outcome.ORDER_PAID: RespCode.ORIGINAL_STATE_WRONG,
    Outcome.ORDER_CLOSED: RespCode.ORIGINAL_STATE_WRONG,
    Outcome.ORDER_REVERSED: RespCode.ORIGINAL_STATE_WRONG,
    Outcome.NOT_FOUND: RespCode.NOT_FOUND,
    Outcome.REFUND_TOO_MUCH: RespCode.AMOUNT_OVER_LIMIT,
    Outcome.REFUND_NOT_PAID: RespCode.ORIGINAL_STATE_WRONG,
    Outcome.AMOUNT_MISMATCH: RespCode.ORIGINAL_MISMATCH,
    Outcome.REFUND_REJECTED: RespCode.TRANSACTION_REFUSED,
    Outcome.MERCHANT_BALANCE_LOW: RespCode.INSUFFICIENT_BALANCE,
    Outcome.REFUND_OVERDUE: RespCode.OUT_OF_TIME,
    Outcome.REFUND_LIMIT: RespCode.AMOUNT_OVER_LIMIT,
}

_REFUND_ORIG_RESP: dict[SimRefundState, tuple[RefundOrigRespCode, str]] = {
    SimRefundState.SUCCESS: (RefundOrigRespCode.SUCCESS, "退款成功"),
    SimRefundState.FAILED: (RefundOrigRespCode.FAILED, "退款失败"),
    SimRefundState.PROCESSING: (RefundOrigRespCode.PROCESSING, "退款处理中"),
}

#: A micropay repeated with the same orderNo and parameters is a duplicate: the client queries it.
_REPEATED_MICROPAY = frozenset({Outcome.ORDER_PAID, Outcome.ORDER_CLOSED, Outcome.ORDER_REVERSED})

_ORIG_RESP_CODES: dict[SimOrderState, OrigRespCode] = {
    SimOrderState.CREATED: OrigRespCode.UNPAID,
    SimOrderState.PAYING: OrigRespCode.PAYING,
    SimOrderState.SUCCESS: OrigRespCode.PAID,
    SimOrderState.FAILED: OrigRespCode.FAILED,
    SimOrderState.CLOSED: OrigRespCode.CLOSED,
    SimOrderState.REVOKED: OrigRespCode.REVOKED,
}

_ORIG_RESP_MESSAGES: dict[OrigRespCode, str] = {
    OrigRespCode.PAID: "支付成功",
    OrigRespCode.REFUNDED: "转入退款",
    OrigRespCode.UNPAID: "未支付",
    OrigRespCode.CLOSED: "已关闭",
    OrigRespCode.REVOKED: "已撤销",
    OrigRespCode.PAYING: "用户支付中",
    OrigRespCode.FAILED: "支付失败",
}

#: Fields every request carries; each operation adds its own.
_COMMON_REQUIRED = ("serProvId", "merId", "signature")

#: Business fields whose change under the same orderNo makes a different order (orderTime differs per retry).
_MICROPAY_FINGERPRINT = ("txnAmt", "currencyCode", "orderType", "orderInfo", "authCode")
_UNIFIEDORDER_FINGERPRINT = ("txnAmt", "currencyCode", "orderType", "orderInfo", "backUrl")


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _parses(parse: Callable[[str], object]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            parse(text)
        except ValueError:
            return False
        return True

    return check


#: Checks on the shape of any field present, with the code a failure earns.
_FIELD_CHECKS: dict[str, tuple[Callable[[str], bool], RespCode]] = {
    "orderNo": (lambda v: ORDER_NO_PATTERN.fullmatch(v) is not None, RespCode.FORMAT_ERROR),
    "origOrderNo": (lambda v: ORDER_NO_PATTERN.fullmatch(v) is not None, RespCode.FORMAT_ERROR),
    "txnAmt": (lambda v: parse_fen(v) is not None, RespCode.FORMAT_ERROR),
    "origTxnAmt": (lambda v: parse_fen(v) is not None, RespCode.FORMAT_ERROR),
    "orderTime": (_parses(from_wire_time), RespCode.FORMAT_ERROR),
    "payTimeout": (_parses(from_wire_time), RespCode.FORMAT_ERROR),
    "billDate": (_parses(from_wire_date), RespCode.FORMAT_ERROR),
    "currencyCode": (lambda v: v == CURRENCY_CNY, RespCode.FORMAT_ERROR),
    "termInfo": (_is_json_object, RespCode.FORMAT_ERROR),
    "orderType": (lambda v: v == ORDER_TYPE_UNIONPAY, RespCode.NO_PERMISSION),
    "authCode": (lambda v: AUTH_CODE_PATTERN.fullmatch(v) is not None, RespCode.AUTH_CODE_INVALID),
}


@dataclass(frozen=True)
class _Answer:
    """What an operation answers (before the common fields and the signature) and the bank outcome behind it."""

    fields: dict[str, WireValue]
    outcome: Outcome | None = None


@dataclass(frozen=True)
class _Operation:
    required: tuple[str, ...]
    handle: Callable[[dict[str, str]], _Answer]


def _answer(code: RespCode, outcome: Outcome | None = None, /, **fields: WireValue) -> _Answer:
    return _Answer({"respCode": code.value, "respMsg": RESP_MESSAGES[code], **fields}, outcome)


def _fingerprint(operation: str, fields: Mapping[str, str], names: tuple[str, ...]) -> str:
    return "|".join([operation, *(fields.get(name, "") for name in names)])


def _fen(fields: Mapping[str, str], name: str) -> int:
    """An amount field already checked by `_FIELD_CHECKS`."""
    return parse_fen(fields[name]) or 0


@dataclass
class _QrCodes:
    """Dynamic QR URLs handed out, both ways round."""

    by_token: dict[str, str] = field(default_factory=dict)
    by_order: dict[str, str] = field(default_factory=dict)

    def url_for(self, out_trade_no: str) -> str:
        url = self.by_order.get(out_trade_no)
        if url is None:
            token = CODE_PREFIX + "".join(secrets.choice("0123456789") for _ in range(20))
            url = qr_code_url(token)
            self.by_token[token], self.by_order[out_trade_no] = out_trade_no, url
        return url


class UnionpaySimulator(ChannelSimulator):
    """`POST /gateway/api/pay/{operation}` with signed JSON, on top of the shared `/_sim/` control API."""

    #: Not public for surface B: our proposal [P], about WeChat's first steps stretched over ~3.5 h.
    notify_ladder_s = (15.0, 60.0, 300.0, 1800.0, 3600.0, 7200.0)
    #: 0.38 % (CHANNELS.md section 9 quotes 0.38-0.40 %); a refund gives no fee back [P].
    default_fee_rate_bp = 38
    default_refund_returns_fee = False

    def __init__(
        self,
        settings: SimulatorSettings,
        bank: SimBank,
        unionpay_key: rsa.RSAPrivateKey,
        provider_public_key: rsa.RSAPublicKey,
        ser_prov_id: str = SIM_SER_PROV_ID,
        mer_id: str = SIM_MER_ID,
    ) -> None:
        self.ser_prov_id = ser_prov_id
        self.mer_id = mer_id
        self._unionpay_key = unionpay_key
        self._provider_key = provider_public_key
        self._qr_codes = _QrCodes()
        super().__init__(settings, bank)

    # ---- routes --------------------------------------------------------------------------------------

    def protocol_routes(self) -> list[BaseRoute]:
        operations = {
            "micropay": _Operation(
                ("orderNo", "orderTime", "txnAmt", "orderType", "orderInfo", "authCode", "termId", "termInfo"),
                self._micropay,
            ),
            "unifiedorder": _Operation(
                ("orderNo", "orderTime", "txnAmt", "orderType", "orderInfo", "backUrl", "termInfo"),
                self._unifiedorder,
            ),
            "queryOrder": _Operation(("orderNo",), self._query_order),
            "closeOrder": _Operation(("orderNo",), self._close_order),
            "refund": _Operation(("orderNo", "origOrderNo", "origTxnAmt", "txnAmt", "orderTime"), self._refund),
            "refundQuery": _Operation(("orderNo", "origOrderNo"), self._refund_query),
            "downloadBill": _Operation(("billDate",), self._download_bill),
        }
        return [
            Route(API_PATH + name, self._endpoint(operation), methods=["POST"])
            for name, operation in operations.items()
        ]

    def _endpoint(self, operation: _Operation) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            answer = self._dispatch(operation, await request.body())
            await self.before_answer(answer.outcome)
            if answer.outcome is Outcome.HTTP_500:
                return PlainTextResponse("Internal Server Error", status_code=500)
            return Response(encode_message(self._signed(answer.fields)), media_type=JSON_MEDIA_TYPE)

        return endpoint

    def _dispatch(self, operation: _Operation, body: bytes) -> _Answer:
        """Check the request like the channel does (format, presence, signature, merchant, shapes), then run it."""
        try:
            message = decode_message(body)
        except ValueError:
            return _answer(RespCode.FORMAT_ERROR)
        fields = text_fields(message)
        echo: dict[str, WireValue] = {"orderNo": fields.get("orderNo")}
        if any(not fields.get(name) for name in (*_COMMON_REQUIRED, *operation.required)):
            return _answer(RespCode.FIELD_MISSING, **echo)
        if not verify(message, self._provider_key):
            return _answer(RespCode.SIGNATURE_INVALID, **echo)
        if fields["serProvId"] != self.ser_prov_id or fields["merId"] != self.mer_id:
            return _answer(RespCode.MERCHANT_INVALID, **echo)
        for name, (check, code) in _FIELD_CHECKS.items():
            if name in fields and not check(fields[name]):
                return _answer(code, **echo)
        return operation.handle(fields)

    def _signed(self, fields: Mapping[str, WireValue]) -> dict[str, WireValue]:
        message: dict[str, WireValue] = {"serProvId": self.ser_prov_id, "merId": self.mer_id, **fields}
        message["signature"] = sign(message, self._unionpay_key)
        return message

    # ---- operations ----------------------------------------------------------------------------------

    def _micropay(self, fields: dict[str, str]) -> _Answer:
        out_trade_no = fields["orderNo"]
        outcome = self.bank.micropay(
            out_trade_no,
            _fen(fields, "txnAmt"),
            fields["authCode"],
            _fingerprint("micropay", fields, _MICROPAY_FINGERPRINT),
        )
        code = RespCode.DUPLICATE if outcome in _REPEATED_MICROPAY else _OUTCOME_CODES[outcome]
        order = self.bank.orders.get(out_trade_no)
        if order is None or code not in (RespCode.SUCCESS, RespCode.USER_PAYING):
            return _answer(code, outcome, orderNo=out_trade_no)
        return _answer(code, outcome, **self._order_fields(order))

    def _unifiedorder(self, fields: dict[str, str]) -> _Answer:
        expires_at = datetime.now(UTC) + QR_CODE_LIFETIME
        if fields.get("payTimeout"):
            expires_at = min(expires_at, from_wire_time(fields["payTimeout"]))
        outcome, order = self.bank.precreate(
            fields["orderNo"],
            _fen(fields, "txnAmt"),
            _fingerprint("unifiedorder", fields, _UNIFIEDORDER_FINGERPRINT),
            fields["backUrl"],
            expires_at,
        )
        if order is None:
            return _answer(_OUTCOME_CODES[outcome], outcome, orderNo=fields["orderNo"])
        return _answer(
            RespCode.SUCCESS,
            outcome,
            orderNo=order.out_trade_no,
            txnAmt=str(order.amount_fen),
            qrCode=self._qr_codes.url_for(order.out_trade_no),
        )

    def _query_order(self, fields: dict[str, str]) -> _Answer:
        queued = self._queued("query")
        if queued is not None:
            return queued
        order = self.bank.find(fields["orderNo"])
        if order is None:
            return _answer(RespCode.NOT_FOUND, Outcome.NOT_FOUND, orderNo=fields["orderNo"])
        return _answer(RespCode.SUCCESS, Outcome.OK, **self._order_fields(order))

    def _close_order(self, fields: dict[str, str]) -> _Answer:
        """Cancel a bar-code payment (money back if charged) or close a dynamic order; both name the order's state."""
        out_trade_no = fields["orderNo"]
        known = self.bank.orders.get(out_trade_no)
        is_micropay = known is not None and known.kind == "micropay"
        outcome = self.bank.reverse(out_trade_no) if is_micropay else self.bank.close(out_trade_no)
        order = self.bank.orders.get(out_trade_no)
        details = self._order_fields(order) if order is not None else {"orderNo": out_trade_no}
        return _answer(_OUTCOME_CODES[outcome], outcome, **details)

    def _refund(self, fields: dict[str, str]) -> _Answer:
        out_trade_no, out_refund_no = fields["origOrderNo"], fields["orderNo"]
        order = self.bank.find(out_trade_no)
        if order is None:
            return _answer(RespCode.NOT_FOUND, Outcome.NOT_FOUND, orderNo=out_refund_no)
        if _fen(fields, "origTxnAmt") != order.amount_fen:
            return _answer(RespCode.ORIGINAL_MISMATCH, Outcome.AMOUNT_MISMATCH, orderNo=out_refund_no)
        outcome, refund = self.accept_refund(
            out_trade_no, out_refund_no, _fen(fields, "txnAmt"), fields.get("backUrl") or None
        )
        code = _OUTCOME_CODES[outcome]
        if refund is None or code is not RespCode.SUCCESS:
            return _answer(code, outcome, orderNo=out_refund_no)
        return _answer(code, outcome, **_refund_fields(order, refund))  # accepted: refundQuery says how it ends

    def _refund_query(self, fields: dict[str, str]) -> _Answer:
        queued = self._queued("refund_query")
        if queued is not None:
            return queued
        out_trade_no, out_refund_no = fields["origOrderNo"], fields["orderNo"]
        order = self.bank.find(out_trade_no)
        refund = order.refunds.get(out_refund_no) if order is not None else None
        if order is None or refund is None:
            return _answer(RespCode.NOT_FOUND, Outcome.NOT_FOUND, orderNo=out_refund_no)
        orig, message = _REFUND_ORIG_RESP[self.bank.look_at_refund(order, refund)]
        return _answer(
            RespCode.SUCCESS, Outcome.OK, **_refund_fields(order, refund), origRespCode=orig.value, origRespMsg=message
        )

    def _download_bill(self, fields: dict[str, str]) -> _Answer:
        queued = self._queued("bill")
        if queued is not None:
            return queued
        day = from_wire_date(fields["billDate"])
        if not self.bill_exists(day):
            return _answer(RespCode.FILE_NOT_FOUND, None, billDate=fields["billDate"])
        rows = [row for line in self.bills.lines(day) for row in self._bill_rows(line)]
        content = render_bill(self.mer_id, day, rows)
        return _answer(RespCode.SUCCESS, Outcome.OK, billDate=fields["billDate"], fileContent=content)

    # ---- helpers -------------------------------------------------------------------------------------

    def _queued(self, operation: str) -> _Answer | None:
        """A fault a test queued for an operation SimBank does not see (queries and bills)."""
        fault = self.bank.faults.take(operation)
        if fault is None:
            return None
        outcome = Outcome(fault.value)
        return _answer(_OUTCOME_CODES[outcome], outcome)

    def _order_fields(self, order: SimOrder) -> dict[str, WireValue]:
        """How queryOrder, micropay, closeOrder and the notification describe an order."""
        orig = _ORIG_RESP_CODES[order.state]
        if orig is OrigRespCode.PAID and order.refunds:
            orig = OrigRespCode.REFUNDED
        return {
            "orderNo": order.out_trade_no,
            "orderType": ORDER_TYPE_UNIONPAY,
            "txnAmt": str(order.amount_fen),
            "currencyCode": CURRENCY_CNY,
            "transIndex": order.trade_no,
            "origRespCode": orig.value,
            "origRespMsg": _ORIG_RESP_MESSAGES[orig],
            "payTime": to_wire_time(order.paid_at) if order.paid_at else None,
        }

    def _bill_rows(self, line: SimBillLine) -> list[BillRow]:
        """A payment's consume row (and its cancel row when it was cancelled), or a refund's row."""
        account = _masked_account(line.customer_id)
        if line.kind == "refund":
            refund = BillRow(
                line.at,
                TxnType.REFUND,
                line.out_refund_no,
                line.refund_no,
                line.amount_fen,
                line.out_trade_no,
                line.trade_no,
                fee_fen=line.fee_fen,
                account=account,
                orig_txn_time=line.created_at,
            )
            return [refund]
        consume = BillRow(
            line.at,
            TxnType.CONSUME,
            line.out_trade_no,
            line.trade_no,
            line.amount_fen,
            fee_fen=line.fee_fen,
            account=account,
        )
        if line.status != REVOKED:
            return [consume]
        cancel = BillRow(
            line.at,
            TxnType.CONSUME_CANCEL,
            line.out_trade_no,
            line.trade_no,
            line.amount_fen,
            line.out_trade_no,
            line.trade_no,
            account=account,
            orig_txn_time=line.at,
        )
        return [consume, cancel]

    # ---- ChannelSimulator hooks ----------------------------------------------------------------------

    def payment_notification(self, order: SimOrder) -> OutgoingNotification:
        """JSON POST to backUrl, signed afresh per attempt; only HTTP 200 with the body `success` stops it."""

        def build() -> tuple[bytes, str]:
            # a retry after a refund still reports the payment, not the order's later state
            paid = {"origRespCode": OrigRespCode.PAID.value, "origRespMsg": _ORIG_RESP_MESSAGES[OrigRespCode.PAID]}
            return encode_message(self._signed({**self._order_fields(order), **paid})), JSON_MEDIA_TYPE

        return OutgoingNotification(
            url=order.notify_url or "",
            build=build,
            is_ack=lambda status, body: status == 200 and body == b"success",
            reference=order.out_trade_no,
        )

    def refund_notification(self, order: SimOrder, refund: SimRefund) -> OutgoingNotification:
        """JSON POST to the refund's backUrl once it finished, signed afresh per attempt; `success` stops it."""

        def build() -> tuple[bytes, str]:
            orig, message = _REFUND_ORIG_RESP[refund.state]
            fields = {**_refund_fields(order, refund), "origRespCode": orig.value, "origRespMsg": message}
            return encode_message(self._signed(fields)), JSON_MEDIA_TYPE

        return OutgoingNotification(
            url=refund.notify_url or "",
            build=build,
            is_ack=lambda status, body: status == 200 and body == b"success",
            reference=refund.out_refund_no,
        )

    def order_for_code_url(self, code_url: str) -> str | None:
        token = qr_token(code_url)
        return self._qr_codes.by_token.get(token) if token is not None else None


def _masked_account(customer_id: str) -> str:
    """The payer's 19-digit account as the bill shows it: 6217, eleven stars, four digits stable per customer."""
    digest = hashlib.sha256(customer_id.encode()).digest()
    return f"6217{'*' * 11}{int.from_bytes(digest[:4], 'big') % 10_000:04d}"


def _refund_fields(order: SimOrder, refund: SimRefund) -> dict[str, WireValue]:
    """How refund, refundQuery and the refund notification describe a refund (orderNo is the refund number)."""
    return {
        "orderNo": refund.out_refund_no,
        "origOrderNo": order.out_trade_no,
        "txnType": TxnType.REFUND.value,
        "txnAmt": str(refund.amount_fen),
        "transIndex": refund.refund_no,
        "origTransIndex": order.trade_no,
        "refundTime": to_wire_time(refund.at),
    }


def _key_paths(var_dir: Path) -> tuple[Path, Path]:
    return var_dir / KEY_DIR / UNIONPAY_KEY_FILE, var_dir / KEY_DIR / PROVIDER_KEY_FILE


def create_simulator(var_dir: Path, settings: SimulatorSettings | None = None) -> UnionpaySimulator:
    """A simulator whose keys live under `var_dir` (created on first use)."""
    settings = settings or SimulatorSettings()
    unionpay_path, provider_path = _key_paths(var_dir)
    bank = SimBank(settings.bank, lambda: CODE_PREFIX, CODE_LENGTH, TRADE_NO_PREFIX, REFUND_RULES)
    return UnionpaySimulator(
        settings,
        bank,
        unionpay_key=load_or_create_rsa_key(unionpay_path),
        provider_public_key=load_or_create_rsa_key(provider_path).public_key(),
    )


def adapter_config(var_dir: Path, base_url: str) -> UnionpayConfig:
    """The service provider's side of the key pairs the simulator from the same `var_dir` uses."""
    unionpay_path, provider_path = _key_paths(var_dir)
    load_or_create_rsa_key(provider_path)
    return UnionpayConfig(
        base_url=base_url,
        ser_prov_id=SIM_SER_PROV_ID,
        mer_id=SIM_MER_ID,
        private_key_pem=provider_path.read_text(),
        unionpay_public_key_pem=public_pem(load_or_create_rsa_key(unionpay_path)),
    )
