"""Cameras and scan sessions: camera keys, B-scan-C sessions on a terminal, one read code -> exactly one charge."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.config import Settings
from gateway.domain.codes import classify_payment_code, mask_payment_code
from gateway.domain.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    MalformedPaymentCode,
    NotFound,
    Unauthenticated,
)
from gateway.domain.ids import new_id
from gateway.domain.scans import ScanSessionStatus
from gateway.persistence.tables import Camera, Merchant, Order, ScanSession, Terminal
from gateway.services.credentials import CAMERA_KEY_PREFIX, issue_api_key, secret_matches, split_api_key
from gateway.services.payments import MicropayInput, PaymentService
from gateway.services.terminals import TerminalContext

log = logging.getLogger(__name__)

#: A session still CHARGING after this long was left behind by a request that died mid-charge; it is then
#: settled from what the database knows (the order made for its out_trade_no, or none).
CHARGING_LEASE = timedelta(seconds=60)


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
class ScanSessionView:
    """A session and, once charged, the order its code became."""

    session: ScanSession
    order: Order | None


class CameraService:
    """Camera keys, scan sessions, and which camera streams this instance is decoding right now."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], payments: PaymentService, settings: Settings
    ) -> None:
        self._sessions = sessions
        self._payments = payments
        self._settings = settings
        self._streams: dict[str, Callable[[], None]] = {}  # camera id -> how to stop its current stream
        # One decoding thread per admitted stream, apart from the loop's default executor, so busy
        # cameras never starve the threads that DNS lookups and other blocking helpers need.
        self.frame_executor = ThreadPoolExecutor(settings.camera_max_streams, thread_name_prefix="camera-frames")

    # ---- cameras -------------------------------------------------------------------------------------

    async def create_camera(self, terminal_id: str, name: str = "") -> NewCamera:
        key = issue_api_key(CAMERA_KEY_PREFIX)
        async with self._sessions.begin() as session:
            if await session.get(Terminal, terminal_id) is None:
                raise NotFound(f"no terminal {terminal_id}", code="terminal_not_found")
            camera = Camera(
                id=new_id("cam"),
                terminal_id=terminal_id,
                name=name[:128],
                key_prefix=key.prefix,
                secret_hash=key.secret_hash,
                created_at=datetime.now(UTC),
            )
            session.add(camera)
        return NewCamera(camera.id, terminal_id, camera.name, key.token)

    async def authenticate(self, camera_id: str, token: str | None) -> CameraIdentity:
        """The camera whose key this is; a key of another camera, or of a disabled one, is not valid here."""
        if not token:
            raise Unauthenticated("send the camera key as 'Authorization: Bearer ck_...'", code="missing_camera_key")
        parts = split_api_key(token, CAMERA_KEY_PREFIX)
        if parts is None:
            raise Unauthenticated("the camera key is not valid", code="invalid_camera_key")
        prefix, secret = parts
        async with self._sessions() as session:
            camera = await session.scalar(
                select(Camera)
                .join(Terminal, Terminal.id == Camera.terminal_id)
                .where(Camera.key_prefix == prefix, Camera.disabled_at.is_(None), Terminal.disabled_at.is_(None))
            )
        if camera is None or camera.id != camera_id or not secret_matches(secret, camera.secret_hash):
            raise Unauthenticated("the camera key is not valid", code="invalid_camera_key")
        return CameraIdentity(camera.id, camera.terminal_id)

    def admit_stream(self, camera_id: str, stop: Callable[[], None]) -> None:
        """Reserve a decoding thread for a camera's frame stream until `end_stream`.

        A camera's newest connection wins and the older one is stopped: a camera reconnecting after a
        network drop must not wait until the gateway notices that its old connection is dead.
        """
        previous = self._streams.get(camera_id)
        if previous is None and len(self._streams) >= self._settings.camera_max_streams:
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
        scan = ScanSession(
            id=session_id,
            terminal_id=terminal.terminal_id,
            merchant_id=terminal.merchant_id,
            active_terminal_id=terminal.terminal_id,
            status=ScanSessionStatus.OPEN,
            amount_fen=amount_fen,
            out_trade_no=out_trade_no or session_id.replace("_", ""),
            description=description,
            expires_at=now + timedelta(seconds=self._settings.scan_session_ttl_s),
            created_at=now,
        )
        await self._settle(terminal.terminal_id, now)
        try:
            async with self._sessions.begin() as session:
                camera = await session.scalar(
                    select(Camera.id).where(Camera.terminal_id == terminal.terminal_id, Camera.disabled_at.is_(None))
                )
                if camera is None:
                    raise InvalidInput(
                        "this terminal has no camera; register one with `gateway cameras create`", code="no_camera"
                    )
                taken = await session.scalar(
                    select(Order.id).where(
                        Order.merchant_id == terminal.merchant_id, Order.out_trade_no == scan.out_trade_no
                    )
                )
                if taken is not None:
                    raise Conflict(f"out_trade_no {scan.out_trade_no} is already used", code="duplicate_out_trade_no")
                session.add(scan)
        except IntegrityError as clash:
            async with self._sessions() as session:
                open_id = await session.scalar(
                    select(ScanSession.id).where(ScanSession.active_terminal_id == terminal.terminal_id)
                )
            raise Conflict(
                f"scan session {open_id} is still open on this terminal; cancel it or wait for it to end",
                code="scan_session_open",
            ) from clash
        return ScanSessionView(scan, None)

    async def get_session(self, terminal_id: str, session_id: str) -> ScanSessionView:
        """One of the terminal's sessions; another terminal's does not exist for this one."""
        await self._settle(terminal_id, datetime.now(UTC))
        async with self._sessions() as session:
            scan = await session.scalar(
                select(ScanSession).where(ScanSession.id == session_id, ScanSession.terminal_id == terminal_id)
            )
            if scan is None:
                raise NotFound(f"no scan session {session_id} on this terminal", code="scan_session_not_found")
            order = await session.get(Order, scan.order_id) if scan.order_id else None
        return ScanSessionView(scan, order)

    async def cancel_session(self, terminal_id: str, session_id: str) -> ScanSessionView:
        """Close an open session; cancelling a closed-without-payment one again is a harmless repeat."""
        await self._settle(terminal_id, datetime.now(UTC))
        async with self._sessions.begin() as session:
            await _close(
                session,
                ScanSessionStatus.CANCELLED,
                ScanSession.id == session_id,
                ScanSession.terminal_id == terminal_id,
                ScanSession.status == ScanSessionStatus.OPEN,
            )
        view = await self.get_session(terminal_id, session_id)
        if view.session.status is ScanSessionStatus.CHARGING:
            raise Conflict("a payment code is being charged for this session", code="scan_session_charging")
        if view.session.status is ScanSessionStatus.CHARGED:
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
        async with self._sessions.begin() as session:
            scan = await session.scalar(select(ScanSession).where(ScanSession.active_terminal_id == camera.terminal_id))
            if scan is not None and not await _compare_and_set(
                session,
                scan.id,
                ScanSessionStatus.OPEN,
                ScanSession.expires_at > now,
                status=ScanSessionStatus.CHARGING,
                charging_since=now,
            ):
                # Lost the race, or found it expired: say which, as the database sees it after the claim.
                busy = await session.scalar(select(ScanSession.status).where(ScanSession.id == scan.id))
                raise Conflict(
                    "another code is being charged for this session"
                    if busy is ScanSessionStatus.CHARGING
                    else "no scan session is open on this camera's terminal",
                    code="scan_session_busy" if busy is ScanSessionStatus.CHARGING else "no_open_session",
                )
        if scan is None:
            log.info("camera %s read %s: no open scan session", camera.camera_id, masked)
            raise Conflict("no scan session is open on this camera's terminal", code="no_open_session")
        log.info("camera %s read %s: charging scan session %s", camera.camera_id, masked, scan.id)
        request = MicropayInput(scan.out_trade_no, scan.amount_fen, code, scan.description)
        try:
            order = await self._payments.micropay(await self._terminal_context(camera.terminal_id), request)
        except DomainError as refusal:
            log.info("scan session %s: code %s refused (%s)", scan.id, masked, refusal.code)
            await self._reopen(scan.id, refusal.code)
            raise
        except BaseException:
            await self._settle_charging(scan.id)
            raise
        async with self._sessions.begin() as session:
            await _close(
                session,
                ScanSessionStatus.CHARGED,
                ScanSession.id == scan.id,
                ScanSession.status == ScanSessionStatus.CHARGING,
                order_id=order.id,
            )
        return await self.get_session(camera.terminal_id, scan.id)

    async def _reopen(self, session_id: str, refusal: str) -> None:
        """The code was refused before anything was charged: the customer may show another one."""
        async with self._sessions.begin() as session:
            await _compare_and_set(
                session,
                session_id,
                ScanSessionStatus.CHARGING,
                status=ScanSessionStatus.OPEN,
                charging_since=None,
                last_refusal=refusal,
            )

    async def _settle(self, terminal_id: str, now: datetime) -> None:
        """Expire the terminal's overdue open session and settle one a crashed charge left CHARGING."""
        async with self._sessions.begin() as session:
            await _close(
                session,
                ScanSessionStatus.EXPIRED,
                ScanSession.terminal_id == terminal_id,
                ScanSession.status == ScanSessionStatus.OPEN,
                ScanSession.expires_at <= now,
            )
            stale = await session.scalars(
                select(ScanSession.id).where(
                    ScanSession.terminal_id == terminal_id,
                    ScanSession.status == ScanSessionStatus.CHARGING,
                    ScanSession.charging_since < now - CHARGING_LEASE,
                )
            )
            stale_ids = list(stale)
        for session_id in stale_ids:
            await self._settle_charging(session_id)

    async def _settle_charging(self, session_id: str) -> None:
        """Finish a CHARGING session from the database: charged if its order exists, else open again.

        The order is found by the session's out_trade_no, which the payment service writes with the order
        before it calls the channel; that order's own follow-up job brings it to a final state.
        """
        async with self._sessions.begin() as session:
            scan = await session.get(ScanSession, session_id)
            if scan is None or scan.status is not ScanSessionStatus.CHARGING:
                return
            order_id = await session.scalar(
                select(Order.id).where(Order.merchant_id == scan.merchant_id, Order.out_trade_no == scan.out_trade_no)
            )
            if order_id is not None:
                await _close(
                    session,
                    ScanSessionStatus.CHARGED,
                    ScanSession.id == session_id,
                    ScanSession.status == ScanSessionStatus.CHARGING,
                    order_id=order_id,
                )
            else:
                await _compare_and_set(
                    session, session_id, ScanSessionStatus.CHARGING, status=ScanSessionStatus.OPEN, charging_since=None
                )

    async def _terminal_context(self, terminal_id: str) -> TerminalContext:
        """The camera's terminal as the payment service sees a signed request from it: its limits, its operator."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Terminal, Merchant.require_operator)
                    .join(Merchant, Merchant.id == Terminal.merchant_id)
                    .where(Terminal.id == terminal_id)
                )
            ).one()
        terminal, require_operator = row
        return TerminalContext.of(terminal, require_operator)


async def _compare_and_set(
    session: AsyncSession,
    session_id: str,
    expected: ScanSessionStatus,
    *conditions: ColumnElement[bool],
    **values: object,
) -> bool:
    """Change the session only if it is still in `expected` (and meets `conditions`); True if it changed."""
    changed = await session.execute(
        update(ScanSession)
        .where(ScanSession.id == session_id, ScanSession.status == expected, *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return getattr(changed, "rowcount", 0) == 1


async def _close(
    session: AsyncSession, status: ScanSessionStatus, *conditions: ColumnElement[bool], **values: object
) -> None:
    """Make matching sessions final: the terminal's open-session slot is freed with the same UPDATE."""
    await session.execute(
        update(ScanSession)
        .where(*conditions)
        .values(status=status, active_terminal_id=None, closed_at=datetime.now(UTC), **values)
        .execution_options(synchronize_session=False)
    )
