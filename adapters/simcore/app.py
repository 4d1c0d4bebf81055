"""The base of every channel simulator: an ASGI app with the channel's routes plus a shared control API.

The control API (under `/_sim/`) is not part of any channel's protocol: it stands for the customer's phone
(balances, payment codes, scanning a dynamic code) and lets tests read the ledger, queue faults and plant
differences in a day's bill (`/_sim/bill/plants`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simcore.bank import BankSettings, Outcome, SimBank, SimOrder, SimRefund
from adapters.simcore.billing import BillBook, FeeRules, PlantKind, beijing_today
from adapters.simcore.faults import Fault, NotifyFault, OperationFault, RefundFault
from adapters.simcore.fees import fee_fen
from adapters.simcore.notifier import Notifier, OutgoingNotification


@dataclass
class SimulatorSettings:
    """Settings every simulator shares; seconds are multiplied by `bank.time_scale`."""

    bank: BankSettings = field(default_factory=BankSettings)
    latency_s: float = 0.0  # every protocol answer waits this long (an asyncio sleep: other requests go on)
    hang_s: float = 10.0  # how long an HTTP-timeout fault holds the request before answering
    notify_ladder_s: Sequence[float] | None = None  # None: the channel's own retry ladder
    fee_rate_bp: int | None = None  # the fee rate in basis points; None: the channel's default (wechat 60, ...)
    refund_returns_fee: bool | None = None  # a refund gives its share of the fee back; None: the channel's default
    bills_for_today: bool = False  # serve today's bill (so far) as if the day were over: for tests and demos


class ChannelSimulator:
    """Shared machinery; a channel subclass adds its protocol routes and its notification format."""

    #: The channel's own notification retry ladder in seconds (CHANNELS.md section 6).
    notify_ladder_s: Sequence[float] = ()
    #: The channel's fee rate in basis points unless the settings say otherwise, and whether refunds give fees back.
    default_fee_rate_bp: int = 60
    default_refund_returns_fee: bool = True

    def __init__(self, settings: SimulatorSettings, bank: SimBank) -> None:
        self.settings = settings
        self.bank = bank
        ladder = settings.notify_ladder_s if settings.notify_ladder_s is not None else self.notify_ladder_s
        self.notifier = Notifier(ladder=ladder, time_scale=settings.bank.time_scale)
        self._timers: set[asyncio.Task[None]] = set()
        bank.on_refund_finished = self._refund_finished
        rate_bp = settings.fee_rate_bp if settings.fee_rate_bp is not None else self.default_fee_rate_bp
        returns_fee = settings.refund_returns_fee
        fee_rules = FeeRules(rate_bp, self.default_refund_returns_fee if returns_fee is None else returns_fee)
        fee_fen(0, fee_rules.rate_bp)  # refuses a rate outside 0-10000 bp now rather than at the first bill
        self.bills = BillBook(bank, fee_rules)
        self.app = Starlette(routes=[*self.protocol_routes(), *self._control_routes()], lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        """Standalone runs stop their notifications on shutdown; a host app mounting us calls `aclose`."""
        yield
        await self.aclose()

    async def aclose(self) -> None:
        for task in list(self._timers):
            task.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
        await self.notifier.aclose()

    # ---- for subclasses ------------------------------------------------------------------------------

    def protocol_routes(self) -> list[BaseRoute]:
        """The channel's own endpoints."""
        raise NotImplementedError

    def payment_notification(self, order: SimOrder) -> OutgoingNotification:
        """A signed payment notification for a paid dynamic order, in the channel's format."""
        raise NotImplementedError

    def order_for_code_url(self, code_url: str) -> str | None:
        """The out_trade_no behind one of this channel's dynamic code URLs."""
        raise NotImplementedError

    def refund_notification(self, order: SimOrder, refund: SimRefund) -> OutgoingNotification | None:
        """The channel's notification of a finished refund; None for a channel that sends none."""
        return None

    async def before_answer(self, outcome: Outcome | None = None) -> None:
        """Apply configured latency, and hold the request when the outcome is an HTTP timeout."""
        delay = self.settings.latency_s * self.settings.bank.time_scale
        if outcome is Outcome.HTTP_TIMEOUT:
            delay += self.settings.hang_s
        if delay > 0:
            await asyncio.sleep(delay)

    def bill_exists(self, day: date) -> bool:
        """Whether the channel has built the bill of a Beijing day: only once the day is over (or by the settings)."""
        today = beijing_today()
        return day < today or (self.settings.bills_for_today and day == today)

    # ---- notifications -------------------------------------------------------------------------------

    def notify_paid(self, order: SimOrder) -> None:
        """Send the payment notification with whatever fault the amount asks for."""
        if not order.notify_url:
            return
        fault = self.bank.notify_fault(order)
        if fault is NotifyFault.LOST:
            return
        first_delay = self.notifier.ladder[0] if fault is NotifyFault.DELAYED and self.notifier.ladder else 0.0
        copies = 2 if fault is NotifyFault.DUPLICATED else 1
        self.notifier.send(self.payment_notification(order), copies=copies, first_delay_s=first_delay)

    # ---- refunds -------------------------------------------------------------------------------------

    def accept_refund(
        self, out_trade_no: str, out_refund_no: str, refund_fen: int, notify_url: str | None = None
    ) -> tuple[Outcome, SimRefund | None]:
        """`SimBank.refund`, and a timer that finishes the refund when its delay is over, queried or not."""
        outcome, refund = self.bank.refund(out_trade_no, out_refund_no, refund_fen, notify_url)
        due_in = self.bank.refund_due_in(refund) if refund is not None else None
        if refund is not None and due_in is not None and outcome in (Outcome.PAID, Outcome.UNKNOWN):
            order = self.bank.orders[out_trade_no]
            self._after(due_in, lambda: self.bank.advance_refund(order, refund))
        return outcome, refund

    def _after(self, delay_s: float, action: Callable[[], None]) -> None:
        async def wait_then_act() -> None:
            await asyncio.sleep(delay_s)
            action()

        task = asyncio.get_running_loop().create_task(wait_then_act())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def _refund_finished(self, order: SimOrder, refund: SimRefund) -> None:
        """Announce a finished refund to its notify URL, unless the refund asks for silence (fault 26)."""
        if not refund.notify_url or refund.fault is RefundFault.QUERY_ONLY:
            return
        notification = self.refund_notification(order, refund)
        if notification is not None:
            self.notifier.send(notification)

    # ---- control API ---------------------------------------------------------------------------------

    def _control_routes(self) -> list[BaseRoute]:
        return [
            Route("/_sim/customers", self._create_customer, methods=["POST"]),
            Route("/_sim/customers/{customer_id}", self._get_customer, methods=["GET"]),
            Route("/_sim/customers/{customer_id}/codes", self._issue_code, methods=["POST"]),
            Route("/_sim/scan", self._scan, methods=["POST"]),
            Route("/_sim/wallet", self._wallet_page, methods=["GET"]),
            Route("/_sim/wallet", self._wallet_pay, methods=["POST"]),
            Route("/_sim/ledger", self._ledger, methods=["GET"]),
            Route("/_sim/orders/{out_trade_no}", self._order, methods=["GET"]),
            Route("/_sim/orders/{out_trade_no}/backdate", self._backdate, methods=["POST"]),
            Route("/_sim/faults", self._inject_fault, methods=["POST"]),
            Route("/_sim/notifications", self._notifications, methods=["GET"]),
            Route("/_sim/bill/plants", self._plant, methods=["POST"]),
            Route("/_sim/bill/plants", self._plants, methods=["GET"]),
            Route("/_sim/bill/plants", self._clear_plants, methods=["DELETE"]),
        ]

    async def _create_customer(self, request: Request) -> Response:
        body = await _json_body(request)
        balance = body.get("balance_fen")
        if balance is not None and (not isinstance(balance, int) or balance < 0):
            return _bad("balance_fen must be a non-negative integer")
        customer = self.bank.create_customer(balance)
        return JSONResponse(asdict(customer), status_code=201)

    async def _get_customer(self, request: Request) -> Response:
        customer = self.bank.customers.get(request.path_params["customer_id"])
        if customer is None:
            return _bad("no such customer", 404)
        return JSONResponse(asdict(customer))

    async def _issue_code(self, request: Request) -> Response:
        body = await _json_body(request)
        try:
            fault = Fault(body.get("fault", Fault.SUCCESS.value))
            code = self.bank.issue_code(request.path_params["customer_id"], fault)
        except ValueError:
            return _bad(f"fault must be one of {[f.value for f in Fault]}")
        except KeyError:
            return _bad("no such customer", 404)
        return JSONResponse({"auth_code": code.code, "expires_in": self.settings.bank.code_ttl_s}, status_code=201)

    async def _scan(self, request: Request) -> Response:
        """The customer scans a dynamic code and pays it."""
        body = await _json_body(request)
        outcome = self._pay_code(str(body.get("code_url", "")), str(body.get("customer_id", "")))
        if outcome is None:
            return _bad("not a code of this channel")
        return JSONResponse({"outcome": outcome.value}, status_code=200 if outcome is Outcome.PAID else 409)

    def _pay_code(self, code_url: str, customer_id: str) -> Outcome | None:
        """Pay a dynamic code as the customer; None when the code is not this channel's."""
        out_trade_no = self.order_for_code_url(code_url)
        if out_trade_no is None:
            return None
        outcome = self.bank.pay_precreated(out_trade_no, customer_id)
        if outcome is Outcome.PAID:
            self.notify_paid(self.bank.orders[out_trade_no])
        return outcome

    async def _wallet_page(self, request: Request) -> Response:
        """The wallet app's payment screen for a dynamic code: the amount and a Pay button (plain HTML)."""
        code_url = request.query_params.get("code_url", "")
        out_trade_no = self.order_for_code_url(code_url)
        if out_trade_no is None:
            return HTMLResponse(_page("Unknown code", "<p>This is not a payment code of this wallet.</p>"), 404)
        order = self.bank.orders[out_trade_no]
        form = (
            f'<p class="amount">&yen;{order.amount_fen // 100}.{order.amount_fen % 100:02d}</p>'
            f'<form method="post"><input type="hidden" name="code_url" value="{html.escape(code_url)}">'
            '<label>Customer <input name="customer_id" placeholder="new customer"></label> '
            '<button type="submit">Pay</button></form>'
        )
        return HTMLResponse(_page("Pay", form))

    async def _wallet_pay(self, request: Request) -> Response:
        """The Pay button: pays as the customer given, or as a new customer with the default balance."""
        fields = {name: values[0] for name, values in parse_qs((await request.body()).decode(errors="replace")).items()}
        customer_id = fields.get("customer_id") or self.bank.create_customer().customer_id
        outcome = self._pay_code(fields.get("code_url", ""), customer_id)
        if outcome is None:
            return HTMLResponse(_page("Unknown code", "<p>This is not a payment code of this wallet.</p>"), 404)
        status = 200 if outcome is Outcome.PAID else 409
        return HTMLResponse(_page("Paid" if status == 200 else "Not paid", f"<p>{outcome.value}</p>"), status)

    async def _ledger(self, request: Request) -> Response:
        out_trade_no = request.query_params.get("out_trade_no")
        entries = [
            {**asdict(entry), "at": entry.at.isoformat()}
            for entry in self.bank.ledger
            if out_trade_no is None or entry.out_trade_no == out_trade_no
        ]
        return JSONResponse({"entries": entries})

    async def _order(self, request: Request) -> Response:
        order = self.bank.find(request.path_params["out_trade_no"])
        if order is None:
            return _bad("no such order", 404)
        return JSONResponse(
            {
                "out_trade_no": order.out_trade_no,
                "trade_no": order.trade_no,
                "state": order.state.value,
                "amount_fen": order.amount_fen,
                "refunded_fen": order.refunded_fen,
                "reverse_calls": order.reverse_calls,
                "refunds": [
                    {
                        "out_refund_no": refund.out_refund_no,
                        "refund_no": refund.refund_no,
                        "amount_fen": refund.amount_fen,
                        "state": refund.state.value,
                        "queries": refund.queries,
                    }
                    for refund in order.refunds.values()
                ],
            }
        )

    async def _backdate(self, request: Request) -> Response:
        """Move an order's creation and payment `days` back, as if it had been paid long ago (refund windows)."""
        days = (await _json_body(request)).get("days")
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 36_500:
            return _bad("days must be an integer from 0 to 36500")
        order = self.bank.backdate(request.path_params["out_trade_no"], timedelta(days=days))
        if order is None:
            return _bad("no such order", 404)
        paid_at = order.paid_at.isoformat() if order.paid_at is not None else None
        return JSONResponse({"out_trade_no": order.out_trade_no, "paid_at": paid_at})

    async def _inject_fault(self, request: Request) -> Response:
        body = await _json_body(request)
        try:
            fault = OperationFault(str(body.get("fault")))
            times = int(body.get("times", 1))
        except (TypeError, ValueError):
            return _bad(f"fault must be one of {[f.value for f in OperationFault]}")
        self.bank.faults.inject(str(body.get("operation", "")), fault, times)
        return JSONResponse({"queued": times}, status_code=201)

    async def _notifications(self, request: Request) -> Response:
        attempts = [{**asdict(a), "at": a.at.isoformat()} for a in self.notifier.attempts]
        return JSONResponse({"attempts": attempts})

    async def _plant(self, request: Request) -> Response:
        """Plant a difference in a day's bill: `{"date": "YYYY-MM-DD", "kind": ..., "out_trade_no": ...}`."""
        body = await _json_body(request)
        try:
            day = date.fromisoformat(str(body.get("date")))
            kind = PlantKind(str(body.get("kind")))
        except ValueError:
            return _bad(f"date must be YYYY-MM-DD and kind one of {[k.value for k in PlantKind]}")
        out_trade_no, amount_fen, fee = body.get("out_trade_no"), body.get("amount_fen"), body.get("fee_fen")
        if out_trade_no is not None and (not isinstance(out_trade_no, str) or not out_trade_no):
            return _bad("out_trade_no must be a non-empty string")
        if amount_fen is not None and not _positive_int(amount_fen):
            return _bad("amount_fen must be a positive integer")
        if fee is not None and not (_positive_int(fee) or fee == 0):
            return _bad("fee_fen must be a non-negative integer")
        try:
            line = self.bills.plant(day, kind, out_trade_no, amount_fen, fee)
        except ValueError as exc:
            return _bad(str(exc))
        except LookupError as exc:
            return _bad(str(exc), 404)
        planted = {
            "date": day.isoformat(),
            "kind": kind.value,
            "out_trade_no": line.out_trade_no,
            "channel_trade_no": line.trade_no,
            "amount_fen": line.amount_fen,
            "fee_fen": line.fee_fen,
            "status": line.status,
        }
        return JSONResponse(planted, status_code=201)

    async def _plants(self, request: Request) -> Response:
        plants = [
            {
                "date": plant.day.isoformat(),  # named as the POST names it
                "kind": plant.kind.value,
                "out_trade_no": plant.out_trade_no,
                "channel_trade_no": plant.trade_no or None,
                "amount_fen": plant.amount_fen,
                "fee_fen": plant.fee_fen,
            }
            for plant in self.bills.plants
        ]
        return JSONResponse({"plants": plants})

    async def _clear_plants(self, request: Request) -> Response:
        return JSONResponse({"cleared": self.bills.clear()})


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _bad(detail: str, status: int = 400) -> Response:
    return JSONResponse({"error": detail}, status_code=status)
