"""`gateway db backup` / `restore`: a consistent copy taken during a payment storm, and that copy put back."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.persistence.backup import BackupRefused, UseDatabaseTools, backup, restore, sqlite_path
from tests.support.live import LiveGateway, live_gateway
from tests.support.simcontrol import order_no

pytestmark = pytest.mark.slow

STORM_PAYMENTS = 60
STORM_CONCURRENCY = 12
#: Payments the backup waits for after its first step, to show that it copies the moment it began.
PAID_WHILE_BACKING_UP = 5


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Backups are of SQLite files (PostgreSQL has pg_dump): this module runs on SQLite only."""
    return f"sqlite:///{tmp_path / 'gateway.db'}"


async def _storm(live: LiveGateway, count: int, paid: threading.Semaphore | None = None) -> list[str]:
    """`count` micropays, `STORM_CONCURRENCY` at a time (each released on `paid`); the ids of their orders."""
    gate = asyncio.Semaphore(STORM_CONCURRENCY)

    async def pay() -> str:
        async with gate:
            code = await live.payment_code("wechat")
            response = await live.terminal.micropay(1250, order_no("B"), code, "storm")
            assert response.status_code == 200, response.text
            if paid is not None:
                paid.release()
            return str(response.json()["order_id"])

    return list(await asyncio.gather(*(pay() for _ in range(count))))


def _orders_in(copy: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(copy)) as db:
        return dict(db.execute("SELECT id, status FROM orders").fetchall())


def _half_written_payments(copy: Path) -> list[str]:
    """Orders in the copy whose status lacks what the same transaction wrote with it (a torn snapshot shows them)."""
    with contextlib.closing(sqlite3.connect(copy)) as db:
        rows = db.execute(
            "SELECT o.id FROM orders o WHERE"
            " NOT EXISTS (SELECT 1 FROM used_payment_codes u WHERE u.order_id = o.id)"
            " OR NOT EXISTS (SELECT 1 FROM order_transitions t WHERE t.order_id = o.id AND t.to_status = o.status)"
            " OR (o.status = 'PAID') != EXISTS (SELECT 1 FROM outbox_events e WHERE e.order_id = o.id)"
        ).fetchall()
    return [row[0] for row in rows]


async def test_a_backup_during_a_payment_storm_is_consistent_and_restores(settings: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "backups" / "gateway.db"
    copy.parent.mkdir()
    progress: list[tuple[int, int]] = []
    paid_during = threading.Semaphore(0)

    def step_done(done: int, total: int) -> None:
        """After the first step, hold the backup until payments have committed behind its snapshot."""
        if not progress:
            for _ in range(PAID_WHILE_BACKING_UP):
                assert paid_during.acquire(timeout=60), "the storm stopped while the backup ran"
        progress.append((done, total))

    async with live_gateway(settings) as live:
        before = await _storm(live, 10)
        storm = asyncio.create_task(_storm(live, STORM_PAYMENTS, paid_during))
        # One page per step: the backup takes many steps, and the storm commits between them.
        summary = await asyncio.to_thread(backup, settings.effective_database_url, copy, step_done, 1)
        during = await storm
        with pytest.raises(BackupRefused, match="stop the gateway"):
            restore(settings.effective_database_url, copy)

    assert summary.copy == copy and summary.pages == progress[-1][1] > 1
    assert len(progress) > 1 and progress[-1][0] == progress[-1][1]
    in_copy = _orders_in(copy)
    assert set(before) <= set(in_copy), "what was committed before the backup began is in it"
    assert set(in_copy) <= set(before) | set(during)
    assert len(in_copy) <= len(before) + len(during) - PAID_WHILE_BACKING_UP, "the copy is of when it began"
    assert _half_written_payments(copy) == []
    assert not Path(f"{copy}-wal").exists(), "the copy is one self-contained file"

    database = sqlite_path(settings.effective_database_url)
    assert len(_orders_in(database)) == len(before) + len(during)
    assert restore(settings.effective_database_url, copy) == summary.revision
    async with live_gateway(settings) as restarted:
        for order_id, status in in_copy.items():
            response = await restarted.terminal.get_payment(order_id)
            assert response.status_code in (200, 202) and response.json()["status"] == status
        later = (set(before) | set(during)) - set(in_copy)
        for order_id in later:
            assert (await restarted.terminal.get_payment(order_id)).status_code == 404
        assert len(await _storm(restarted, 3)) == 3, "the restored gateway takes payments"


def test_restore_refuses_what_is_not_a_backup(settings: Settings, tmp_path: Path) -> None:
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database")
    with pytest.raises(BackupRefused, match="not a SQLite database"):
        restore(settings.effective_database_url, garbage)
    with pytest.raises(BackupRefused, match="not a file"):
        restore(settings.effective_database_url, tmp_path / "missing.db")
    assert not sqlite_path(settings.effective_database_url).exists(), "nothing was put in place"


def test_postgres_points_to_its_own_tools() -> None:
    with pytest.raises(UseDatabaseTools, match="pg_dump"):
        sqlite_path("postgresql+asyncpg://postgres@127.0.0.1/gateway")


def test_the_command_backs_up_and_exits_2_on_postgres(settings: Settings, tmp_path: Path) -> None:
    gateway = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "gateway"
    env = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_DATABASE_URL": settings.effective_database_url,
        "GATEWAY_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
    }
    migrated = subprocess.run([gateway, "db", "upgrade"], env=env, capture_output=True, text=True, check=False)
    assert migrated.returncode == 0, migrated.stderr
    made = subprocess.run(
        [gateway, "db", "backup", tmp_path / "copy.db"], env=env, capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    assert "backed up" in made.stdout and "pages" in made.stderr
    env["GATEWAY_DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:1/gateway"
    refused = subprocess.run(
        [gateway, "db", "backup", tmp_path / "pg.db"], env=env, capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2 and "pg_dump" in refused.stderr
