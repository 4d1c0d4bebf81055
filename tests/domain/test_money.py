"""Amounts are positive whole fen within the configured maximum."""

from __future__ import annotations

import pytest

from gateway.domain.errors import InvalidInput
from gateway.domain.money import validate_amount


def test_valid_amounts() -> None:
    assert validate_amount(1) == 1
    assert validate_amount(100_000_000) == 100_000_000
    assert validate_amount(500, max_amount_fen=500) == 500


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, "invalid_amount"),
        (-1, "invalid_amount"),
        (True, "invalid_amount"),
        (12.5, "invalid_amount"),
        (100_000_001, "amount_too_large"),
    ],
)
def test_invalid_amounts(amount: object, code: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_amount(amount)  # type: ignore[arg-type]
    assert error.value.code == code
