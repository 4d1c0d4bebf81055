"""Terminal events: a ticket from a signed call, the websocket (resume, acks, heartbeats), and polling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from gateway.api.delivery_schemas import TerminalEventOut, TerminalEventPageOut, TicketOut
from gateway.api.deps import TERMINAL_AUTH, EventsDep, TerminalDep, only_query_params
from gateway.api.problems import problem_responses
from gateway.domain.errors import Forbidden
from gateway.services.terminal_socket import REPLAY_PAGE, ClientGone, serve_terminal_socket

router = APIRouter(tags=["Terminal events"])


def _check_own_terminal(terminal_id: str, signer: str) -> None:
    if terminal_id != signer:
        raise Forbidden("a terminal reads only its own events", code="other_terminal")


@router.post(
    "/v1/terminal/events/ticket",
    operation_id="createEventsTicket",
    summary="Get a single-use ticket for the event websocket",
    status_code=201,
    response_model=TicketOut,
    responses=problem_responses(*TERMINAL_AUTH),
)
async def create_ticket(events: EventsDep, terminal: TerminalDep) -> TicketOut:
    """A websocket cannot carry a request signature, so a signed call gets a ticket first: connect to
    `websocket_path` within seconds. The socket sends this terminal's events in order (`seq`), resumes after
    the last one acknowledged, and sends heartbeats.
    """
    issued = await events.tickets.issue(terminal.terminal_id)
    path = f"/v1/terminals/{terminal.terminal_id}/events?ticket={issued.ticket}"
    return TicketOut(ticket=issued.ticket, expires_at=issued.expires_at, websocket_path=path)


@router.get(
    "/v1/terminals/{terminal_id}/events",
    operation_id="pollTerminalEvents",
    summary="Events after a sequence number (the websocket's stream, for terminals that poll)",
    response_model=TerminalEventPageOut,
    responses=problem_responses(*TERMINAL_AUTH, "other_terminal", "validation_error", "unknown_parameter"),
    dependencies=[only_query_params("after", "limit")],
)
async def poll_events(
    terminal_id: str,
    events: EventsDep,
    terminal: TerminalDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="The last sequence number you have (acks it).")] = 0,
    limit: Annotated[int, Query(ge=1, le=REPLAY_PAGE)] = 100,
) -> TerminalEventPageOut:
    """The same events as the websocket, for terminals that poll: those after `after`, oldest first. Asking
    with `after=N` acknowledges every event up to N. A terminal reads only its own events.
    """
    _check_own_terminal(terminal_id, terminal.terminal_id)
    polled = await events.log.poll(terminal_id, after, limit)
    return TerminalEventPageOut(
        items=[TerminalEventOut.model_validate(event.message()) for event in polled],
        next_after=polled[-1].seq if polled else after,
    )


@router.websocket("/v1/terminals/{terminal_id}/events")
async def events_socket(websocket: WebSocket, terminal_id: str, events: EventsDep) -> None:
    await websocket.accept()
    ticket = websocket.query_params.get("ticket", "")
    await serve_terminal_socket(_StarlettePeer(websocket), terminal_id, ticket, events, events.max_lifetime_s)


class _StarlettePeer:
    """A Starlette websocket as the terminal socket's peer: a send to a vanished client raises ClientGone."""

    __slots__ = ("_websocket",)

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def receive(self) -> Mapping[str, Any]:
        return await self._websocket.receive()

    async def send_text(self, text: str) -> None:
        try:
            await self._websocket.send_text(text)
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:  # RuntimeError: the socket closed meanwhile
            raise ClientGone from exc

    async def close(self, code: int, reason: str) -> None:
        await self._websocket.close(code, reason)
