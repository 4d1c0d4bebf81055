"""The Alipay OpenAPI simulator: `/gateway.do` speaking 当面付 over a SimBank, RSA2 notifications and the trade bill."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.alipay.client import AlipayConfig
from adapters.alipay.signing import (
    NOTIFY_UNSIGNED_FIELDS,
    RSA2,
    Rsa2Signer,
    Rsa2Verifier,
    link_token,
    link_token_valid,
    signing_string,
)
from adapters.alipay.wire import (
    AUTH_CODE_PATTERN,
    BILL_PATH,
    ERROR_RESPONSE_KEY,
    FORM_CONTENT_TYPE,
    GATEWAY_PATH,
    MAX_FEN,
    MIN_FEN,
    NOTIFY_TYPE,
    QR_CODE_PREFIX,
    REFUND_SUCCESS,
    ZERO_YUAN,
    BillLine,
    Code,
    SubCode,
    WireTradeStatus,
    answer,
    bill_archive_name,
    compact_json,
    decode_form,
    encode_form,
    fen_to_yuan,
    from_wire_time,
    render_bill,
    render_response,
    response_key,
    to_wire_time,
    yuan_to_fen,
)
from adapters.simcore.app import ChannelSimulator, SimulatorSettings
from adapters.simcore.bank import Outcome, RefundRules, SimBank, SimOrder, SimOrderState, SimRefundState
from adapters.simcore.billing import REVOKED
from adapters.simcore.faults import OperationFault
from adapters.simcore.keys import load_or_create_rsa_key, public_pem
from adapters.simcore.notifier import OutgoingNotification

SIM_APP_ID = "2021000100000001"
SIM_SELLER_ID = "2088000000000001"  # the merchant's PID, shown in notifications and bills
CODE_LENGTH = 18  # Alipay codes are 16-24 digits starting 25-30 (AUTH_CODE_PATTERN); the simulator issues 18
QR_CODE_TTL = timedelta(hours=2)  # an unscanned precreate QR lives 2 h
BILL_LINK_TTL_S = 30.0  # Alipay's bill links expire after 30 s
_TIMEOUT_EXPRESS = re.compile(r"([1-9]\d*)([mhd])")
_TIMEOUT_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_VISIBLE_STATES = (SimOrderState.CREATED, SimOrderState.PAYING)
#: Refunds answer at once, within the contract's refund window: 3 months by default, read as 90 days.
REFUND_RULES = RefundRules(asynchronous=False, window=timedelta(days=90))

#: Common parameters the gateway requires, in the order it checks them.
_REQUIRED_COMMON = (
    ("method", SubCode.MISSING_METHOD),
    ("app_id", SubCode.MISSING_APP_ID),
    ("sign_type", SubCode.MISSING_SIGNATURE_TYPE),
    ("sign", SubCode.MISSING_SIGNATURE),
    ("timestamp", SubCode.MISSING_TIMESTAMP),
    ("version", SubCode.MISSING_VERSION),
)

#: How a bank outcome that is a refusal reads on the wire; the pay method has its own reading of a few.
_FAILURES: dict[Outcome, SubCode] = {
    Outcome.UNKNOWN: SubCode.SYSTEM_ERROR,
    Outcome.HTTP_TIMEOUT: SubCode.SYSTEM_ERROR,  # answered after the hang, when nobody listens any more
    Outcome.RETRY: SubCode.SYSTEM_ERROR,
    Outcome.NOT_FOUND: SubCode.TRADE_NOT_EXIST,
    Outcome.OUT_TRADE_NO_USED: SubCode.CONTEXT_INCONSISTENT,
    Outcome.AMOUNT_MISMATCH: SubCode.DISCORDANT_REPEAT_REQUEST,
    Outcome.ORDER_PAID: SubCode.TRADE_STATUS_ERROR,
    Outcome.ORDER_CLOSED: SubCode.TRADE_STATUS_ERROR,
    Outcome.ORDER_REVERSED: SubCode.TRADE_STATUS_ERROR,
    Outcome.REFUND_NOT_PAID: SubCode.TRADE_STATUS_ERROR,
    Outcome.REFUND_TOO_MUCH: SubCode.REASON_TRADE_REFUND_FEE_ERR,
    Outcome.REFUND_REJECTED: SubCode.REASON_TRADE_BEEN_FREEZEN,
    Outcome.MERCHANT_BALANCE_LOW: SubCode.SELLER_BALANCE_NOT_ENOUGH,
    Outcome.REFUND_OVERDUE: SubCode.TRADE_NOT_ALLOW_REFUND,
    Outcome.INSUFFICIENT_BALANCE: SubCode.BUYER_BALANCE_NOT_ENOUGH,
    Outcome.CODE_EXPIRED: SubCode.PAYMENT_AUTH_CODE_INVALID,
    Outcome.CODE_INVALID: SubCode.PAYMENT_AUTH_CODE_INVALID,
    Outcome.CODE_USED: SubCode.PAYMENT_AUTH_CODE_INVALID,
}
_PAY_FAILURES = {
    **_FAILURES,
    Outcome.ORDER_PAID: SubCode.TRADE_HAS_SUCCESS,
    Outcome.ORDER_CLOSED: SubCode.TRADE_HAS_CLOSE,
    Outcome.ORDER_REVERSED: SubCode.TRADE_HAS_CLOSE,
}

Body = dict[str, Any]
Handler = Callable[[Body, dict[str, str], Request], tuple[Outcome | None, Body]]


class _Refusal(Exception):
    """A request the gateway refuses before touching the books; carries the answer."""

    def __init__(self, body: Body) -> None:
        super().__init__(body.get("sub_code", body["code"]))
        self.body = body


class AlipaySimulator(ChannelSimulator):
    """Alipay's gateway: every answer signed with the Alipay key, every request checked with the app key."""

    notify_ladder_s = (240, 600, 600, 3600, 7200, 21600, 54000)

    def __init__(
        self,
        settings: SimulatorSettings,
        bank: SimBank,
        app_id: str,
        app_public_key_pem: str,
        alipay_private_key_pem: str,
    ) -> None:
        self.app_id = app_id
        self._app_verifier = Rsa2Verifier(app_public_key_pem)
        self._alipay_signer = Rsa2Signer(alipay_private_key_pem)
        self._link_secret = secrets.token_bytes(32)
        self._qr_orders: dict[str, str] = {}  # qr token -> out_trade_no
        self._subjects: dict[str, str] = {}  # out_trade_no -> subject, for notifications and the bill
        self._terminals: dict[str, str] = {}  # out_trade_no -> terminal_id, for the bill
        self._handlers: dict[str, Handler] = {
            "alipay.trade.pay": self._pay,
            "alipay.trade.precreate": self._precreate,
            "alipay.trade.query": self._query,
            "alipay.trade.cancel": self._cancel,
            "alipay.trade.close": self._close,
            "alipay.trade.refund": self._refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
            "alipay.data.dataservice.bill.downloadurl.query": self._bill_url,
        }
        super().__init__(settings, bank)

    def protocol_routes(self) -> list[BaseRoute]:
        return [
            Route(GATEWAY_PATH, self._gateway, methods=["GET", "POST"]),
            Route(BILL_PATH, self._download_bill, methods=["GET"]),
        ]

    # ---- the gateway ---------------------------------------------------------------------------------

    async def _gateway(self, request: Request) -> Response:
        """Alipay takes the parameters from the query string, the form body, or both (the SDKs differ)."""
        try:
            params = decode_form(request.scope["query_string"])
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                params.update(decode_form(await request.body()))
        except ValueError:
            return self._unsigned(answer(Code.INVALID_ARGUMENT, SubCode.INVALID_CHARSET))
        rejection = self._gateway_rejection(params)
        if rejection is not None:
            await self.before_answer()
            return self._unsigned(rejection)
        method = params["method"]
        try:
            outcome, body = self._handlers[method](_biz_content(params), params, request)
        except _Refusal as refusal:
            outcome, body = None, refusal.body
        await self.before_answer(outcome)
        if outcome is Outcome.HTTP_500:
            return PlainTextResponse("Internal Server Error", status_code=500)
        return _json(render_response(response_key(method), body, self._alipay_signer))

    def _gateway_rejection(self, params: dict[str, str]) -> Body | None:
        """The gateway's own checks, before any business logic: names, app, charset, format, signature."""
        for name, sub_code in _REQUIRED_COMMON:
            if not params.get(name):
                return answer(Code.MISSING_ARGUMENT, sub_code)
        checks = (
            (params["method"] in self._handlers, SubCode.INVALID_METHOD),
            (params["app_id"] == self.app_id, SubCode.INVALID_APP_ID),
            (params["sign_type"] == RSA2, SubCode.INVALID_SIGNATURE_TYPE),
            (params.get("charset", "utf-8").lower() == "utf-8", SubCode.INVALID_CHARSET),
            (params.get("format", "JSON").upper() == "JSON", SubCode.INVALID_FORMAT),
            (_is_wire_time(params["timestamp"]), SubCode.INVALID_TIMESTAMP),
            (self._app_verifier.verify_params(params), SubCode.INVALID_SIGNATURE),
        )
        for passed, sub_code in checks:
            if not passed:
                return answer(Code.INVALID_ARGUMENT, sub_code)
        return None

    def _unsigned(self, body: Body) -> Response:
        """Gateway rejections come back as an unsigned `error_response`: the caller is not authenticated."""
        return _json(render_response(ERROR_RESPONSE_KEY, body, None))

    # ---- alipay.trade.pay ----------------------------------------------------------------------------

    def _pay(self, biz: Body, _params: dict[str, str], _request: Request) -> tuple[Outcome | None, Body]:
        out_trade_no, auth_code, subject = (_required(biz, name) for name in ("out_trade_no", "auth_code", "subject"))
        amount_fen = _amount(biz, "total_amount")
        if _text(biz, "scene") not in ("bar_code", "wave_code"):
            raise _Refusal(_invalid("scene must be bar_code or wave_code"))
        if not AUTH_CODE_PATTERN.fullmatch(auth_code):
            raise _Refusal(answer(Code.BUSINESS_FAILED, SubCode.PAYMENT_AUTH_CODE_INVALID))
        fingerprint = compact_json(["pay", amount_fen, subject])
        outcome = self.bank.micropay(out_trade_no, amount_fen, auth_code, fingerprint)
        order = self.bank.orders.get(out_trade_no)
        if order is not None:
            self._remember(order, subject, _text(biz, "terminal_id"))
        if outcome is Outcome.PAID and order is not None:
            return outcome, answer(Code.SUCCESS, **self._paid_fields(order))
        if outcome is Outcome.PAYING and order is not None:
            return outcome, answer(Code.PAYING, **self._trade_fields(order))
        if outcome in (Outcome.UNKNOWN, Outcome.HTTP_TIMEOUT):
            return outcome, answer(Code.UNKNOWN, SubCode.UNKNOW_ERROR)
        return outcome, _failure(outcome, _PAY_FAILURES)

    # ---- alipay.trade.precreate ----------------------------------------------------------------------

    def _precreate(self, biz: Body, params: dict[str, str], _request: Request) -> tuple[Outcome | None, Body]:
        out_trade_no, subject = _required(biz, "out_trade_no"), _required(biz, "subject")
        amount_fen = _amount(biz, "total_amount")
        expires_at = _order_expiry(biz)
        fingerprint = compact_json(["precreate", amount_fen, subject])
        outcome, order = self.bank.precreate(
            out_trade_no, amount_fen, fingerprint, params.get("notify_url", ""), expires_at
        )
        if outcome is not Outcome.OK or order is None:
            return outcome, _failure(outcome, _PAY_FAILURES)
        self.bank.advance(order)
        if order.state is not SimOrderState.CREATED:  # a repeat of an order that was paid or closed meanwhile
            paid = order.state is SimOrderState.SUCCESS
            return outcome, _failure(Outcome.ORDER_PAID if paid else Outcome.ORDER_CLOSED, _PAY_FAILURES)
        self._remember(order, subject, _text(biz, "terminal_id"))
        token = "bax" + link_token(self._link_secret, "qr:" + out_trade_no)[:21]
        self._qr_orders[token] = out_trade_no
        return outcome, answer(Code.SUCCESS, out_trade_no=out_trade_no, qr_code=QR_CODE_PREFIX + token)

    def order_for_code_url(self, code_url: str) -> str | None:
        if not code_url.startswith(QR_CODE_PREFIX):
            return None
        return self._qr_orders.get(code_url.removeprefix(QR_CODE_PREFIX))

    # ---- alipay.trade.query / cancel / close ---------------------------------------------------------

    def _query(self, biz: Body, _params: dict[str, str], _request: Request) -> tuple[Outcome | None, Body]:
        queued = self._queued_fault("query")
        if queued is not None:
            return queued, _failure(queued, _FAILURES)
        order = self._locate(biz)
        if order is None:
            return Outcome.NOT_FOUND, _failure(Outcome.NOT_FOUND, _FAILURES)
        fields = {
            **self._trade_fields(order),
            "trade_status": self._wire_status(order).value,
            **self._settled_amounts(order),
        }
        if order.paid_at is not None:
            fields["send_pay_date"] = to_wire_time(order.paid_at)
        return Outcome.OK, answer(Code.SUCCESS, **fields)

    def _cancel(self, biz: Body, _params: dict[str, str], _request: Request) -> tuple[Outcome | None, Body]:
        order = self._locate(biz)
        if order is None:
            return Outcome.NOT_FOUND, _failure(Outcome.NOT_FOUND, _FAILURES, retry_flag="N")
        outcome = self.bank.reverse(order.out_trade_no)
        if outcome is Outcome.OK:
            action = "refund" if order.paid_at is not None else "close"
            ids = {"trade_no": order.trade_no, "out_trade_no": order.out_trade_no}
            return outcome, answer(Code.SUCCESS, **ids, retry_flag="N", action=action)
        retry = outcome in (Outcome.RETRY, Outcome.UNKNOWN, Outcome.HTTP_TIMEOUT)
        return outcome, _failure(outcome, _FAILURES, retry_flag="Y" if retry else "N")

    def _close(self, biz: Body, _params: dict[str, str], _request: Request) -> tuple[Outcome | None, Body]:
        order = self._locate(biz)
        if order is None:
            return Outcome.NOT_FOUND, _failure(Outcome.NOT_FOUND, _FAILURES)
        if order.state not in _VISIBLE_STATES:  # only WAIT_BUYER_PAY trades can be closed
            return None, answer(Code.BUSINESS_FAILED, SubCode.TRADE_STATUS_ERROR)
        outcome = self.bank.close(order.out_trade_no)
        if outcome is Outcome.OK:
            return outcome, answer(Code.SUCCESS, trade_no=order.trade_no, out_trade_no=order.out_trade_no)
        return outcome, _failure(outcome, _FAILURES)

    # ---- refunds -------------------------------------------------------------------------------------

    def _refund(self, biz: Body, _params: dict[str, str], _request: Request) -> tuple[Outcome | None, Body]:
        refund_fen = _amount(biz, "refund_amount")
        order = self._locate(biz)
        if order is None:
            return Outcome.NOT_FOUND, _failure(Outcome.NOT_FOUND, _FAILURES)
        out_request_no = _text(biz, "out_request_no")
        if out_request_no is None:
            # Without a request number Alipay only takes a full refund, numbered by the out_trade_no.
            if refund_fen != order.amount_fen:
                return None, answer(Code.BUSINESS_FAILED, SubCode.REFUND_AMT_NOT_EQUAL_TOTAL)
            out_request_no = order.out_trade_no
        outcome, refund = self.accept_refund(order.out_trade_no, out_request_no, refund_fen)
        if outcome not in (Outcome.PAID, Outcome.OK) or refund is None:
            return outcome, _failure(outcome, _FAILURES)
        return outcome, answer(
            Code.SUCCESS,
            **self._trade_fields(order),
            fund_change="Y" if outcome is Outcome.PAID else "N",  # a repeated request number moves nothing
            refund_fee=fen_to_yuan(order.refunded_fen),  # Alipay reports the trade's refunded total
            send_back_fee=fen_to_yuan(refund.amount_fen),
            gmt_refund_pay=to_wire_time(refund.at),
        )

    def _refund_query(self, biz: Body, _params: dict[str, str], _request: Request) -> tuple[Outcome | None, Body]:
        out_request_no = _required(biz, "out_request_no")
        queued = self._queued_fault("refund_query")
        if queued is not None:
            return queued, _failure(queued, _FAILURES)
        order = self._locate(biz)
        if order is None:
            return Outcome.NOT_FOUND, _failure(Outcome.NOT_FOUND, _FAILURES)
        ids = {"trade_no": order.trade_no, "out_trade_no": order.out_trade_no, "out_request_no": out_request_no}
        refund = order.refunds.get(out_request_no)
        if refund is None or self.bank.look_at_refund(order, refund) is not SimRefundState.SUCCESS:
            # Alipay's way of saying "no such refund" (never received, or refused): success without refund fields
            return Outcome.OK, answer(Code.SUCCESS, **ids)
        return Outcome.OK, answer(
            Code.SUCCESS,
            **ids,
            total_amount=fen_to_yuan(order.amount_fen),
            refund_amount=fen_to_yuan(refund.amount_fen),
            refund_status=REFUND_SUCCESS,
            gmt_refund_pay=to_wire_time(refund.at),
        )

    # ---- the bill ------------------------------------------------------------------------------------

    def _bill_url(self, biz: Body, _params: dict[str, str], request: Request) -> tuple[Outcome | None, Body]:
        if _text(biz, "bill_type") != "trade":
            raise _Refusal(_invalid("bill_type must be trade"))
        try:
            day = date.fromisoformat(_required(biz, "bill_date"))
        except ValueError:
            raise _Refusal(_invalid("bill_date must be yyyy-MM-dd")) from None
        queued = self._queued_fault("download_bill")
        if queued is not None:
            return queued, _failure(queued, _FAILURES)
        if not self.bill_exists(day):  # only days that are over (CHANNELS.md section 9)
            return None, answer(Code.BUSINESS_FAILED, SubCode.BILL_NOT_EXIST)
        stamp = str(int(time.time() * 1000))
        query = {
            "bizType": "trade",
            "userId": SIM_SELLER_ID,
            "fileType": "csv.zip",
            "bizDates": f"{day:%Y%m%d}",
            "downloadFileName": bill_archive_name(SIM_SELLER_ID, day),
            "timestamp": stamp,
            "token": link_token(self._link_secret, f"bill:{day:%Y%m%d}:{stamp}"),
        }
        url = request.url.replace(
            path=request.scope.get("root_path", "") + BILL_PATH, query=encode_form(query).decode()
        )
        return Outcome.OK, answer(Code.SUCCESS, bill_download_url=str(url))

    async def _download_bill(self, request: Request) -> Response:
        query = request.query_params
        day_text, stamp = query.get("bizDates", ""), query.get("timestamp", "")
        authentic = link_token_valid(self._link_secret, f"bill:{day_text}:{stamp}", query.get("token", ""))
        if not authentic or not stamp.isdigit() or time.time() - int(stamp) / 1000 > BILL_LINK_TTL_S:
            return PlainTextResponse("链接已失效", status_code=403)
        day = datetime.strptime(day_text, "%Y%m%d").date()
        archive = render_bill(SIM_SELLER_ID, day, self._bill_lines(day), datetime.now(UTC))
        disposition = f'attachment; filename="{bill_archive_name(SIM_SELLER_ID, day)}"'
        return Response(archive, media_type="application/zip", headers={"Content-Disposition": disposition})

    def _bill_lines(self, day: date) -> list[BillLine]:
        """The day's lines; a cancelled payment is its trade line and a refund line marked as a cancel."""
        lines = []
        for line in self.bills.lines(day):
            row = BillLine(
                kind=line.kind,
                trade_no=line.trade_no,
                out_trade_no=line.out_trade_no,
                subject=self._subjects.get(line.out_trade_no, ""),
                created_at=line.created_at,
                finished_at=line.at,
                buyer_logon_id=_user_ids(line.customer_id)[1],
                order_fen=line.amount_fen,
                amount_fen=line.amount_fen,
                out_request_no=line.out_refund_no,
                terminal_id=self._terminals.get(line.out_trade_no, ""),
                fee_fen=line.fee_fen,
            )
            lines.append(row)
            if line.kind == "payment" and line.status == REVOKED:
                lines.append(replace(row, kind="cancel", out_request_no="", fee_fen=0))
        return lines

    # ---- notifications -------------------------------------------------------------------------------

    def payment_notification(self, order: SimOrder) -> OutgoingNotification:
        return OutgoingNotification(
            url=order.notify_url or "",
            build=lambda: (self._notification_body(order), FORM_CONTENT_TYPE),
            is_ack=lambda status, body: status == 200 and body == b"success",
            reference=order.out_trade_no,
        )

    def _notification_body(self, order: SimOrder) -> bytes:
        """Built per attempt: a fresh notify_id and notify_time, and the trade as it is now."""
        trade = self._trade_fields(order)
        fields = {
            "notify_time": to_wire_time(datetime.now(UTC)),
            "notify_type": NOTIFY_TYPE,
            "notify_id": secrets.token_hex(16),
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": RSA2,
            "trade_no": order.trade_no,
            "out_trade_no": order.out_trade_no,
            "trade_status": self._wire_status(order).value,
            "total_amount": trade["total_amount"],
            **self._settled_amounts(order),
            "subject": self._subjects.get(order.out_trade_no, ""),
            "gmt_create": to_wire_time(order.created_at),
            "gmt_payment": to_wire_time(order.paid_at) if order.paid_at is not None else "",
            "buyer_id": trade["buyer_user_id"],
            "buyer_logon_id": trade["buyer_logon_id"],
            "seller_id": SIM_SELLER_ID,
            "fund_bill_list": compact_json([{"amount": trade["total_amount"], "fundChannel": "ALIPAYACCOUNT"}]),
        }
        present = {name: value for name, value in fields.items() if value}
        present["sign"] = self._alipay_signer.sign(signing_string(present, NOTIFY_UNSIGNED_FIELDS))
        return encode_form(present)

    # ---- helpers -------------------------------------------------------------------------------------

    def _queued_fault(self, operation: str) -> Outcome | None:
        """Faults for operations the bank does not run itself (query, refund query, bill).

        These only read, so a lost answer is no different from an unknown one.
        """
        fault = self.bank.faults.take(operation)
        if fault is None:
            return None
        return Outcome.UNKNOWN if fault is OperationFault.ANSWER_LOST else Outcome(fault.value)

    def _remember(self, order: SimOrder, subject: str, terminal_id: str | None) -> None:
        self._subjects.setdefault(order.out_trade_no, subject)
        if terminal_id:
            self._terminals.setdefault(order.out_trade_no, terminal_id)

    def _locate(self, biz: Body) -> SimOrder | None:
        """The trade named by out_trade_no or trade_no, as Alipay sees it: a precreate exists once scanned."""
        out_trade_no, trade_no = _text(biz, "out_trade_no"), _text(biz, "trade_no")
        if out_trade_no is None and trade_no is None:
            raise _Refusal(_invalid("out_trade_no or trade_no is required"))
        if out_trade_no is not None:
            order = self.bank.find(out_trade_no)
        else:
            order = next((o for o in self.bank.orders.values() if o.trade_no == trade_no), None)
            if order is not None:
                self.bank.advance(order)
        if order is None or (trade_no is not None and order.trade_no != trade_no):
            return None
        return order if order.kind == "micropay" or order.scanned else None

    def _wire_status(self, order: SimOrder) -> WireTradeStatus:
        if order.state is SimOrderState.SUCCESS:
            if order.refunded_fen >= order.amount_fen:
                return WireTradeStatus.TRADE_CLOSED
            finished = self.bank.refund_window_over(order)  # no longer refundable
            return WireTradeStatus.TRADE_FINISHED if finished else WireTradeStatus.TRADE_SUCCESS
        if order.state in _VISIBLE_STATES:
            return WireTradeStatus.WAIT_BUYER_PAY
        return WireTradeStatus.TRADE_CLOSED

    def _trade_fields(self, order: SimOrder) -> dict[str, Any]:
        """The trade's ids, a stable 2088... user id per customer, Alipay's masked logon id, the amount."""
        user_id, logon_id = _user_ids(order.customer_id or "")
        return {
            "trade_no": order.trade_no,
            "out_trade_no": order.out_trade_no,
            "buyer_logon_id": logon_id,
            "buyer_user_id": user_id,
            "total_amount": fen_to_yuan(order.amount_fen),
        }

    def _settled_amounts(self, order: SimOrder) -> dict[str, str]:
        paid = fen_to_yuan(order.amount_fen) if order.paid_at is not None else ZERO_YUAN
        return {"receipt_amount": paid, "buyer_pay_amount": paid, "invoice_amount": paid, "point_amount": ZERO_YUAN}

    def _paid_fields(self, order: SimOrder) -> dict[str, Any]:
        """What trade.pay answers for a paid trade."""
        return {
            **self._trade_fields(order),
            **self._settled_amounts(order),
            "gmt_payment": to_wire_time(order.paid_at or datetime.now(UTC)),
            "fund_bill_list": [{"fund_channel": "ALIPAYACCOUNT", "amount": fen_to_yuan(order.amount_fen)}],
        }


