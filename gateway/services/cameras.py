"""Cameras and scan sessions: camera keys, B-scan-C sessions on a terminal, one read code -> exactly one charge."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.config import Settings
from gateway.domain.codes import classify_payment_code, mask_payment_code
from gateway.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    MalformedPaymentCode,
    NotFound,
    Unauthenticated,
)
from gateway.domain.ids import new_id
from gateway.domain.scans import SCAN_SESSION_MACHINE, ScanSessionStatus
from gateway.persistence import cameras as camera_rows
from gateway.persistence import scan_sessions
from gateway.persistence import terminals as terminal_rows
from gateway.persistence.database import Database, Tx
from gateway.persistence.orders import load_order
from gateway.persistence.tables import Camera, Order, ScanSession
from gateway.services.credentials import (
    CAMERA_KEY_PREFIX,
    RotatedKey,
    issue_api_key,
    key_id,
    revoke_row_key,
    rotate_row_key,
    secret_matches,
    split_api_key,
)
from gateway.services.payments import MicropayInput, PaymentService
from gateway.services.terminals import TerminalContext

log = logging.getLogger(__name__)

#: A session still CHARGING after this long was left behind by a request that died mid-charge; it is then
#: settled from what the database knows (the order made for its out_trade_no, or none).
CHARGING_LEASE = timedelta(seconds=60)

S = ScanSessionStatus


@dataclass(frozen=True)
class CameraIdentity:
    """An authenticated camera and the terminal it reads codes for."""

    camera_id: str
    terminal_id: str


@dataclass(frozen=True)
class NewCamera:
    camera_id: str
    terminal_id: str
    name: str
    key: str  # shown once


@dataclass(frozen=True)
class CameraSummary:
    """A camera as listed: no secret, only the ids of its keys (`ck_<prefix>`; two during a rotation, oldest
    first).
    """

    camera_id: str
    terminal_id: str
    name: str
    created_at: datetime
    disabled_at: datetime | None
    key_ids: list[str]


@dataclass(frozen=True)
class ScanSessionView:
    """A session and, once charged, the order its code became."""

    session: ScanSession
    order: Order | None


class CameraService:
    """Camera keys, scan sessions, and which camera streams this instance is decoding right now."""

    def __init__(self, db: Database, payments: PaymentService, settings: Settings) -> None:
        self._db = db
        self._payments = payments
        self.settings = settings
        self._streams: dict[str, Callable[[], None]] = {}  # camera id -> how to stop its current stream
        # One decoding thread per admitted stream, apart from the loop's default executor, so busy
        # cameras never starve the threads that DNS lookups and other blocking helpers need.
        self.frame_executor = ThreadPoolExecutor(settings.camera_max_streams, thread_name_prefix="camera-frames")

    # ---- cameras -------------------------------------------------------------------------------------

    async def create_camera(self, terminal_id: str, name: str = "") -> NewCamera:
        key = issue_api_key(CAMERA_KEY_PREFIX)
        camera = Camera(
            id=new_id("cam"),
            terminal_id=terminal_id,
            name=name[:128],
            key_prefix=key.prefix,
            secret_hash=key.secret_hash,
            created_at=datetime.now(UTC),
            disabled_at=None,
        )

        def create(tx: Tx) -> None:
            if not camera_rows.terminal_exists(tx, terminal_id):
                raise NotFound(f"no terminal {terminal_id}", code="terminal_not_found")
            camera_rows.add_camera(tx, camera)

        await self._db.transaction(create)
        return NewCamera(camera.id, terminal_id, camera.name, key.token)

    async def authenticate(self, camera_id: str, token: str | None) -> CameraIdentity:
        """The camera whose key (current, or replaced by a rotation and not yet revoked) this is; a key of another
        camera is not valid here. A disabled camera, or one of a disabled terminal or merchant, is refused (403).
        """
        if not token:
            raise Unauthenticated("send the camera key as 'Authorization: Bearer ck_...'", code="missing_camera_key")
        parts = split_api_key(token, CAMERA_KEY_PREFIX)
        if parts is None:
            raise Unauthenticated("the camera key is not valid", code="invalid_camera_key")
        prefix, secret = parts
        camera = await self._db.transaction(camera_rows.camera_by_key_prefix, prefix)
        if camera is None or camera.id != camera_id or not secret_matches(secret, camera.secret_hash):
            raise Unauthenticated("the camera key is not valid", code="invalid_camera_key")
        if camera.merchant_disabled_at is not None:
            raise Forbidden("this camera's merchant is disabled", code="merchant_disabled")
        if camera.terminal_disabled_at is not None:
            raise Forbidden(f"terminal {camera.terminal_id} is disabled", code="terminal_disabled")
        if camera.disabled_at is not None:
            raise Forbidden(f"camera {camera.id} is disabled", code="camera_disabled")
        return CameraIdentity(camera.id, camera.terminal_id)

    async def list_cameras(self, terminal_id: str | None = None) -> list[CameraSummary]:
        rows = await self._db.transaction(camera_rows.list_cameras, terminal_id)
        return [
            CameraSummary(
                row.id,
                row.terminal_id,
                row.name,
                row.created_at,
                row.disabled_at,
                [key_id(CAMERA_KEY_PREFIX, p) for p in (row.previous_key_prefix, row.key_prefix) if p is not None],
            )
            for row in rows
        ]

    async def set_disabled(self, camera_id: str, disabled: bool) -> datetime | None:
        """Disable the camera (its codes and frames are refused) or enable it again."""
        disabled_at = datetime.now(UTC) if disabled else None
        if not await self._db.transaction(camera_rows.set_camera_disabled, camera_id, disabled_at):
            raise NotFound(f"no camera {camera_id}", code="camera_not_found")
        return disabled_at

    async def rotate_key(self, camera_id: str) -> RotatedKey:
        """Issue the camera a new key; the current one keeps working until `revoke_key`."""
        key = issue_api_key(CAMERA_KEY_PREFIX)
        previous = await self._db.transaction(
            rotate_row_key, camera_rows.KEYS, "camera", camera_id, key.prefix, key.secret_hash
        )
        return RotatedKey(camera_id, key_id(CAMERA_KEY_PREFIX, key.prefix), key.token, previous)

    async def revoke_key(self, camera_id: str, revoked_key_id: str) -> None:
        """Revoke one of the camera's two keys (`ck_<prefix>`); the other one stays."""
        await self._db.transaction(revoke_row_key, camera_rows.KEYS, "camera", camera_id, revoked_key_id)

    def admit_stream(self, camera_id: str, stop: Callable[[], None]) -> None:
        """Reserve a decoding thread for a camera's frame stream until `end_stream`.

        A camera's newest connection wins and the older one is stopped: a camera reconnecting after a
        network drop must not wait until the gateway notices that its old connection is dead.
        """
        previous = self._streams.get(camera_id)
        if previous is None and len(self._streams) >= self.settings.camera_max_streams:
            raise Conflict("this gateway decodes no more camera streams now", code="too_many_camera_streams")
        self._streams[camera_id] = stop
        if previous is not None:
            previous()

    def end_stream(self, camera_id: str, stop: Callable[[], None]) -> None:
        if self._streams.get(camera_id) is stop:
            del self._streams[camera_id]

    def close(self) -> None:
        self.frame_executor.shutdown(wait=False, cancel_futures=True)

    # ---- scan sessions -------------------------------------------------------------------------------

    async def open_session(
        self, terminal: TerminalContext, amount_fen: int, out_trade_no: str | None, description: str
    ) -> ScanSessionView:
        """Wait for the terminal's camera to read a code for this amount; one open session per terminal."""
        self._payments.check_terminal_may_charge(terminal, amount_fen)
        now = datetime.now(UTC)
        session_id = new_id("scn")
        SCAN_SESSION_MACHINE.creation_path(S.OPEN)
        scan = ScanSession(
            id=session_id,
            terminal_id=terminal.terminal_id,
            merchant_id=terminal.merchant_id,
            active_terminal_id=terminal.terminal_id,
            status=S.OPEN,
            amount_fen=amount_fen,
            out_trade_no=out_trade_no or session_id.replace("_", ""),
            description=description,
            operator_id=terminal.operator_id,
            expires_at=now + timedelta(seconds=self.settings.scan_session_ttl_s),
            created_at=now,
        )

        def open_(tx: Tx) -> None:
            if not camera_rows.terminal_has_camera(tx, terminal.terminal_id):
                raise InvalidInput(
                    "this terminal has no camera; register one with `gateway cameras create`", code="no_camera"
                )
            if scan_sessions.order_id_for(tx, terminal.merchant_id, scan.out_trade_no) is not None:
                raise Conflict(f"out_trade_no {scan.out_trade_no} is already used", code="duplicate_out_trade_no")
            if not scan_sessions.insert_if_slot_free(tx, scan):
                active = scan_sessions.active_of_terminal(tx, terminal.terminal_id)
                raise Conflict(
                    f"scan session {active.id if active else None} is still open on this terminal; "
                    "cancel it or wait for it to end",
                    code="scan_session_open",
                )

        await self._settle(terminal.terminal_id, now)
        await self._db.transaction(open_)
        return ScanSessionView(scan, None)

    async def get_session(self, terminal_id: str, session_id: str) -> ScanSessionView:
        """One of the terminal's sessions; another terminal's does not exist for this one."""
        await self._settle(terminal_id, datetime.now(UTC))
        return await self._db.transaction(_view, terminal_id, session_id)

    async def cancel_session(self, terminal_id: str, session_id: str) -> ScanSessionView:
        """Close an open session; cancelling a closed-without-payment one again is a harmless repeat."""
        now = datetime.now(UTC)
        await self._settle(terminal_id, now)

        def cancel(tx: Tx) -> ScanSessionView:
            _move(tx, session_id, S.OPEN, S.CANCELLED, now, terminal_id=terminal_id)
            return _view(tx, terminal_id, session_id)

        view = await self._db.transaction(cancel)
        if view.session.status is S.CHARGING:
            raise Conflict("a payment code is being charged for this session", code="scan_session_charging")
        if view.session.status is S.CHARGED:
            raise Conflict(
                f"this session was already charged as order {view.session.order_id}", code="scan_session_charged"
            )
        return view

    # ---- codes read by cameras -----------------------------------------------------------------------

    async def submit_code(self, camera: CameraIdentity, raw_code: str) -> ScanSessionView:
        """Charge the terminal's open session with this code, exactly once however often the code arrives.

        The session moves OPEN -> CHARGING with a compare-and-set UPDATE: of concurrent submissions (the
        same code in 30 frames, a retried POST) exactly one wins; the rest find it busy or closed. The
        payment service's single-use code guard stops the same code charging another session.
        """
        code = raw_code.strip()
        try:
            classify_payment_code(code)
        except MalformedPaymentCode as not_payment:
            raise InvalidInput(
                "the code read is not a wallet payment code (16-24 digits)", code="not_payment_code"
            ) from not_payment
        masked = mask_payment_code(code)
        now = datetime.now(UTC)
        await self._settle(camera.terminal_id, now)

        def claim(tx: Tx) -> tuple[ScanSession, TerminalContext] | None:
            scan = scan_sessions.active_of_terminal(tx, camera.terminal_id)
            if scan is None:
                return None
            if not _move(tx, scan.id, S.OPEN, S.CHARGING, now, unexpired_at=now, charging_since=now):
                # Lost the race, or found it expired: say which, as the database sees it after the claim.
                busy = scan_sessions.status_of(tx, scan.id) is S.CHARGING
                raise Conflict(
                    "another code is being charged for this session"
                    if busy
                    else "no scan session is open on this camera's terminal",
                    code="scan_session_busy" if busy else "no_open_session",
                )
            # Read here, with the claim: the charge needs the terminal as a signed request from it would show it,
            # by the operator who opened the session (whoever is signed in now).
            terminal = TerminalContext.of(terminal_rows.terminal_context_row(tx, camera.terminal_id))
            return scan, replace(terminal, operator_id=scan.operator_id)

        claimed = await self._db.transaction(claim)
        if claimed is None:
            log.info("camera %s read %s: no open scan session", camera.camera_id, masked)
            raise Conflict("no scan session is open on this camera's terminal", code="no_open_session")
        scan, terminal = claimed
        log.info("camera %s read %s: charging scan session %s", camera.camera_id, masked, scan.id)
        request = MicropayInput(scan.out_trade_no, scan.amount_fen, code, scan.description)
        try:
            order = await self._payments.micropay(terminal, request)
        except DomainError as refusal:
            log.info("scan session %s: code %s refused (%s)", scan.id, masked, refusal.code)
            await self._db.transaction(_reopen, scan.id, datetime.now(UTC), refusal.code)
            raise
        except BaseException:
            await self._db.transaction(_settle_charging, scan.id, datetime.now(UTC))
            raise

        def close(tx: Tx) -> ScanSessionView:
            _move(tx, scan.id, S.CHARGING, S.CHARGED, datetime.now(UTC), order_id=order.id)
            return _view(tx, camera.terminal_id, scan.id)

        return await self._db.transaction(close)

    async def _settle(self, terminal_id: str, now: datetime) -> None:
        """Expire the terminal's overdue open session and settle one a crashed charge left CHARGING."""

        def settle(tx: Tx) -> None:
            if SCAN_SESSION_MACHINE.check(S.OPEN, S.EXPIRED):
                scan_sessions.expire_overdue(tx, terminal_id, now)
            for session_id in scan_sessions.stale_charging_ids(tx, terminal_id, now - CHARGING_LEASE):
                _settle_charging(tx, session_id, now)

        await self._db.transaction(settle)


