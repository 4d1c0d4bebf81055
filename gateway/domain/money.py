"""Money is an integer number of fen (1/100 yuan); this module validates amounts, it never uses floats."""

from __future__ import annotations

from gateway.domain.errors import InvalidInput

#: The most one order may be for unless configured otherwise: 1,000,000.00 yuan.
DEFAULT_MAX_AMOUNT_FEN = 100_000_000


def require_fen(amount_fen: object) -> int:
    """Return `amount_fen` if it is a whole number of fen, at least 1 (the maximum is `validate_amount`'s)."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidInput("amount_fen must be a whole number of fen", code="invalid_amount")
    if amount_fen <= 0:
        raise InvalidInput("amount_fen must be at least 1 fen", code="invalid_amount")
    return amount_fen


def validate_amount(amount_fen: int, max_amount_fen: int = DEFAULT_MAX_AMOUNT_FEN) -> int:
    """Return `amount_fen` if it is a positive whole number of fen within the maximum."""
    if require_fen(amount_fen) > max_amount_fen:
        raise InvalidInput(f"amount_fen must not exceed {max_amount_fen} fen", code="amount_too_large")
    return amount_fen
