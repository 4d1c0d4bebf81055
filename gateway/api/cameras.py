"""B-scan-C by camera: scan sessions (signed terminal requests), codes posted by cameras, and frame websockets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Security, WebSocket
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.camera_schemas import CHARGED_PAYING_EXAMPLE, CameraCodeIn, ScanSessionIn, ScanSessionOut
from gateway.api.deps import TERMINAL_AUTH, CamerasDep, TerminalDep
from gateway.api.payments import CHARGE_CHECKS
from gateway.api.problems import problem_responses
from gateway.services.camera_streams import serve_camera_frames
from gateway.services.cameras import ScanSessionView

router = APIRouter()

PENDING = 202

camera_key = HTTPBearer(
    auto_error=False,
    scheme_name="CameraKey",
    description="The camera key, `ck_<prefix>_<secret>`, shown once by `gateway cameras create`.",
)


def session_response(view: ScanSessionView, status_code: int = 200) -> JSONResponse:
    return JSONResponse(ScanSessionOut.of(view).model_dump(mode="json"), status_code=status_code)


@router.post(
    "/v1/payments/scan-sessions",
    operation_id="openScanSession",
    summary="Wait for the terminal's camera to read a payment code (B-scan-C)",
    tags=["Terminal payments"],
    status_code=201,
    response_model=ScanSessionOut,
    responses=problem_responses(
        *TERMINAL_AUTH, *CHARGE_CHECKS, "validation_error", "no_camera", "duplicate_out_trade_no", "scan_session_open"
    ),
)
async def open_scan_session(body: ScanSessionIn, cameras: CamerasDep, terminal: TerminalDep) -> JSONResponse:
    """Open a session (`OPEN`) for an amount: the first wallet payment code this terminal's camera reads within
    the session's lifetime is charged for it, once. One session is open per terminal at a time; follow it with
    `GET /v1/payments/scan-sessions/{session_id}` or the terminal events.
    """
    view = await cameras.open_session(terminal, body.amount_fen, body.out_trade_no, body.description)
    return session_response(view, 201)


@router.get(
    "/v1/payments/scan-sessions/{session_id}",
    operation_id="getScanSession",
    summary="A scan session of this terminal, with its payment once charged",
    tags=["Terminal payments"],
    response_model=ScanSessionOut,
    responses=problem_responses(*TERMINAL_AUTH, "scan_session_not_found"),
)
async def get_scan_session(session_id: str, cameras: CamerasDep, terminal: TerminalDep) -> JSONResponse:
    """A session of this terminal as it stands (an overdue one is `EXPIRED` here), with its payment once charged."""
    return session_response(await cameras.get_session(terminal.terminal_id, session_id))


@router.delete(
    "/v1/payments/scan-sessions/{session_id}",
    operation_id="cancelScanSession",
    summary="Cancel an open scan session",
    tags=["Terminal payments"],
    response_model=ScanSessionOut,
    responses=problem_responses(
        *TERMINAL_AUTH, "scan_session_not_found", "scan_session_charging", "scan_session_charged"
    ),
)
async def cancel_scan_session(session_id: str, cameras: CamerasDep, terminal: TerminalDep) -> JSONResponse:
    """Close an open session without charging (`CANCELLED`; a repeat returns it as it is). A session whose code
    is being or was charged cannot be cancelled (409).
    """
    return session_response(await cameras.cancel_session(terminal.terminal_id, session_id))


@router.post(
    "/v1/cameras/{camera_id}/codes",
    operation_id="submitCameraCode",
    summary="A payment code the camera decoded: charges the terminal's open scan session once",
    tags=["Cameras"],
    response_model=ScanSessionOut,
    responses={
        PENDING: {
            "model": ScanSessionOut,
            "description": "Charged, the payment still PAYING: the result follows",
            "content": {"application/json": {"example": CHARGED_PAYING_EXAMPLE}},
        },
        **problem_responses(
            "missing_camera_key",
            "invalid_camera_key",
            *CHARGE_CHECKS,
            "validation_error",
            "not_payment_code",
            "unsupported_payment_code",
            "channel_not_configured",
            "no_open_session",
            "scan_session_busy",
            "duplicate_out_trade_no",
            "payment_code_used",
        ),
    },
)
async def submit_camera_code(
    camera_id: str,
    body: CameraCodeIn,
    cameras: CamerasDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(camera_key)],
) -> JSONResponse:
    """A code the camera decoded itself (the edge CLI posts these). A wallet payment code charges the open scan
    session of the camera's terminal, exactly once however often the same code arrives: **200** with the session
    and its final payment, **202** while the payment is still `PAYING`. A refused code leaves the session open
    (its `last_refusal` says why); the code is never echoed back in full.
    """
    camera = await cameras.authenticate(camera_id, credentials.credentials if credentials else None)
    view = await cameras.submit_code(camera, body.code)
    final = view.order is not None and view.order.status.is_final
    return session_response(view, 200 if final else PENDING)


@router.websocket("/v1/cameras/{camera_id}/frames")
async def camera_frames(websocket: WebSocket, camera_id: str, cameras: CamerasDep) -> None:
    """Binary JPEG (or PNG) frames in; JSON status messages out. The key comes as `Authorization: Bearer ck_...`,
    or as `?key=ck_...` for clients that cannot set headers on a websocket (browsers).
    """
    await websocket.accept()
    token = _bearer(websocket.headers.get("authorization")) or websocket.query_params.get("key")
    await serve_camera_frames(websocket, camera_id, token, cameras)


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
