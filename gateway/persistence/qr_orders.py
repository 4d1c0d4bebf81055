"""Order look-ups only the C-scan-B flow needs: an aggregate code's order, a taken order number."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from gateway.persistence.database import Tx
from gateway.persistence.orders import order_from_row
from gateway.persistence.tables import Order, table_of

_orders = table_of(Order)

_BY_TOKEN = select(_orders).where(_orders.c.qr_token == bindparam("qr_token"))
_TAKEN = select(_orders.c.id).where(
    _orders.c.merchant_id == bindparam("merchant_id"), _orders.c.out_trade_no == bindparam("out_trade_no")
)


def by_token(tx: Tx, qr_token: str) -> Order | None:
    """The order behind an aggregate code's /q/{token}."""
    row = tx.connection.execute(_BY_TOKEN, {"qr_token": qr_token}).first()
    return None if row is None else order_from_row(row)


def out_trade_no_taken(tx: Tx, merchant_id: str, out_trade_no: str) -> bool:
    """Whether the merchant has an order under this number already."""
    params = {"merchant_id": merchant_id, "out_trade_no": out_trade_no}
    return tx.connection.execute(_TAKEN, params).first() is not None
