"""One terminal's event websocket: ticket, hello, resume, replay then live events, acks, heartbeats and limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from gateway.realtime.hub import OVERFLOWED, Subscription
from gateway.services.terminal_events import TerminalEvents, TicketRefused

log = logging.getLogger(__name__)

#: Close codes (RFC 6455) the terminal can act on.
CLOSE_GOING_AWAY = 1001  # max lifetime reached or heartbeats missed: reconnect
CLOSE_UNSUPPORTED = 1003  # a binary frame
CLOSE_INVALID = 1007  # not JSON, an unknown message type, a malformed ack or resume
CLOSE_POLICY = 1008  # bad/used/expired ticket, another terminal's id, too many messages
CLOSE_TOO_BIG = 1009  # a client message over MAX_CLIENT_MESSAGE_BYTES
CLOSE_TRY_AGAIN = 1013  # fell too far behind: reconnect and resume from the last ack

MAX_CLIENT_MESSAGE_BYTES = 1024
#: Client messages (but acks that move forward): a bucket of this many, refilled at this rate per second.
CLIENT_MESSAGE_BURST = 40
CLIENT_MESSAGES_PER_S = 20.0
RESUME_WAIT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
REPLAY_PAGE = 200
#: Acks are written to the database at most this often (and when the socket closes).
ACK_FLUSH_INTERVAL_S = 1.0


class ClientGone(Exception):
    """The terminal disconnected."""


class Peer(Protocol):
    """The accepted websocket as this module needs it (the API layer adapts its framework's socket)."""

    async def receive(self) -> Mapping[str, Any]:
        """The next ASGI websocket message (`websocket.receive` with `text` or `bytes`, or `websocket.disconnect`)."""
        ...

    async def send_text(self, text: str) -> None:
        """Send one text frame; raise ClientGone when the terminal is no longer there."""
        ...

    async def close(self, code: int, reason: str) -> None: ...


async def serve_terminal_socket(
    peer: Peer, terminal_id: str, ticket: str, events: TerminalEvents, max_lifetime_s: float
) -> None:
    """Spend the ticket, then serve the connection until it ends (an accepted websocket; closed on return)."""
    try:
        await events.tickets.redeem(ticket, terminal_id)
    except TicketRefused as refused:
        log.warning("terminal websocket for %.32s refused: %s", terminal_id, refused)
        await peer.close(CLOSE_POLICY, str(refused))
        return
    await TerminalSocket(peer, terminal_id, events).run(max_lifetime_s)


class SocketClosing(Exception):
    """End the connection with this close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class TerminalSocket:
    """One terminal connection: replay after the resume point, then live events; acks, heartbeats, limits."""

    def __init__(self, peer: Peer, terminal_id: str, events: TerminalEvents) -> None:
        self._peer = peer
        self._terminal_id = terminal_id
        self._events = events
        self._send_lock = asyncio.Lock()
        self._last_sent = 0
        self._acked = 0
        self._acked_saved = 0
        self._ack_saved_at = 0.0
        self._subscription: Subscription | None = None
        self._tokens = float(CLIENT_MESSAGE_BURST)
        self._tokens_at = time.monotonic()

    async def run(self, max_lifetime_s: float) -> None:
        subscription: Subscription | None = None
        tasks: list[asyncio.Task[None]] = []
        closing = SocketClosing(CLOSE_GOING_AWAY, "maximum connection lifetime reached; reconnect")
        try:
            self._acked = self._acked_saved = await self._events.log.acked(self._terminal_id)
            await self._send(
                {
                    "type": "hello",
                    "terminal_id": self._terminal_id,
                    "acked": self._acked,
                    "heartbeat_s": self._events.hub.heartbeat_s,
                    "max_lifetime_s": max_lifetime_s,
                }
            )
            async with asyncio.timeout(RESUME_WAIT_S):
                self._last_sent = await self._receive_resume()
            subscription = self._events.hub.subscribe(self._terminal_id)  # before the replay: nothing falls between
            self._subscription = subscription
            tasks = [
                asyncio.create_task(self._read_client()),
                asyncio.create_task(self._send_events(subscription)),
                asyncio.create_task(self._until_ended(subscription)),
            ]
            done, _ = await asyncio.wait(tasks, timeout=max_lifetime_s, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        except SocketClosing as reason:
            closing = reason
        except TimeoutError:
            closing = SocketClosing(CLOSE_POLICY, "expected a resume message")
        except ClientGone:
            return
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if subscription is not None:
                self._events.hub.unsubscribe(subscription)
            try:
                await self._flush_ack()
            except Exception:
                log.exception("could not save the ack of terminal %s", self._terminal_id)
        if closing.code != CLOSE_GOING_AWAY:
            log.warning("terminal %s websocket closed %d: %s", self._terminal_id, closing.code, closing.reason)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):  # a peer that reads nothing must not hold us
                await self._peer.close(closing.code, closing.reason)

    async def _send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        async with self._send_lock:
            await self._peer.send_text(text)

    async def _receive(self) -> dict[str, Any]:
        """The next client message, parsed and within limits (heartbeat replies are answered on the way)."""
        while True:
            message = await self._peer.receive()
            if message["type"] == "websocket.disconnect":
                raise ClientGone
            if self._subscription is not None:
                self._subscription.heard()
            text = message.get("text")
            if text is None:
                raise SocketClosing(CLOSE_UNSUPPORTED, "send JSON text frames")
            if len(text) > MAX_CLIENT_MESSAGE_BYTES or len(text.encode()) > MAX_CLIENT_MESSAGE_BYTES:
                raise SocketClosing(CLOSE_TOO_BIG, f"messages are at most {MAX_CLIENT_MESSAGE_BYTES} bytes")
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                raise SocketClosing(CLOSE_INVALID, "messages must be JSON") from exc
            if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
                raise SocketClosing(CLOSE_INVALID, "messages must be JSON objects with a type")
            if parsed["type"] != "ack":  # acks that move forward are bounded by what we send; see _read_client
                self._spend_token()
            if parsed["type"] == "pong":
                continue
            if parsed["type"] == "ping":
                await self._send({"type": "pong"})
                continue
            return parsed

    def _spend_token(self) -> None:
        now = time.monotonic()
        self._tokens = min(CLIENT_MESSAGE_BURST, self._tokens + (now - self._tokens_at) * CLIENT_MESSAGES_PER_S)
        self._tokens_at = now
        if self._tokens < 1:
            raise SocketClosing(CLOSE_POLICY, "too many messages")
        self._tokens -= 1

    async def _receive_resume(self) -> int:
        message = await self._receive()
        after = _sequence(message.get("after", self._acked))
        if message["type"] != "resume" or after is None:
            raise SocketClosing(CLOSE_INVALID, 'the first message must be {"type": "resume", "after": <seq>}')
        return after

    async def _read_client(self) -> None:
        while True:
            message = await self._receive()
            seq = _sequence(message.get("seq"))
            if message["type"] != "ack" or seq is None or seq > self._last_sent:
                raise SocketClosing(CLOSE_INVALID, 'malformed ack: send {"type": "ack", "seq": <a seq sent>}')
            if seq <= self._acked:
                self._spend_token()
            self._acked = max(self._acked, seq)
            if time.monotonic() - self._ack_saved_at >= ACK_FLUSH_INTERVAL_S:
                await self._flush_ack()

    async def _flush_ack(self) -> None:
        if self._acked > self._acked_saved:
            acked = self._acked
            await self._events.log.save_ack(self._terminal_id, acked)
            self._acked_saved, self._ack_saved_at = acked, time.monotonic()

    async def _send_events(self, subscription: Subscription) -> None:
        subscription.sent(self._last_sent)  # the terminal has everything up to its resume point
        await self._replay(subscription)
        while True:
            await subscription.wait()
            events, catch_up = subscription.take()
            if subscription.ping_due():
                await self._send({"type": "ping"})
            for event in events:
                if event.seq <= self._last_sent:
                    continue  # already replayed
                if event.seq != self._last_sent + 1:
                    catch_up = True  # a gap: the outbox has what is missing, in order
                    break
                self._last_sent = event.seq  # before sending: its ack may be read before the send returns
                await self._send(event.encoded)
            if catch_up:
                await self._replay(subscription)

    async def _replay(self, subscription: Subscription) -> None:
        while True:
            events = await self._events.log.after(self._terminal_id, self._last_sent, REPLAY_PAGE)
            for event in events:
                self._last_sent = event.seq
                subscription.sent(event.seq)
                await self._send(event.encoded)
            if len(events) < REPLAY_PAGE:
                return

    async def _until_ended(self, subscription: Subscription) -> None:
        """The hub ends a subscription that fell too far behind or missed its heartbeats; so ends the connection."""
        await subscription.ended.wait()
        if subscription.end_reason == OVERFLOWED:
            raise SocketClosing(CLOSE_TRY_AGAIN, "too far behind; reconnect and resume from your last ack")
        raise SocketClosing(CLOSE_GOING_AWAY, "heartbeat missed")


def _sequence(value: object) -> int | None:
    """`value` if it is a sequence number (an int, not a bool, in range), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**62:
        return value
    return None