def _move(
    tx: Tx, session_id: str, expected: ScanSessionStatus, target: ScanSessionStatus, now: datetime, **changes: Any
) -> bool:
    """A status change through the table, applied only if the session is still in `expected`; True if it changed.

    `changes` are the repository's extra conditions (`terminal_id`, `unexpired_at`) and the columns to set.
    """
    if not SCAN_SESSION_MACHINE.check(expected, target):
        return False
    return scan_sessions.compare_and_set(tx, session_id, expected, target, now, **changes)


def _view(tx: Tx, terminal_id: str, session_id: str) -> ScanSessionView:
    scan = scan_sessions.load_of_terminal(tx, session_id, terminal_id)
    if scan is None:
        raise NotFound(f"no scan session {session_id} on this terminal", code="scan_session_not_found")
    return ScanSessionView(scan, load_order(tx, scan.order_id) if scan.order_id else None)


def _reopen(tx: Tx, session_id: str, now: datetime, refusal: str) -> None:
    """The code was refused before anything was charged: the customer may show another one."""
    _move(tx, session_id, S.CHARGING, S.OPEN, now, charging_since=None, last_refusal=refusal)


def _settle_charging(tx: Tx, session_id: str, now: datetime) -> None:
    """Finish a CHARGING session from the database: charged if its order exists, else open again.

    The order is found by the session's out_trade_no, which the payment service writes with the order
    before it calls the channel; that order's own follow-up job brings it to a final state.
    """
    scan = scan_sessions.load(tx, session_id)
    if scan is None or scan.status is not S.CHARGING:
        return
    order_id = scan_sessions.order_id_for(tx, scan.merchant_id, scan.out_trade_no)
    if order_id is not None:
        _move(tx, session_id, S.CHARGING, S.CHARGED, now, order_id=order_id)
    else:
        _move(tx, session_id, S.CHARGING, S.OPEN, now, charging_since=None)
