"""The HTML receipts in the real headless Chromium: they lay out 58 mm wide and are saved as /tmp/receipt-NAME.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from gateway.domain.receipts import render_html
from tests.receipts.samples import SAMPLES

#: 58 mm at CSS's 96 px per inch.
WIDTH_PX = 58 * 96 / 25.4


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_html_receipt_renders_58mm_wide(browser: Browser, name: str) -> None:
    receipt = SAMPLES[name]
    page = await browser.new_page(viewport={"width": 400, "height": 900})
    await page.set_content(render_html(receipt))
    width = await page.evaluate("document.body.getBoundingClientRect().width")
    overflow = await page.evaluate("document.body.scrollWidth > document.body.clientWidth")
    assert abs(width - WIDTH_PX) < 1 and not overflow
    assert (await page.locator(".reprint").count() == 1) == receipt.reprint
    shot = Path(f"/tmp/receipt-{name}.png")
    shot.unlink(missing_ok=True)
    await page.locator("body").screenshot(path=str(shot))
    assert shot.stat().st_size > 1000
