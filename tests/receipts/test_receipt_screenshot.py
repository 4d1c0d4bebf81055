"""The HTML receipt in the real headless Chromium: it lays out 58 mm wide and is saved as /tmp/receipt.png."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from gateway.domain.receipts import render_html
from tests.receipts.samples import REPRINT

SHOT = Path("/tmp/receipt.png")
#: 58 mm at CSS's 96 px per inch.
WIDTH_PX = 58 * 96 / 25.4


async def test_html_receipt_renders_58mm_wide(browser: Browser) -> None:
    page = await browser.new_page(viewport={"width": 400, "height": 900})
    await page.set_content(render_html(REPRINT))
    width = await page.evaluate("document.body.getBoundingClientRect().width")
    overflow = await page.evaluate("document.body.scrollWidth > document.body.clientWidth")
    assert abs(width - WIDTH_PX) < 1 and not overflow
    assert "*** 重打印 REPRINT ***" in await page.inner_text(".reprint")
    SHOT.unlink(missing_ok=True)
    await page.locator("body").screenshot(path=str(SHOT))
    assert SHOT.stat().st_size > 1000
