"""Channel fees: the rate a merchant pays on each channel, the fee a payment costs and the fee a refund gives back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.config import Settings
from gateway.domain.channels import Channel
from gateway.domain.errors import NotFound
from gateway.domain.fees import check_rate, fee_fen
from gateway.domain.refunds import RefundReason
from gateway.persistence import fees as repo
from gateway.persistence import merchants as merchants_repo
from gateway.persistence.database import Database, Tx
from gateway.persistence.tables import Order, Refund


@dataclass(frozen=True)
class FeeRate:
    channel: Channel
    rate_bp: int
    own: bool  # the merchant's own rate; False: the channel's default from the settings


class FeeSchedule:
    """Fees are written with the transaction when it is final, at the rate of that moment: a later change of rate
    never rewrites history."""

    def __init__(self, settings: Settings) -> None:
        self._defaults = settings.fee_rate_bp
        self._refund_returns_fee = settings.refund_returns_fee

    def rate(self, tx: Tx, merchant_id: str, channel: Channel) -> FeeRate:
        own = repo.merchant_rate(tx, merchant_id, channel)
        return FeeRate(channel, own, True) if own is not None else FeeRate(channel, self._defaults[channel], False)

    def charge(self, tx: Tx, order: Order) -> Order:
        """Write the fee of a payment that just arrived (in the transaction that made it PAID)."""
        assert order.channel is not None, "a paid order has its channel"
        rate = self.rate(tx, order.merchant_id, order.channel).rate_bp
        repo.set_order_fee(tx, order, rate, fee_fen(order.amount_fen, rate))
        return order

    def given_back(self, order: Order, refund: Refund) -> int | None:
        """The fee a succeeded refund gives back: all of it for a void the channel reversed (a reversed trade costs
        nothing), else the refund's share at the payment's rate where the channel gives fees back. None (not
        known) for money the order never held, given back by the gateway itself: that payment's fee was never
        recorded either."""
        if refund.reason in (RefundReason.PAID_AFTER_CLOSE, RefundReason.DUPLICATE_PAYMENT):
            return None
        if order.fee_fen is None or order.fee_rate_bp is None:
            return 0  # paid before fees were recorded
        if refund.reason is RefundReason.VOID and refund.via_reverse:
            return order.fee_fen
        if not self._refund_returns_fee.get(refund.channel, False):
            return 0
        return fee_fen(refund.amount_fen, order.fee_rate_bp)


class FeeRates:
    """Merchants' rates, per channel, as the merchant API and the CLI show and set them."""

    def __init__(self, db: Database, schedule: FeeSchedule) -> None:
        self._db = db
        self._schedule = schedule

    async def of_merchant(self, merchant_id: str) -> list[FeeRate]:
        def read(tx: Tx) -> list[FeeRate]:
            _require_merchant(tx, merchant_id)
            return [self._schedule.rate(tx, merchant_id, channel) for channel in Channel]

        return await self._db.transaction(read)

    async def set_rate(self, merchant_id: str, channel: Channel, rate_bp: int) -> FeeRate:
        """Set the merchant's own rate on the channel (0-10,000 bp; 422 `invalid_fee_rate`); from the next payment."""
        check_rate(rate_bp)

        def write(tx: Tx) -> FeeRate:
            _require_merchant(tx, merchant_id)
            repo.set_merchant_rate(tx, merchant_id, channel, rate_bp, datetime.now(UTC))
            return FeeRate(channel, rate_bp, True)

        return await self._db.transaction(write)


def _require_merchant(tx: Tx, merchant_id: str) -> None:
    if merchants_repo.get_merchant(tx, merchant_id) is None:
        raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