# ---- request fields ----------------------------------------------------------------------------------


def _biz_content(params: dict[str, str]) -> Body:
    """The business parameters; JSON numbers keep their literal text, so money never passes through a float."""
    try:
        biz = json.loads(params.get("biz_content") or "{}", parse_float=str)
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        raise _Refusal(_invalid("biz_content must be a JSON object"))
    return biz


def _text(biz: Body, name: str) -> str | None:
    """A business field as text; SDKs send amounts as JSON numbers as often as strings."""
    value = biz.get(name)
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, str | int) else None


def _required(biz: Body, name: str) -> str:
    value = _text(biz, name)
    if value is None:
        raise _Refusal(_invalid(f"缺少必选参数 {name}"))
    return value


def _amount(biz: Body, name: str) -> int:
    try:
        fen = yuan_to_fen(_required(biz, name))
    except ValueError:
        raise _Refusal(_invalid(f"{name} is not a yuan amount")) from None
    if fen > MAX_FEN:
        raise _Refusal(answer(Code.BUSINESS_FAILED, SubCode.TOTAL_FEE_EXCEED))
    if fen < MIN_FEN:
        raise _Refusal(_invalid(f"{name} must be at least 0.01"))
    return fen


def _order_expiry(biz: Body) -> datetime:
    """When an unscanned order stops being payable: its time_expire/timeout_express, at most the QR's 2 h."""
    now = datetime.now(UTC)
    latest = now + QR_CODE_TTL
    time_expire, timeout_express = _text(biz, "time_expire"), _text(biz, "timeout_express")
    if time_expire is not None:
        try:
            return min(latest, from_wire_time(time_expire))
        except ValueError:
            raise _Refusal(_invalid("time_expire must be yyyy-MM-dd HH:mm:ss")) from None
    if timeout_express is not None:
        match = _TIMEOUT_EXPRESS.fullmatch(timeout_express)
        if match is None:
            raise _Refusal(_invalid("timeout_express must be like 90m, 2h or 1d"))
        return min(latest, now + timedelta(**{_TIMEOUT_UNITS[match.group(2)]: int(match.group(1))}))
    return latest


