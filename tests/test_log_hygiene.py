"""The log of a real `gateway serve` process: no key, secret, ticket or full payment code in any line of a full run,
and no request can forge a log line, in JSON or in plain text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.observability import JsonFormatter, TextFormatter, line_safe
from gateway.persistence.migrate import upgrade
from gateway.runtime import Runtime
from tests.cameras.conftest import empty_frames, phone_video
from tests.support.events import raw_socket
from tests.support.processes import GatewayProcess, gateway_process, payment_code

pytestmark = pytest.mark.slow

FRAME_INTERVAL_S = 1 / 30
#: Text a request tries to start a log line with.
FORGED = "FORGED-RECORD"


async def make_shop(var_dir: Path, database_url: str) -> dict[str, str]:
    """A merchant, a terminal and its camera made the way `gateway ... create` makes them (never printed by the
    gateway: only this test knows their keys)."""
    runtime = Runtime.build(
        Settings(_env_file=None, dev_mode=True, var_dir=var_dir, database_url=database_url)  # type: ignore[call-arg]
    )
    try:
        await upgrade(runtime.db)
        merchant = await runtime.merchants.create_merchant("Log Hygiene Teahouse")
        store_id = await runtime.merchants.create_store(merchant.merchant_id, "Main")
        terminal = await runtime.merchants.create_terminal(merchant.merchant_id, store_id, "Till", None, None)
        camera = await runtime.cameras.create_camera(terminal.terminal_id, "counter")
    finally:
        await runtime.aclose()
    return {
        "api_key": merchant.api_key,
        "terminal_id": terminal.terminal_id,
        "key_id": terminal.key_id,
        "terminal_secret": terminal.secret,
        "camera_id": camera.camera_id,
        "camera_key": camera.key,
    }


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def camera_charge(gateway: GatewayProcess, terminal: TerminalClient, shop: dict[str, str], code: str) -> None:
    """A scan session charged by the camera: frames of the code over its websocket, the key in `?key=`."""
    opened = await terminal.request("POST", "/v1/payments/scan-sessions", {"amount_fen": 800})
    assert opened.status_code == 201, opened.text
    async with raw_socket(gateway.url, f"/v1/cameras/{shop['camera_id']}/frames?key={shop['camera_key']}") as socket:
        assert json.loads(await socket.recv())["type"] == "ready"
        for frame in [*empty_frames(2), *phone_video(code, code, 40)]:
            await socket.send(frame)
            await asyncio.sleep(FRAME_INTERVAL_S)  # a camera's pace, not a wait for anything
        await socket.send(json.dumps({"type": "end"}))
        reports = [json.loads(message) async for message in socket]
    charged = [report for report in reports if report["type"] == "code"]
    assert [report["status"] for report in charged] == ["charged"], reports


async def test_a_full_run_writes_no_secret_to_the_log(
    tmp_path: Path, database_url: str, http: httpx.AsyncClient
) -> None:
    shop = await make_shop(tmp_path / "var", database_url)
    webhook_token = secrets.token_urlsafe(16)
    used = dict(shop)
    async with gateway_process(
        tmp_path, database_url, {}, GATEWAY_LOG_LEVEL="DEBUG", GATEWAY_MICROPAY_WAIT_S="3", GATEWAY_CAMERA_MAX_FPS="60"
    ) as gateway:
        await gateway.start(http)
        terminal = TerminalClient(gateway.url, shop["key_id"], shop["terminal_secret"], http)
        merchant = {"X-API-Key": shop["api_key"]}

        # The merchant's webhook first (its URL carries a token), so that the payments below are delivered to it.
        webhook = await http.put(
            f"{gateway.url}/v1/webhook",
            json={"url": f"http://127.0.0.1:9/hook?token={webhook_token}"},
            headers=merchant,
        )
        assert webhook.status_code == 200, webhook.text
        used["webhook_token"] = webhook_token
        used["webhook_secret"] = webhook.json()["secret"]

        # The camera: a charge over its frame websocket, the key in the header once, and a wrong key refused.
        used["camera_code"] = await payment_code(http, f"{gateway.url}/sim/wechat")
        await camera_charge(gateway, terminal, shop, used["camera_code"])
        frames = f"{gateway.url.replace('http://', 'ws://')}/v1/cameras/{shop['camera_id']}/frames"
        async with connect(frames, additional_headers={"Authorization": f"Bearer {shop['camera_key']}"}) as socket:
            assert json.loads(await socket.recv())["type"] == "ready"
        used["wrong_camera_key"] = shop["camera_key"][:-6] + "zzzzzz"
        async with raw_socket(gateway.url, f"/v1/cameras/{shop['camera_id']}/frames?key={used['wrong_camera_key']}"):
            pass

        # The terminal: a micropay with a payment code, and its event websocket with a ticket.
        used["micropay_code"] = await payment_code(http, f"{gateway.url}/sim/alipay")
        paid = await terminal.micropay(1250, f"log{secrets.token_hex(4)}", used["micropay_code"])
        assert paid.status_code == 200 and paid.json()["status"] == "PAID", paid.text
        ticket = await terminal.events_ticket()
        assert ticket.status_code == 201, ticket.text
        websocket_path = ticket.json()["websocket_path"]
        used["ticket"] = parse_qs(urlsplit(websocket_path).query)["ticket"][0]
        async with raw_socket(gateway.url, websocket_path) as socket:
            assert json.loads(await socket.recv())["type"] == "hello"

        # The merchant: orders, one order, the deliveries; a wrong key too.
        orders = await http.get(f"{gateway.url}/v1/orders", headers=merchant)
        assert orders.status_code == 200 and len(orders.json()["items"]) == 2, orders.text
        order = await http.get(f"{gateway.url}/v1/orders/{paid.json()['order_id']}", headers=merchant)
        assert order.status_code == 200, order.text
        deliveries = await http.get(f"{gateway.url}/v1/webhook/deliveries", headers=merchant)
        assert deliveries.status_code == 200, deliveries.text
        used["wrong_api_key"] = shop["api_key"][:-6] + "zzzzzz"
        refused = await http.get(f"{gateway.url}/v1/orders", headers={"X-API-Key": used["wrong_api_key"]})
        assert refused.status_code == 401
    log = gateway.log.read_text()  # stdout and stderr of the process, at DEBUG
    messages = [json.loads(line)["message"] for line in log.splitlines() if line.startswith("{")]

    # The log is the one a run writes: every kind of line above is in it, query values and headers redacted.
    assert f'"WebSocket /v1/cameras/{shop["camera_id"]}/frames?key=***" [accepted]' in "\n".join(messages)
    assert f'"WebSocket /v1/terminals/{shop["terminal_id"]}/events?ticket=***" [accepted]' in "\n".join(messages)
    assert "< authorization: ***" in messages, "the websockets library's handshake headers, at DEBUG"
    assert "POST /v1/payments/micropay 200" in messages and "GET /v1/orders 401" in messages
    for name, value in used.items():
        if name not in ("terminal_id", "key_id", "camera_id"):  # identifiers, not secrets
            assert value not in log, f"{name} is in the log"
    for key in (shop["api_key"], shop["camera_key"]):
        assert key.rsplit("_", 1)[1] not in log, "a key's secret part is in the log"


def forge_path(marker: str) -> str:
    """A path whose decoded form starts a new line (LF, CR LF, and an escape sequence) with `marker`."""
    return f"/v1/payments/ord_x%0A{marker}%0D%0A{marker}%1B[2K%0D{marker}%7F%E2%80%A8{marker}"


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
async def test_no_request_forges_a_log_line(
    tmp_path: Path, database_url: str, http: httpx.AsyncClient, as_json: bool
) -> None:
    async with gateway_process(
        tmp_path,
        database_url,
        {},
        GATEWAY_DEV_MODE="false",  # no start-up banner on stdout: every line of the log is a log record
        GATEWAY_SECRET_KEY=secrets.token_urlsafe(16),
        GATEWAY_LOG_LEVEL="INFO",
        GATEWAY_LOG_JSON=str(as_json).lower(),
    ) as gateway:
        await gateway.start(http)
        for method in ("GET", "POST"):
            response = await http.request(method, gateway.url + forge_path(FORGED), content=b"{}")
            assert response.status_code in (401, 404, 405, 422), response.text
        with pytest.raises(InvalidStatus):  # no such websocket: refused, and logged
            async with raw_socket(gateway.url, f"/v1/nothing%0A{FORGED}"):
                pass
        async with raw_socket(gateway.url, f"/v1/terminals/trm_x%0A{FORGED}/events?ticket=x%0Ay") as socket:
            async with asyncio.timeout(10):
                await socket.wait_closed()  # a bad ticket: closed by the gateway
        forged_lines = [line for line in gateway.log.read_text().splitlines() if FORGED in line]
    lines = gateway.log.read_text().splitlines()
    assert len(forged_lines) >= 2, "the requests were logged"
    assert lines and not any(line.startswith(FORGED) for line in lines)
    assert not any(marker in line for line in lines for marker in ("\x1b", "\x7f", "\u2028")), "escaped, all"
    if as_json:
        records = [json.loads(line) for line in lines]  # every line is one whole record
        access = [record for record in records if FORGED in record["message"]]
        assert any(f"\\n{FORGED}\\r\\n{FORGED}\\x1b[2K\\r{FORGED}" in record["message"] for record in access)


def record_with_everything() -> logging.LogRecord:
    """A record whose message, extra fields and exception all carry line breaks, an escape and a query secret."""
    try:
        raise ValueError(f"bad\n{FORGED} ?key=ck_p_s3cret")
    except ValueError:
        record = logging.getLogger("gateway.test").makeRecord(
            "gateway.test",
            logging.ERROR,
            __file__,
            1,
            "GET %s 200\r\n%s\x1b[31m",
            ("/frames?key=ck_p_s3cret&after=5", FORGED),
            sys.exc_info(),
            extra={"url": f"http://x/?token=s3cret\n{FORGED}", "items": [f"\u2028{FORGED}"]},
        )
    return record


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()], ids=["json", "text"])
def test_every_field_of_a_record_is_one_line_without_secrets(formatter: logging.Formatter) -> None:
    line = formatter.format(record_with_everything())
    assert len(line.splitlines()) == 1 and "\x1b" not in line
    assert "s3cret" not in line and "?key=***&after=***" in line
    if isinstance(formatter, JsonFormatter):
        entry = json.loads(line)
        assert entry["message"] == f"GET /frames?key=***&after=*** 200\\r\\n{FORGED}\\x1b[31m"
        assert entry["url"] == "http://x/?token=***", "a query runs to a space: a line break in it goes with it"
        assert entry["items"] == [f"\\u2028{FORGED}"]
        assert "Traceback" in entry["exception"] and "\n" not in entry["exception"]
    else:
        assert line.count("\\n") >= 3, "the traceback's line breaks, escaped"


def test_only_query_strings_are_redacted() -> None:
    """A `?` that follows no path (a SQL placeholder, a question) is text, not a query string."""
    assert line_safe("INSERT INTO orders (id, status) VALUES (?, ?)") == "INSERT INTO orders (id, status) VALUES (?, ?)"
    assert line_safe("is it paid? yes") == "is it paid? yes"
    assert line_safe("/v1/orders?cursor=abc next") == "/v1/orders?cursor=*** next"
