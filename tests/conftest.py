"""Shared fixtures: real Dovecot + SMTP sink on loopback, a config file, a migrated database."""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from anmeldung.db import Database
from anmeldung.devservers import DovecotServer, PostgresServer, SmtpSink, find_dovecot

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
MAILBOX_USER = "anmeldung@stadt.example"


# The database tests run against both; a PostgreSQL server that cannot be started fails them
# (it is installed by `make deps`), it never skips them.
DATABASES = ("sqlite", "postgresql")
_database_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole run; every test gets its own database."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL test server could not be started: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """A database migrated to head once; each test copies it (CREATE DATABASE … TEMPLATE)."""
    name = "anmeldung_migrated"
    db = Database(pg_server.create_database(name))
    try:
        db.upgrade()
    finally:
        db.dispose()
    return name


def _fresh_database(
    request: pytest.FixtureRequest, tmp_path: Path, *, migrated: bool
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'anmeldung.db'}"
        if migrated:
            db = Database(url)
            db.upgrade()
            db.dispose()
        yield url
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template") if migrated else "template0"
    name = f"t{os.getpid()}_{next(_database_names)}"
    url = server.create_database(name, template=template)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file in tmp_path, or a new PostgreSQL database."""
    yield from _fresh_database(request, tmp_path, migrated=False)


@pytest.fixture(params=DATABASES)
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like db_url, but already migrated to the newest revision."""
    yield from _fresh_database(request, tmp_path, migrated=True)


@dataclass
class MailServers:
    dovecot: DovecotServer
    smtp: SmtpSink


def requires_dovecot() -> None:
    if find_dovecot() is None:
        pytest.skip("dovecot not installed: apt-get install dovecot-imapd dovecot-lmtpd")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[MailServers]:
    requires_dovecot()
    dovecot = DovecotServer(tmp_path / "dovecot")
    dovecot.start()
    sink = SmtpSink(forward_to=dovecot)
    sink.start()
    try:
        yield MailServers(dovecot, sink)
    finally:
        sink.stop()
        dovecot.stop()


def write_config(
    path: Path,
    servers: MailServers,
    *,
    db_url: str | None = None,
    capacity: int | None = None,
    extra: str = "",
) -> Path:
    cap = f"capacity = {capacity}\n" if capacity is not None else ""
    path.write_text(
        f"""
[event]
name = "Symposium Kommunale Finanzen 2027"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Altes Rathaus, Markt 2, 53111 Bonn"
{cap}
[mailbox]
host = "127.0.0.1"
port = {servers.dovecot.imap_port}
security = "none"
username = "{MAILBOX_USER}"
password = "{servers.dovecot.password}"
processed_folder = "Erledigt"
review_folder = "Review"

[smtp]
host = "127.0.0.1"
port = {servers.smtp.port}
security = "none"
from = "Stadt Bonn – Anmeldung <{MAILBOX_USER}>"

[database]
url = "{db_url or "sqlite:///anmeldung.db"}"
{extra}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(config: Path, *args: str, check: bool = True, timeout: float = 120) -> Result:
    """Run the real entry point in a fresh interpreter, as a user would."""
    env = {**os.environ, "ANMELDUNG_CONFIG": str(config)}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "anmeldung", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=config.parent,
        check=False,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"anmeldung {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return result


def make_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    message_id: str,
    name: str = "",
    headers: str = "",
) -> bytes:
    """A plain UTF-8 text mail to the registration mailbox, CR LF line ends."""
    who = f"{name} <{sender}>" if name else sender
    text = (
        f"From: {who}\n"
        f"To: {MAILBOX_USER}\n"
        f"Subject: {subject}\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0100\n"
        f"Message-ID: <{message_id}>\n"
        f"{headers}"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        f"{body}"
    )
    return text.replace("\n", "\r\n").encode("utf-8")


SURNAMES = "Becker Hoffmann Schulz Koch Richter Klein Wolf Neumann Schwarz Braun Krüger".split()


def registration_mail(n: int, *, tag: str = "r", padding: str = "") -> tuple[str, bytes]:
    """A plain registration from a person of its own; returns (address, raw)."""
    address = f"person{n}@kreis{n}.example"
    name = f"Anna {SURNAMES[n % len(SURNAMES)]}"
    body = (
        "Sehr geehrte Damen und Herren,\n\n"
        "hiermit melde ich mich verbindlich zum Symposium Kommunale Finanzen an.\n\n"
        "Mit freundlichen Grüßen\n"
        f"{name}\n"
        f"Kreisverwaltung {n}\n"
        f"{padding}"
    )
    subject = "Anmeldung Symposium Kommunale Finanzen"
    raw = make_mail(address, subject, body, message_id=f"{tag}-{n}@kreis{n}.example", name=name)
    return address, raw


def db_rows(where: Path | str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a query with ``?`` placeholders: on the test's SQLite database (a tmp_path, the
    file tmp_path/anmeldung.db) or on a database URL (SQLite or PostgreSQL)."""
    if isinstance(where, Path):
        db = sqlite3.connect(where / "anmeldung.db")
        try:
            return db.execute(query, args).fetchall()
        finally:
            db.close()
    engine = create_engine(where)
    try:
        with engine.connect() as conn:
            if engine.dialect.name != "sqlite":
                query = query.replace("%", "%%").replace("?", "%s")
            return [tuple(r) for r in conn.exec_driver_sql(query, tuple(args))]
    finally:
        engine.dispose()