def _is_wire_time(text: str) -> bool:
    try:
        from_wire_time(text)
    except ValueError:
        return False
    return True


def _invalid(detail: str) -> Body:
    return answer(Code.BUSINESS_FAILED, SubCode.INVALID_PARAMETER, sub_msg=f"参数无效: {detail}")


def _failure(outcome: Outcome, table: dict[Outcome, SubCode], **fields: str) -> Body:
    """The 40004 answer for a refusal; an outcome without a reading answers as a system error, never a crash."""
    return answer(Code.BUSINESS_FAILED, table.get(outcome, SubCode.SYSTEM_ERROR), **fields)


def _json(content: bytes) -> Response:
    return Response(content, media_type="application/json;charset=utf-8")


# ---- construction ------------------------------------------------------------------------------------


def _key_paths(var_dir: Path) -> tuple[Path, Path]:
    """The merchant app's key pair and Alipay's own key pair, as files under var/."""
    keys = var_dir / "keys"
    return keys / "alipay_app_private.pem", keys / "alipay_platform_private.pem"


@functools.lru_cache(maxsize=8)
def _pem(key_path: Path) -> tuple[str, str]:
    """(private PEM, public PEM) of the key at `key_path`, created on first use; read once per process."""
    key = load_or_create_rsa_key(key_path)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private.decode("ascii"), public_pem(key)


