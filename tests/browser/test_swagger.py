"""Swagger in a real browser: a merchant authorizes with the demo API key and lists orders."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from gateway.config import Settings
from tests.support.live import live_gateway


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_authorize_with_the_demo_key_and_list_orders(settings: Settings, browser: Browser) -> None:
    async with live_gateway(settings) as live:
        code = await live.payment_code("wechat")
        paid = await live.terminal.micropay(1250, "SWAGGER1", code, "shown in Swagger")
        assert paid.status_code == 200
        page = await browser.new_page()
        await page.goto(f"{live.url}/docs")
        await expect(page.locator(".info .title")).to_contain_text("QR Pay Gateway")

        await page.locator("button.authorize").first.click()
        merchant_key = page.locator(".modal-ux .auth-container", has_text="MerchantApiKey")
        await merchant_key.locator("input").fill(live.credentials["api_key"])
        await merchant_key.locator("button.authorize").click()
        await expect(merchant_key.get_by_role("button", name="Remove authorization")).to_be_visible()
        await page.locator(".modal-ux button.close-modal").click()

        operation = page.locator("#operations-Orders-listOrders")
        await operation.locator(".opblock-summary").click()
        await operation.locator("button.try-out__btn").click()
        await operation.locator("button.execute").click()
        response = operation.locator(".live-responses-table .response")
        await expect(response.locator(".response-col_status").first).to_have_text("200")
        await expect(response.locator(".response-col_description")).to_contain_text("SWAGGER1")
        await page.screenshot(path=str(settings.var_dir / "swagger.png"), full_page=False)
