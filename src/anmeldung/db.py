"""Engine, SQLite pragmas, sessions and transactions; Alembic upgrades run from here."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .errors import DatabaseError
from .resources import resource_dir

log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        engine = create_engine(url, future=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise DatabaseError(f"cannot use database URL {_safe_url(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _create_private(engine.url.database)
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_session)
    return engine


# What other workers wait for when a worker's machine dies without closing its connections
# (power, network): its claims, its locked outbox row and its open transaction. The server
# drops a session it finds dead: probed after a minute of silence, gone after about 90 s
# (the default is the kernel's two hours). A transaction idle that long is stuck for good;
# no step of ours (an SMTP send included, see smtp.timeout_seconds) waits that long inside one.
_POSTGRESQL_SESSION = (
    "SET tcp_keepalives_idle = 60",
    "SET tcp_keepalives_interval = 10",
    "SET tcp_keepalives_count = 3",
    "SET idle_in_transaction_session_timeout = '15min'",
)


def _postgresql_session(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit for the SETs: inside the transaction psycopg would open, the pool's rollback
    # would undo them.
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    try:
        with dbapi_conn.cursor() as cur:
            for statement in _POSTGRESQL_SESSION:
                cur.execute(statement)
    finally:
        dbapi_conn.autocommit = autocommit


def _create_private(path: str | None) -> None:
    """Create a new SQLite file 0600 (its directory 0700) before SQLite creates it 0644.

    The file holds raw mail, i.e. personal data: only the service user may read it. SQLite
    gives the -wal and -shm files the mode of the database file, so they follow.
    """
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    file = Path(path)
    try:
        if not file.parent.exists():
            file.parent.mkdir(mode=0o700, parents=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        return  # an existing file keeps the mode its owner chose
    except OSError as exc:
        raise DatabaseError(f"cannot create database file {file}: {exc.strerror}") from exc


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets `anmeldung list` read while the worker writes; busy_timeout waits instead of
    # failing with "database is locked" when both write at once.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content (erased raw mail, forgotten addresses) is zeroed in the
    # file instead of lingering in free pages (GDPR erasure; https://sqlite.org/pragma.html).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"$', re.M)
_DOWN_REVISION = re.compile(r'^down_revision(?:: str \| None)? = (?:"([^"]+)"|None)$', re.M)


@functools.cache
def migrations_head() -> str | None:
    """The newest revision, read from the migration files' ``revision``/``down_revision`` lines.

    None unless every file names exactly one of each and they form one chain with one head;
    callers then ask Alembic (which is what this saves importing).
    """
    revisions: dict[str, str | None] = {}
    for path in sorted((resource_dir("migrations") / "versions").glob("*.py")):
        text_ = path.read_text(encoding="utf-8")
        rev, down = _REVISION.findall(text_), _DOWN_REVISION.findall(text_)
        if len(rev) != 1 or len(down) != 1 or rev[0] in revisions:
            return None
        revisions[rev[0]] = down[0] or None
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def _safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


class Database:
    """One engine and its session factory, passed explicitly to whoever needs them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed together at the end, or rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def session(self) -> Session:
        return self.sessions()

    @contextlib.contextmanager
    def worker_lock(self) -> Iterator[None]:
        """Refuse a second worker on one SQLite file instead of letting two race.

        SQLite has no row locks to share the work (PostgreSQL's SKIP LOCKED does that), so a
        second `run` would only fight over the write lock and the mailbox. The lock is an
        flock on a file beside the database: the kernel drops it when the process dies, so a
        killed worker never leaves a stale lock behind.
        """
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not path or path == ":memory:":
            yield
            return
        lock_path = f"{path}.worker.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise DatabaseError(
                    f"another worker (pid {holder}) already runs on {path} (it holds the lock "
                    f"file {lock_path}); one SQLite database takes one worker (`run` or `poll`): "
                    "stop it first, or use PostgreSQL for several workers"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    def dispose(self) -> None:
        self.engine.dispose()

    def scrub(self) -> str:
        """After an erasure: rebuild the SQLite file and empty the WAL, so no copy of the erased
        bytes is left in free pages or old WAL frames. Returns what was done, for the output.

        secure_delete already zeroes freed content; VACUUM also drops the old page images, and
        a TRUNCATE checkpoint empties the -wal file. A reader holding an old snapshot (the
        worker in mid-poll) can keep the checkpoint from finishing; the next one completes it.
        PostgreSQL keeps dead row versions (the erased name, the raw mail in TOAST) in the
        table files until VACUUM; see _scrub_postgresql().
        """
        if self.engine.dialect.name == "postgresql":
            return self._scrub_postgresql()
        if self.engine.dialect.name != "sqlite":
            return "left to the database server"
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(text("VACUUM"))
                busy, _log, _done = conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"VACUUM of {_safe_url(self.url)} failed: {exc}") from exc
        if busy:
            return "vacuumed; the WAL is emptied at the next checkpoint (another reader is busy)"
        return "vacuumed, WAL emptied"

    # The tables that hold personal data and are blanked by an erasure (privacy.apply).
    _ERASED_TABLES = ("registrations", "messages", "outbox")

    def _scrub_postgresql(self) -> str:
        """Rewrite the erased tables with VACUUM FULL, which leaves no dead row version of the
        blanked rows in the table, TOAST or index files (plain VACUUM only marks the space free
        to reuse, so the bytes would stay on disk until overwritten).

        VACUUM FULL locks each table while it copies it (a second or so for thousands of rows):
        a busy worker waits that long; behind a long transaction it gives up after the lock
        timeout rather than stall the worker, and running forget again finishes it. PostgreSQL's
        WAL keeps the old versions until its segments are recycled; that is the server's to
        manage (and its backups').
        """
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                owned = set(
                    conn.execute(
                        text(
                            "SELECT c.relname FROM pg_class c "
                            "WHERE c.relname = ANY(:names) AND c.relkind = 'r' "
                            "AND pg_has_role(current_user, c.relowner, 'USAGE') "
                            "AND c.relnamespace = to_regnamespace(current_schema())::oid"
                        ),
                        {"names": list(self._ERASED_TABLES)},
                    ).scalars()
                )
                if owned != set(self._ERASED_TABLES):
                    # VACUUM would only warn and skip a table someone else owns.
                    return (
                        "left to the database server (autovacuum): only the tables' owner can "
                        "rewrite them"
                    )
                conn.execute(text("SET lock_timeout = '10s'"))
                for table in self._ERASED_TABLES:
                    conn.execute(text(f"VACUUM (FULL) {table}"))
        except SQLAlchemyError as exc:
            raise DatabaseError(f"VACUUM FULL on {_safe_url(self.url)} failed: {exc}") from exc
        return "tables rewritten (VACUUM FULL); old copies stay only in the server's WAL"

    # -- migrations ---------------------------------------------------------------------------

    def _alembic_config(self) -> Any:
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(resource_dir("migrations")))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> tuple[str | None, str | None]:
        """Bring the schema to the newest revision; returns (before, after). Safe to repeat."""
        from alembic import command

        before = self.current_revision()
        try:
            command.upgrade(self._alembic_config(), "head")
        except SQLAlchemyError as exc:
            raise DatabaseError(f"migrating {_safe_url(self.url)} failed: {exc}") from exc
        return before, self.current_revision()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot open database {_safe_url(self.url)}: {exc}") from exc

    def require_current(self) -> None:
        """Refuse to work on a database that `anmeldung init` has not brought up to date.

        Every command but `init` starts here. The usual answer, "up to date", is found without
        importing Alembic (a fifth of a command's start-up, bench/organiser.py); anything
        else is decided, and explained, by Alembic itself.
        """
        head = migrations_head()
        if head is not None and self._stored_revision() == head:
            return
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            what = "is empty" if current is None else f"is at revision {current}, not {head}"
            raise DatabaseError(
                f"database {_safe_url(self.url)} {what}: run `anmeldung init` first"
            )

    def _stored_revision(self) -> str | None:
        """The one revision in alembic_version, read with plain SQL; None if not exactly one."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except SQLAlchemyError:
            return None  # no table yet (or no database): Alembic says what is wrong
        return str(rows[0][0]) if len(rows) == 1 else None

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())
