"""Shared fixtures: real Dovecot + SMTP sink on loopback, a config file, a migrated database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anmeldung.devservers import DovecotServer, SmtpSink, find_dovecot

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
MAILBOX_USER = "anmeldung@stadt.example"


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


def db_rows(tmp_path: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on the test's SQLite database (tmp_path/anmeldung.db)."""
    db = sqlite3.connect(tmp_path / "anmeldung.db")
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()
