"""The stored records services hand to the API layer, which reads them and never changes them."""

from __future__ import annotations

from gateway.persistence.tables import Merchant, Operator, Order, Refund

__all__ = ["Merchant", "Operator", "Order", "Refund"]
