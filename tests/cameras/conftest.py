"""Camera-flow fixtures: a live gateway with a camera, a scan-session helper, generated frames and a frame socket."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from camera.codes import Wallet
from camera.synthetic import Pose, clutter_scene, place, render_phone
from gateway.config import Settings
from gateway.persistence.tables import OutboxEvent
from tests.support.live import LiveGateway, live_gateway


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    # Frames are sent faster than a real camera's 15 fps so the tests stay short.
    async with live_gateway(settings, camera_max_fps=60.0) as gateway:
        yield gateway


def camera_headers(live: LiveGateway, key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key or live.credentials['camera_key']}"}


async def open_session(live: LiveGateway, amount_fen: int = 1250, **fields: Any) -> httpx.Response:
    return await live.terminal.request("POST", "/v1/payments/scan-sessions", {"amount_fen": amount_fen, **fields})


async def post_code(
    live: LiveGateway, code: str, key: str | None = None, camera_id: str | None = None
) -> httpx.Response:
    camera = camera_id or live.credentials["camera_id"]
    return await live.http.post(
        f"{live.url}/v1/cameras/{camera}/codes", json={"code": code}, headers=camera_headers(live, key)
    )


def charges(live: LiveGateway) -> int:
    """Charges booked by all three simulated channels."""
    return sum(entry.kind == "charge" for sim in live.runtime.simulators.values() for entry in sim.bank.ledger)


async def final_events(live: LiveGateway, order_id: str) -> list[OutboxEvent]:
    """The outbox events written for the demo terminal about one order."""
    statement = select(OutboxEvent).where(
        OutboxEvent.terminal_id == live.credentials["terminal_id"], OutboxEvent.order_id == order_id
    )
    return await live.runtime.db.transaction(lambda tx: list(tx.session.scalars(statement)))


@contextlib.asynccontextmanager
async def frame_socket(
    live: LiveGateway, key: str | None = None, camera_id: str | None = None, query_key: bool = False
) -> AsyncIterator[ClientConnection]:
    """The camera's frame websocket; the key goes in the Authorization header, or in `?key=` when asked."""
    camera = camera_id or live.credentials["camera_id"]
    url = live.url.replace("http://", "ws://") + f"/v1/cameras/{camera}/frames"
    token = key or live.credentials["camera_key"]
    if query_key:
        async with connect(f"{url}?key={token}") as socket:
            yield socket
    else:
        async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
            yield socket


async def next_message(socket: ClientConnection, **match: Any) -> dict[str, Any]:
    """The next status message whose fields equal `match` (earlier ones are skipped)."""
    while True:
        message: dict[str, Any] = json.loads(await socket.recv())
        if all(message.get(field) == value for field, value in match.items()):
            return message


def encode_jpeg(image: np.ndarray, quality: int = 88) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def phone_video(barcode: str | None, qr_text: str | None, frames: int, seed: int = 7) -> Iterator[bytes]:
    """A hand-held phone showing a wallet screen in front of a counter: the pose drifts a little every frame."""
    rng = random.Random(seed)
    background = clutter_scene(rng)
    phone = render_phone(rng, barcode, qr_text, Wallet.WECHAT)
    for index in range(frames):
        scene = background.copy()
        pose = Pose(300 + 10 * np.sin(index / 4), 4 * np.sin(index / 5), 3 * np.cos(index / 6), 5 * np.sin(index / 7))
        place(scene, phone, pose, rng, offset_px=(-150 + 8 * index, 20 * np.sin(index / 3)))
        yield encode_jpeg(scene)


def two_phones_frame(first: str, second: str, seed: int = 9) -> bytes:
    """Two customers holding their payment codes up side by side."""
    rng = random.Random(seed)
    scene = clutter_scene(rng)
    for offset, code in ((-230.0, first), (230.0, second)):
        place(scene, render_phone(rng, code, code, Wallet.ALIPAY), Pose(330), rng, offset_px=(offset, 0.0))
    return encode_jpeg(scene)


def empty_frames(frames: int, seed: int = 8) -> list[bytes]:
    """The counter with nobody holding anything up yet."""
    return [encode_jpeg(clutter_scene(random.Random(f"{seed}:{index}"))) for index in range(frames)]
