"""SQLite backups: a consistent online copy of the gateway's database, and putting one back while it is stopped.

Backup reads through SQLite's online backup API, a few pages per step, inside one read transaction held from the
first step to the last: in WAL mode that transaction's snapshot does not move while the gateway goes on writing, so
the copy is exactly the database as of the moment the backup began (every committed transaction, none half) and the
backup never has to start over however busy the gateway is. The copy is checked, switched to a rollback journal (one
self-contained file) and renamed into place, so PATH is a whole backup or untouched.

Restore refuses while anything holds the database open. A gateway keeps its connection open in WAL mode, and an
open WAL connection keeps a shared lock on the database file; leaving WAL mode needs every other connection gone,
so `PRAGMA journal_mode=DELETE` with no busy wait fails at once ("database is locked") if a gateway (or anything)
has the file open, and otherwise folds the WAL into the file and removes it. The restore then holds an exclusive
lock while it removes stale -wal/-shm/-journal files and renames the validated copy over the database, so a gateway
starting meanwhile waits instead of reading a half-swapped store.

PostgreSQL has its own tools for both (pg_dump, pg_restore): `UseDatabaseTools` says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from gateway.persistence.migrate import alembic_config

#: Pages copied per backup step (4 MiB with SQLite's default 4 KiB pages); progress is reported after each.
PAGES_PER_STEP = 1024
#: What SQLite leaves next to a database: none of an old database's may meet a restored one.
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")

#: (pages copied so far, pages in all), after each step.
Progress = Callable[[int, int], None]


class BackupRefused(RuntimeError):
    """The backup or restore cannot be done as asked; the message says why and what to do instead."""


class UseDatabaseTools(BackupRefused):
    """The database is not SQLite: its own tools back it up and restore it."""


@dataclass(frozen=True)
class BackupSummary:
    database: Path
    copy: Path
    pages: int
    revision: str


def sqlite_path(database_url: str) -> Path:
    """The file behind a SQLite URL; PostgreSQL (or an in-memory database) cannot be handled here."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        raise UseDatabaseTools(
            'the database is PostgreSQL: back it up with pg_dump (pg_dump -Fc -f gateway.dump "$URL") and restore '
            'it with pg_restore (pg_restore --clean --if-exists -d "$URL" gateway.dump) while the gateway is stopped'
        )
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise UseDatabaseTools(f"only a SQLite database file can be backed up here, not {url.render_as_string()}")
    return Path(url.database)


def backup(
    database_url: str, destination: Path, progress: Progress, pages_per_step: int = PAGES_PER_STEP
) -> BackupSummary:
    """Copy the live database to `destination` (replaced whole, or left as it was if anything fails)."""
    database = sqlite_path(database_url)
    if _same_file(destination, database):
        raise BackupRefused(f"{destination} is the database itself: back it up to another file")
    if not destination.parent.is_dir():
        raise BackupRefused(f"{destination.parent} is not a directory")
    partial = destination.with_name(destination.name + ".partial")
    _remove_with_side_files(partial)
    try:
        source = sqlite3.connect(f"{database.resolve().as_uri()}?mode=rw", uri=True, timeout=30, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise BackupRefused(f"cannot open the database {database}: {exc}") from exc
    try:
        # The snapshot every step reads: taken now, held until the last page is copied.
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        with contextlib.closing(sqlite3.connect(partial, isolation_level=None)) as target:
            source.backup(target, pages=pages_per_step, progress=lambda _, left, total: progress(total - left, total))
            source.execute("ROLLBACK")
            target.execute("PRAGMA journal_mode=DELETE")  # one file: no -wal to carry along
            revision = _check_gateway_database(target, partial)
            pages = int(target.execute("PRAGMA page_count").fetchone()[0])
        _fsync(partial)
        os.replace(partial, destination)
        _fsync(destination.parent)
    except BaseException:
        _remove_with_side_files(partial)
        raise
    finally:
        source.close()
    return BackupSummary(database, destination, pages, revision)


def restore(database_url: str, backup_file: Path) -> str:
    """Put `backup_file` in place of the database (the gateway must be stopped); returns the backup's revision."""
    database = sqlite_path(database_url)
    if not backup_file.is_file():
        raise BackupRefused(f"{backup_file} is not a file")
    if _same_file(backup_file, database):
        raise BackupRefused(f"{backup_file} is the database itself, not a backup of it")
    database.parent.mkdir(parents=True, exist_ok=True)
    incoming = database.with_name(database.name + ".restoring")
    _remove_with_side_files(incoming)
    try:
        shutil.copyfile(backup_file, incoming)  # checked as a copy: the backup itself is never written to
        with contextlib.closing(sqlite3.connect(incoming, isolation_level=None)) as candidate:
            try:
                candidate.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.DatabaseError as exc:
                raise BackupRefused(f"{backup_file} is not a SQLite database: {exc}") from exc
            revision = _check_gateway_database(candidate, backup_file)
        _fsync(incoming)
        with _exclusive(database):
            for suffix in SIDE_FILE_SUFFIXES:
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            os.replace(incoming, database)
            _fsync(database.parent)
    except BaseException:
        _remove_with_side_files(incoming)
        raise
    return revision


@contextlib.contextmanager
def _exclusive(database: Path) -> Iterator[None]:
    """The database held exclusively (refused at once if anyone has it open); nothing if it does not exist yet."""
    if not database.exists():
        yield
        return
    with contextlib.closing(sqlite3.connect(database, timeout=0, isolation_level=None)) as holder:
        try:
            holder.execute("PRAGMA journal_mode=DELETE")  # leaves WAL mode only if no one else has the file open
            holder.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise BackupRefused(
                f"{database} is in use ({exc}): stop the gateway before restoring, then start it again"
            ) from exc
        except sqlite3.DatabaseError:
            yield  # not a database (a crash left garbage?): nothing could be holding it as one
            return
        try:
            yield
        finally:
            holder.execute("ROLLBACK")


def _check_gateway_database(connection: sqlite3.Connection, shown_as: Path) -> str:
    """Whole (integrity_check) and of this gateway's schema at a revision it knows; returns that revision."""
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupRefused(f"{shown_as} is not a SQLite database: {exc}") from exc
    if problems != ["ok"]:
        raise BackupRefused(f"{shown_as} is damaged: {'; '.join(problems[:5])}")
    if "alembic_version" not in tables:
        raise BackupRefused(f"{shown_as} is a SQLite database but not a gateway's (no alembic_version table)")
    versions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if len(versions) != 1 or versions[0] not in known:
        raise BackupRefused(f"{shown_as} is at schema revision {versions}, which this gateway does not know")
    return str(versions[0])


def _same_file(one: Path, other: Path) -> bool:
    return one.resolve() == other.resolve()


def _remove_with_side_files(path: Path) -> None:
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILE_SUFFIXES)):
        candidate.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Make the file's contents (or a directory's entries, after a rename) durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
