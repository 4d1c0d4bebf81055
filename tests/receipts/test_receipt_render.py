"""The pure receipt renderer: golden slips (text and HTML), the 32-column limit, escaping and yuan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gateway.domain.receipts import WIDTH, columns, render_html, render_text, yuan
from tests.receipts.samples import PAYMENT, REFUND, SAMPLES

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_text_matches_golden(name: str) -> None:
    assert render_text(SAMPLES[name]) == (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_html_matches_golden(name: str) -> None:
    assert render_html(SAMPLES[name]) == (GOLDEN / f"{name}.html").read_text(encoding="utf-8")


LONG = replace(
    REFUND,
    merchant_name="上海市静安区南京西路一千二百号超长名称连锁便利店有限公司 Extraordinarily Long Trading Name Ltd",
    store="\uff26\uff55\uff4c\uff4c店名" * 4,
    payer="x" * 80,
    trade_no="9" * 70,
    note="一二三四五六七八九十" * 6 + " and some ascii words " * 3,
    reprint=True,
)


@pytest.mark.parametrize("receipt", [*SAMPLES.values(), LONG], ids=[*sorted(SAMPLES), "long"])
def test_no_text_line_exceeds_the_printer_width(receipt: object) -> None:
    lines = render_text(receipt).splitlines()  # type: ignore[arg-type]
    assert lines and max(columns(line) for line in lines) <= WIDTH


def test_long_values_are_wrapped_not_cut() -> None:
    text = render_text(LONG)
    joined = text.replace("\n", "")
    assert "9" * 70 in joined and "x" * 80 in joined
    assert "有限公司 Extraordinarily" in joined or "有限公司Extraordinarily" in joined


def test_cjk_counts_two_columns() -> None:
    assert columns("签购单") == 6 and columns("RMB") == 3 and columns("\uff26") == 2


def test_yuan_uses_integer_fen() -> None:
    assert [yuan(f) for f in (1250, 1, 100, 0, 123456789, -3, -1250)] == [
        "RMB 12.50",
        "RMB 0.01",
        "RMB 1.00",
        "RMB 0.00",
        "RMB 1234567.89",
        "RMB -0.03",  # a settlement's net can be below zero
        "RMB -12.50",
    ]


def test_html_escapes_values() -> None:
    page = render_html(replace(PAYMENT, merchant_name="<script>x</script>&", note='"q"'))
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;&amp;" in page and "&quot;q&quot;" in page


def test_beijing_time_from_utc() -> None:
    text = render_text(PAYMENT)  # 16:05:09 UTC is 00:05:09 the next day in Beijing
    assert "2026/12/03" in text and "00:05:09" in text
