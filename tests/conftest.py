"""Shared fixtures: real Dovecot + SMTP sink on loopback, a config file, a migrated database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