def _user_ids(customer_id: str) -> tuple[str, str]:
    """A stable 2088... user id per customer, and Alipay's masked logon id for it."""
    digest = hashlib.sha256(customer_id.encode()).digest()
    user_id = f"2088{int.from_bytes(digest[:8], 'big') % 10**12:012d}"
    return user_id, f"1{user_id[4:6]}****{user_id[-4:]}"


def create_simulator(var_dir: Path, settings: SimulatorSettings | None = None) -> AlipaySimulator:
    """An Alipay simulator whose keys live under `var_dir` (generated on first use)."""
    settings = settings or SimulatorSettings()
    app_key_path, alipay_key_path = _key_paths(var_dir)
    _, app_public = _pem(app_key_path)
    alipay_private, _ = _pem(alipay_key_path)
    bank = SimBank(
        settings.bank,
        code_prefix=lambda: str(secrets.choice(range(25, 31))),
        code_length=CODE_LENGTH,
        trade_no_prefix="",
        refund_rules=REFUND_RULES,
    )
    return AlipaySimulator(settings, bank, SIM_APP_ID, app_public, alipay_private)


def adapter_config(var_dir: Path, base_url: str) -> AlipayConfig:
    """The merchant-side credentials matching the simulator created from the same `var_dir`."""
    app_key_path, alipay_key_path = _key_paths(var_dir)
    app_private, _ = _pem(app_key_path)
    _, alipay_public = _pem(alipay_key_path)
    return AlipayConfig(
        base_url=base_url, app_id=SIM_APP_ID, app_private_key=app_private, alipay_public_key=alipay_public
    )
