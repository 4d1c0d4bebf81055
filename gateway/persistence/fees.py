"""Fees: merchants' own rates per channel, and the fee written on a payment or refund when it is final."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.domain.channels import Channel
from gateway.persistence.database import Tx
from gateway.persistence.tables import MerchantFeeRate, Order, table_of

_rates = table_of(MerchantFeeRate)
_RATE = select(_rates.c.rate_bp).where(
    _rates.c.merchant_id == bindparam("merchant_id"), _rates.c.channel == bindparam("channel")
)
_orders = table_of(Order)
_ORDER_FEE = (
    update(_orders)
    .where(_orders.c.id == bindparam("order_id"))
    .values(fee_rate_bp=bindparam("rate_bp"), fee_fen=bindparam("fee"))
)


def merchant_rate(tx: Tx, merchant_id: str, channel: Channel) -> int | None:
    """The merchant's own rate on the channel; None when it has set none."""
    rate = tx.connection.scalar(_RATE, {"merchant_id": merchant_id, "channel": channel.value})
    return None if rate is None else int(rate)


def set_merchant_rate(tx: Tx, merchant_id: str, channel: Channel, rate_bp: int, now: datetime) -> None:
    insert = pg_insert if tx.dialect == "postgresql" else sqlite_insert
    statement = insert(_rates).values(merchant_id=merchant_id, channel=channel.value, rate_bp=rate_bp, updated_at=now)
    tx.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[_rates.c.merchant_id, _rates.c.channel],
            set_={"rate_bp": statement.excluded.rate_bp, "updated_at": statement.excluded.updated_at},
        )
    )


def set_order_fee(tx: Tx, order: Order, rate_bp: int, fee: int) -> None:
    """Write the fee of a payment that just arrived onto its order (and the record in hand)."""
    tx.connection.execute(_ORDER_FEE, {"order_id": order.id, "rate_bp": rate_bp, "fee": fee})
    order.fee_rate_bp, order.fee_fen = rate_bp, fee
