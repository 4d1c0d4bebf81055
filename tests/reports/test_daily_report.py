"""Daily reports: golden JSON, CSV and HTML of a fixed day, the page in the real Chromium, and a live day through
the merchant API in each format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser

from gateway.config import Settings
from gateway.domain.beijing import business_day, day_bounds
from gateway.domain.channels import Channel
from gateway.domain.fees import fee_fen
from gateway.domain.reports import DayPayment, DayRefund, ReportKey, daily_report, render_csv, render_html
from tests.browser.conftest import browser
from tests.refunds.conftest import merchant_headers, pay, settled, terminal_refund
from tests.refunds.test_voids import problem, voided
from tests.support.live import LiveGateway, live_gateway

__all__ = ["browser"]

GOLDEN = Path(__file__).parent / "golden"
TILL = ReportKey("sto_0001", "南京西路店", "trm_0001", "Till 1", Channel.WECHAT)
DAY = daily_report(
    "mch_0001",
    date(2026, 12, 2),
    [
        DayPayment(TILL, 1250, 8),
        DayPayment(TILL, 2000, 12),
        DayPayment(ReportKey("sto_0001", "南京西路店", "trm_0001", "Till 1", Channel.ALIPAY), 9900, 59),
        DayPayment(ReportKey("sto_0002", "<Mall> & Co", "trm_0002", "Till 2", Channel.UNIONPAY), 800, 3),
    ],
    [DayRefund(TILL, False, 500, 3), DayRefund(TILL, True, 1250, 8)],
)


def test_the_report_of_a_fixed_day_matches_the_golden_json_csv_and_html() -> None:
    assert DAY.as_json() == json.loads((GOLDEN / "daily.json").read_text(encoding="utf-8"))
    assert render_csv(DAY) == (GOLDEN / "daily.csv").read_bytes().decode("utf-8")  # CRLF lines, as CSV has them
    assert render_html(DAY) == (GOLDEN / "daily.html").read_text(encoding="utf-8")
    assert "&lt;Mall&gt; &amp; Co" in render_html(DAY)  # every value escaped


def test_day_bounds_are_the_beijing_day_in_utc() -> None:
    start, end = day_bounds(date(2026, 12, 2))
    assert (start, end) == (datetime(2026, 12, 1, 16, tzinfo=UTC), datetime(2026, 12, 2, 16, tzinfo=UTC))
    assert business_day(start) == date(2026, 12, 2) and business_day(end) == date(2026, 12, 3)


async def test_the_printable_page_lays_out_in_chromium(browser: Browser) -> None:
    page = await browser.new_page(viewport={"width": 1100, "height": 500})
    await page.set_content(render_html(DAY))
    assert await page.locator("tbody tr").count() == 4  # three rows and the total
    overflow = await page.evaluate("document.body.scrollWidth > document.body.clientWidth")
    assert not overflow
    shot = Path("/tmp/daily-report.png")
    shot.unlink(missing_ok=True)
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings) as gateway:
        yield gateway


async def test_a_live_day_in_every_format(live: LiveGateway) -> None:
    today = business_day(datetime.now(UTC))
    kept = await pay(live, "wechat", 1250)
    await pay(live, "alipay", 3000)
    assert (await terminal_refund(live, kept, 500)).status_code in (200, 202)
    await settled(live, kept)
    undone = await pay(live, "wechat", 700)
    assert (await voided(live, undone))["status"] == "SUCCEEDED"

    url, headers = f"{live.url}/v1/reports/daily", merchant_headers(live)
    answer = await live.http.get(url, params={"date": today.isoformat()}, headers=headers)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    by_channel = {row["channel"]: row for row in report["rows"]}
    assert set(by_channel) == {"wechat", "alipay"}
    wechat = by_channel["wechat"]
    assert wechat["payments"] == {"count": 2, "amount_fen": 1950}
    assert (wechat["refunds"], wechat["voids"]) == ({"count": 1, "amount_fen": 500}, {"count": 1, "amount_fen": 700})
    # WeChat gives back a refund's share of the fee, and a reversed void's whole fee
    assert wechat["fees_fen"] == fee_fen(1250, 60) + fee_fen(700, 60) - fee_fen(500, 60) - fee_fen(700, 60)
    assert report["total"]["net_fen"] == sum(row["net_fen"] for row in report["rows"])
    assert wechat["terminal_name"] and wechat["store_name"]

    as_csv = await live.http.get(url, params={"date": today.isoformat()}, headers={**headers, "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [line["channel"] for line in lines] == [*sorted(by_channel), ""]  # and the TOTAL line
    assert int(lines[-1]["net_fen"]) == report["total"]["net_fen"]
    as_page = await live.http.get(url, params={"date": today.isoformat(), "format": "html"}, headers=headers)
    assert as_page.headers["content-type"].startswith("text/html") and "日报 Daily report" in as_page.text

    quiet = await live.http.get(url, params={"date": (today - timedelta(days=1)).isoformat()}, headers=headers)
    assert quiet.status_code == 200 and quiet.json()["rows"] == []
    assert quiet.json()["total"]["payments"] == {"count": 0, "amount_fen": 0}


async def test_bad_days_are_refused(live: LiveGateway) -> None:
    url, headers = f"{live.url}/v1/reports/daily", merchant_headers(live)
    tomorrow = business_day(datetime.now(UTC)) + timedelta(days=1)
    problem(await live.http.get(url, params={"date": tomorrow.isoformat()}, headers=headers), 422, "future_date")
    for ancient in ("0001-01-01", "1999-12-31"):
        problem(await live.http.get(url, params={"date": ancient}, headers=headers), 422, "date_out_of_range")
    for bad in ("2026-13-01", "yesterday", "2026-02-30"):
        problem(await live.http.get(url, params={"date": bad}, headers=headers), 422, "validation_error")
    problem(await live.http.get(url, headers=headers), 422, "validation_error")
    problem(
        await live.http.get(url, params={"date": "2026-12-01", "fmt": "csv"}, headers=headers), 422, "unknown_parameter"
    )
    problem(
        await live.http.get(url, params={"date": "2026-12-01", "format": "pdf"}, headers=headers),
        422,
        "validation_error",
    )
    problem(await live.http.get(url, params={"date": "2026-12-01"}), 401, "missing_api_key")
