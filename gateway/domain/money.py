"""Money is an integer number of fen (1/100 yuan); this module validates amounts, it never uses floats."""

from __future__ import annotations

from gateway.domain.errors import InvalidInput

#: The most one order may be for unless configured otherwise: 1,000,000.00 yuan.
DEFAULT_MAX_AMOUNT_FEN = 100_000_000


def validate_amount(amount_fen: int, max_amount_fen: int = DEFAULT_MAX_AMOUNT_FEN) -> int:
    """Return `amount_fen` if it is a positive whole number of fen within the maximum."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidInput("amount must be a whole number of fen", code="invalid_amount")
    if amount_fen <= 0:
        raise InvalidInput("amount must be at least 1 fen", code="invalid_amount")
    if amount_fen > max_amount_fen:
        raise InvalidInput(f"amount must not exceed {max_amount_fen} fen", code="amount_too_large")
    return amount_fen
