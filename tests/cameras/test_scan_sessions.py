"""Scan sessions: one open per terminal, cancel, expiry, and a read code charged exactly once however it arrives."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from adapters.simcore.faults import Fault
from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.domain.scans import ScanSessionStatus
from gateway.persistence.tables import ScanSession
from tests.cameras.conftest import charges, final_events, open_session, post_code
from tests.support.live import LiveGateway, live_gateway


def session_path(session_id: str) -> str:
    return f"/v1/payments/scan-sessions/{session_id}"


async def test_one_open_session_per_terminal_and_cancel(live: LiveGateway) -> None:
    first = await open_session(live, 990, out_trade_no="POS000001", description="noodles")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "OPEN" and body["amount_fen"] == 990 and body["out_trade_no"] == "POS000001"
    session_id = body["session_id"]

    clash = await open_session(live, 100)
    assert clash.status_code == 409 and clash.json()["code"] == "scan_session_open"
    assert session_id in clash.json()["detail"]

    cancelled = await live.terminal.request("DELETE", session_path(session_id))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    again = await live.terminal.request("DELETE", session_path(session_id))
    assert again.status_code == 200 and again.json()["status"] == "CANCELLED"

    code = await live.payment_code("wechat")
    response = await post_code(live, code)
    assert response.status_code == 409 and response.json()["code"] == "no_open_session"

    # The slot is free again; the cancelled session's order number can be used by the next one.
    reopened = await open_session(live, 990, out_trade_no="POS000001")
    assert reopened.status_code == 201
    assert (await live.terminal.request("GET", session_path(session_id))).json()["status"] == "CANCELLED"
    assert charges(live) == 0


async def test_a_charged_session_cannot_be_cancelled_and_its_order_number_is_taken(live: LiveGateway) -> None:
    opened = await open_session(live, 700, out_trade_no="POS000002")
    code = await live.payment_code("alipay")
    charged = await post_code(live, code)
    assert charged.status_code == 200, charged.text
    body = charged.json()
    assert body["status"] == "CHARGED" and body["payment"]["status"] == "PAID"
    assert body["payment"]["amount_fen"] == 700 and body["payment"]["out_trade_no"] == "POS000002"
    assert code not in charged.text

    refused = await live.terminal.request("DELETE", session_path(opened.json()["session_id"]))
    assert refused.status_code == 409 and refused.json()["code"] == "scan_session_charged"
    duplicate = await open_session(live, 700, out_trade_no="POS000002")
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "duplicate_out_trade_no"


async def test_a_session_expires(settings: Settings) -> None:
    async with live_gateway(settings, scan_session_ttl_s=0.3) as live:
        opened = await open_session(live)
        await asyncio.sleep(0.5)
        expired = await live.terminal.request("GET", session_path(opened.json()["session_id"]))
        assert expired.json()["status"] == "EXPIRED" and expired.json()["closed_at"] is not None
        response = await post_code(live, await live.payment_code("wechat"))
        assert response.status_code == 409 and response.json()["code"] == "no_open_session"
        assert (await open_session(live)).status_code == 201, "an expired session frees the terminal"
        assert charges(live) == 0


async def test_bad_session_requests_are_refused_and_write_nothing(live: LiveGateway) -> None:
    for body, problem in [
        ({"amount_fen": 0}, "invalid_amount"),
        ({"amount_fen": "12"}, "invalid_amount"),
        ({"amount_fen": 10**12}, "amount_too_large"),
        ({"amount_fen": 100, "out_trade_no": "has spaces"}, "validation_error"),
        ({"amount_fen": 100, "tip": 5}, "validation_error"),
    ]:
        response = await live.terminal.request("POST", "/v1/payments/scan-sessions", body)
        assert response.status_code == 422 and response.json()["code"] == problem, body
    missing = await live.terminal.request("GET", session_path("scn_nope"))
    assert missing.status_code == 404 and missing.json()["code"] == "scan_session_not_found"
    unsigned = await live.http.post(f"{live.url}/v1/payments/scan-sessions", json={"amount_fen": 100})
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "missing_signature"  # issue 13

    merchants = live.runtime.merchants
    bare = await merchants.create_terminal(live.credentials["merchant_id"], live.credentials["store_id"], "No camera")
    no_camera = TerminalClient(live.url, bare.key_id, bare.secret, live.http)
    refused = await no_camera.request("POST", "/v1/payments/scan-sessions", {"amount_fen": 100})
    assert refused.status_code == 422 and refused.json()["code"] == "no_camera"
    assert (await open_session(live)).status_code == 201, "nothing was left open by the refusals"


async def test_the_same_code_posted_concurrently_charges_once(live: LiveGateway) -> None:
    opened = await open_session(live, 1500)
    code = await live.payment_code("unionpay")
    responses = await asyncio.gather(*(post_code(live, code) for _ in range(8)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) == 1, [response.text for response in responses]
    assert {r.json()["code"] for r in responses if r.status_code != 200} <= {"scan_session_busy", "no_open_session"}
    winner = next(response.json() for response in responses if response.status_code == 200)
    assert winner["session_id"] == opened.json()["session_id"]
    order_id = winner["payment"]["order_id"]
    assert charges(live) == 1
    assert [entry["kind"] for entry in await live.ledger("unionpay", order_id)] == ["charge"]
    assert [event.type for event in await final_events(live, order_id)] == ["order.paid"]


async def test_a_refused_code_leaves_the_session_open_for_another(live: LiveGateway) -> None:
    used = await live.payment_code("wechat")
    assert (await live.terminal.micropay(300, "USEDFIRST1", used)).status_code == 200
    opened = await open_session(live, 450)
    refused = await post_code(live, used)
    assert refused.status_code == 409 and refused.json()["code"] == "payment_code_used"
    session = (await live.terminal.request("GET", session_path(opened.json()["session_id"]))).json()
    assert session["status"] == "OPEN" and session["last_refusal"] == "payment_code_used"

    declined = await live.payment_code("wechat", Fault.INSUFFICIENT_BALANCE)
    failed = await post_code(live, declined)
    assert failed.status_code == 200, "a declined payment still closes the session with its order"
    assert failed.json()["status"] == "CHARGED" and failed.json()["payment"]["status"] == "FAILED"
    assert charges(live) == 1, "only the first micropay moved money"


async def mark_charging_long_ago(live: LiveGateway, session_id: str) -> None:
    """What a gateway that died mid-charge leaves behind."""
    statement = (
        update(ScanSession)
        .where(ScanSession.id == session_id)
        .values(status=ScanSessionStatus.CHARGING, charging_since=datetime.now(UTC) - timedelta(minutes=5))
    )
    await live.runtime.db.transaction(lambda tx: tx.connection.execute(statement))


async def test_a_charge_cut_short_by_a_crash_is_settled_from_the_database(live: LiveGateway) -> None:
    # Died before the order was written: the session is open again and takes the code.
    first = (await open_session(live, 210, out_trade_no="CRASH0001")).json()["session_id"]
    await mark_charging_long_ago(live, first)
    assert (await live.terminal.request("GET", session_path(first))).json()["status"] == "OPEN"

    # Died after the order was written (here: by micropay itself): the session closes with that order.
    paid = await live.terminal.micropay(210, "CRASH0001", await live.payment_code("wechat"))
    await mark_charging_long_ago(live, first)
    settled = (await live.terminal.request("GET", session_path(first))).json()
    assert settled["status"] == "CHARGED" and settled["payment"]["order_id"] == paid.json()["order_id"]
    assert charges(live) == 1
