"""The settlement slip (结算总计单): golden text and HTML, 32 columns at most, and laid out in the real Chromium."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser

from gateway.domain.channels import Channel
from gateway.domain.receipts import REPRINT_LINE, WIDTH, columns
from gateway.domain.settlements import (
    BatchPayment,
    BatchRefund,
    SettlementSlip,
    batch_totals,
    render_settlement_html,
    render_settlement_text,
)
from tests.browser.conftest import browser

__all__ = ["browser"]

GOLDEN = Path(__file__).parent / "golden"
#: 58 mm at CSS's 96 px per inch.
WIDTH_PX = 58 * 96 / 25.4

DAY = batch_totals(
    [
        BatchPayment(Channel.WECHAT, 1250, 8),
        BatchPayment(Channel.WECHAT, 2000, 12),
        BatchPayment(Channel.ALIPAY, 123_456_78, 74_074),
        BatchPayment(Channel.UNIONPAY, 800, 3),
    ],
    [
        BatchRefund(Channel.WECHAT, False, 500, 3),
        BatchRefund(Channel.WECHAT, True, 1250, 8),
        BatchRefund(Channel.UNIONPAY, False, 800, 0),
    ],
)
SLIP = SettlementSlip(
    merchant_name="示例便利店 Demo Mart",
    merchant_no="mch_0001",
    store="南京西路店",
    terminal_id="T0001",
    operator_no="001",
    batch_no="000003",
    settled_at=datetime(2026, 12, 3, 14, 0, 5, tzinfo=UTC),
    totals=DAY,
)
SAMPLES = {"settlement": SLIP, "settlement-reprint": replace(SLIP, reprint=True)}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_text_and_html_match_the_golden_slips(name: str) -> None:
    assert render_settlement_text(SAMPLES[name]) == (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    assert render_settlement_html(SAMPLES[name]) == (GOLDEN / f"{name}.html").read_text(encoding="utf-8")


def test_no_line_is_wider_than_the_printer_and_the_numbers_add_up() -> None:
    text = render_settlement_text(SAMPLES["settlement-reprint"])
    assert max(columns(line) for line in text.splitlines()) <= WIDTH
    assert REPRINT_LINE in text
    # 12,349,728 fen taken, 1,250 voided, 1,300 refunded, fees 74,097 less 11 given back
    assert DAY.total.net_fen == 12_349_728 - 1250 - 1300 - 74_086
    assert "RMB 122730.92" in text and "RMB -0.03" in text  # UnionPay kept the fee of a refunded payment


async def test_the_html_slip_lays_out_58mm_wide(browser: Browser) -> None:
    page = await browser.new_page(viewport={"width": 400, "height": 1200})
    await page.set_content(render_settlement_html(SAMPLES["settlement-reprint"]))
    width = await page.evaluate("document.body.getBoundingClientRect().width")
    overflow = await page.evaluate("document.body.scrollWidth > document.body.clientWidth")
    assert abs(width - WIDTH_PX) < 1 and not overflow
    shot = Path("/tmp/settlement-slip.png")
    shot.unlink(missing_ok=True)
    await page.locator("body").screenshot(path=str(shot))
    assert shot.stat().st_size > 1000
