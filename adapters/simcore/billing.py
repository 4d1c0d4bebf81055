"""The simulators' daily bills before any wire format: the ledger's lines of a Beijing day, with fees and plants.

Each channel simulator renders these lines in its own bill format; what is on a bill (which payments, refunds and
reversals, their fees, and the differences a test planted) is decided here once for all three channels.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from adapters.simcore.bank import BEIJING, SimBank
from adapters.simcore.fees import fee_fen

SUCCESS = "SUCCESS"
REVOKED = "REVOKED"
PLANTED_CUSTOMER = "planted"  # the payer of an invented line: nobody the bank knows
DEFAULT_PLANTED_FEN = 1_000


class PlantKind(StrEnum):
    """Differences a test can plant in a day's bill (the reconciliation's own names for them)."""

    MISSING_HERE = "missing_here"  # an invented payment line the gateway never had
    MISSING_AT_CHANNEL = "missing_at_channel"  # the payment line of out_trade_no is left out
    AMOUNT_DIFFERS = "amount_differs"  # its amount changes (+1 fen unless given); nothing else does
    STATUS_DIFFERS = "status_differs"  # SUCCESS <-> REVOKED; nothing else changes (not even the fee)
    FEE_DIFFERS = "fee_differs"  # its fee changes (+1 fen unless given)


@dataclass(frozen=True)
class FeeRules:
    """How a channel charges: a rate in basis points, and whether a refund gives the fee back in proportion."""

    rate_bp: int
    refund_returns_fee: bool


@dataclass(frozen=True)
class SimBillLine:
    """One payment or refund line of a simulated bill, with everything any channel's format shows."""

    kind: str  # "payment" or "refund"
    out_trade_no: str  # a refund line keeps its order's
    trade_no: str
    amount_fen: int
    fee_fen: int  # charged on a payment, given back on a refund (>= 0 either way)
    status: str  # payments SUCCESS or REVOKED, refunds SUCCESS
    at: datetime  # payment: paid; refund: finished
    created_at: datetime  # the order's creation
    customer_id: str
    out_refund_no: str = ""
    refund_no: str = ""
    requested_at: datetime | None = None  # refunds: when the channel accepted it


@dataclass(frozen=True)
class BillPlant:
    """A planted difference; an invented line's numbers are chosen when it is planted, so every download agrees."""

    day: date
    kind: PlantKind
    out_trade_no: str
    amount_fen: int | None = None
    fee_fen: int | None = None
    trade_no: str = ""  # missing_here: the invented channel number


def beijing_day_start(day: date) -> datetime:
    """Midnight at the start of a Beijing day, as aware UTC."""
    return datetime.combine(day, time(), UTC) - BEIJING


def beijing_today() -> date:
    return (datetime.now(UTC) + BEIJING).date()


class BillBook:
    """A simulated channel's bills: lines from the bank's ledger, fees by the channel's rules, planted differences."""

    def __init__(self, bank: SimBank, fees: FeeRules) -> None:
        self.bank = bank
        self.fees = fees
        self.plants: list[BillPlant] = []

    def lines(self, day: date) -> list[SimBillLine]:
        """The bill of one Beijing day as served: the ledger's payments and refunds, then the day's plants."""
        lines = self._ledger_lines(day)
        for plant in self.plants:
            if plant.day == day:
                lines = _applied(plant, lines, self.fees)
        return lines

    def plant(
        self, day: date, kind: PlantKind, out_trade_no: str | None, amount_fen: int | None, fee_fen: int | None
    ) -> SimBillLine:
        """Plant a difference; the line as the bill now shows it (for missing_at_channel, the line left out).

        LookupError when the day's bill has no payment line of `out_trade_no`; ValueError when it is not named.
        """
        if kind is PlantKind.MISSING_HERE:
            number = out_trade_no or "PLANT" + secrets.token_hex(10)
            plant = BillPlant(day, kind, number, amount_fen, fee_fen, self.bank.new_trade_no())
        else:
            if not out_trade_no:
                raise ValueError(f"{kind.value} needs the out_trade_no of a payment on that day's bill")
            plant = BillPlant(day, kind, out_trade_no, amount_fen, fee_fen)
        before = self.lines(day)
        target = _payment(before, plant.out_trade_no)
        if kind is not PlantKind.MISSING_HERE and target is None:
            raise LookupError(f"the bill of {day} has no payment of {out_trade_no}")
        self.plants.append(plant)
        if kind is PlantKind.MISSING_AT_CHANNEL:
            assert target is not None
            return target
        shown = _payment(_applied(plant, before, self.fees), plant.out_trade_no)
        assert shown is not None
        return shown

    def clear(self) -> int:
        count, self.plants = len(self.plants), []
        return count

    def _ledger_lines(self, day: date) -> list[SimBillLine]:
        entries = self.bank.bill(day)
        reversed_orders = {entry.out_trade_no for entry in entries if entry.kind == "reversal"}
        lines = []
        for entry in entries:
            order = self.bank.orders[entry.out_trade_no]
            payment = SimBillLine(
                "payment",
                order.out_trade_no,
                order.trade_no,
                entry.amount_fen,
                fee_fen(entry.amount_fen, self.fees.rate_bp),
                SUCCESS,
                entry.at,
                order.created_at,
                entry.customer_id,
            )
            if entry.kind == "charge":
                revoked = order.out_trade_no in reversed_orders
                lines.append(replace(payment, fee_fen=0, status=REVOKED) if revoked else payment)
            elif entry.kind == "refund":
                refund = order.refunds[entry.reference]
                back = payment.fee_fen if self.fees.refund_returns_fee else 0
                lines.append(
                    replace(
                        payment,
                        kind="refund",
                        fee_fen=back,
                        out_refund_no=refund.out_refund_no,
                        refund_no=refund.refund_no,
                        requested_at=refund.at,
                    )
                )
            # a reversal is not a line of its own: its payment shows REVOKED (on the day of both; see docs/bills.md)
        return lines


def _payment(lines: list[SimBillLine], out_trade_no: str) -> SimBillLine | None:
    return next((line for line in lines if line.kind == "payment" and line.out_trade_no == out_trade_no), None)


def _applied(plant: BillPlant, lines: list[SimBillLine], fees: FeeRules) -> list[SimBillLine]:
    """`lines` with one plant applied; only the planted field changes."""
    if plant.kind is PlantKind.MISSING_HERE:
        amount = plant.amount_fen or DEFAULT_PLANTED_FEN
        at = beijing_day_start(plant.day) + timedelta(hours=12)
        invented = SimBillLine(
            "payment",
            plant.out_trade_no,
            plant.trade_no,
            amount,
            plant.fee_fen if plant.fee_fen is not None else fee_fen(amount, fees.rate_bp),
            SUCCESS,
            at,
            at,
            PLANTED_CUSTOMER,
        )
        return [*lines, invented]
    changed: list[SimBillLine] = []
    for line in lines:
        if line.kind != "payment" or line.out_trade_no != plant.out_trade_no:
            changed.append(line)
        elif plant.kind is PlantKind.AMOUNT_DIFFERS:
            changed.append(replace(line, amount_fen=plant.amount_fen or line.amount_fen + 1))
        elif plant.kind is PlantKind.STATUS_DIFFERS:
            changed.append(replace(line, status=REVOKED if line.status == SUCCESS else SUCCESS))
        elif plant.kind is PlantKind.FEE_DIFFERS:
            changed.append(replace(line, fee_fen=plant.fee_fen if plant.fee_fen is not None else line.fee_fen + 1))
        # MISSING_AT_CHANNEL: the line is left out
    return changed
