"""`anmeldung status`: figures for people, an exit code for monitoring, on real servers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from anmeldung.devservers import append
from anmeldung.status import Status, format_status
from conftest import EXAMPLES, MAILBOX_USER, MailServers, run_cli, write_config


def test_status_follows_the_worker_through_its_life(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    config = write_config(tmp_path / "anmeldung.toml", servers, capacity=100, db_url=db_url)
    run_cli(config, "init")

    # Never polled: a monitoring check must notice a worker that never started.
    before = run_cli(config, "status", "--json", check=False)
    assert before.code == 1, before.err
    data = json.loads(before.out)
    assert data["healthy"] is False
    assert data["last_success_at"] is None
    assert any("never" in p for p in data["problems"])

    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        for path in sorted(EXAMPLES.glob("*.eml"))[:3]:
            append(client, "INBOX", path.read_bytes())
    finally:
        client.logout()
    # Mail waiting is visible before the worker reads it.
    waiting = json.loads(run_cli(config, "status", "--json", check=False).out)
    assert waiting["mailbox_waiting"] == 3

    run_cli(config, "poll")
    after = run_cli(config, "status", "--json")
    data = json.loads(after.out)
    assert data["healthy"] is True, data["problems"]
    assert data["mailbox_waiting"] == 0
    assert data["outbox"]["sent"] == 3
    assert data["registrations"]["confirmed"] == 3
    assert data["capacity"] == 100
    assert data["review"] == 0
    assert data["last_success_at"].endswith("Z")

    text = run_cli(config, "status").out
    assert "status:         OK" in text
    assert "3 confirmed of 100 places" in text

    # The server goes away: the last poll fails, status says so and exits 1.
    servers.dovecot.stop()
    failed = run_cli(config, "poll", check=False)
    assert failed.code == 1
    down = run_cli(config, "status", "--json", check=False)
    assert down.code == 1
    data = json.loads(down.out)
    assert any("last poll failed" in p for p in data["problems"])
    assert any("cannot be read now" in p for p in data["problems"])
    # --no-mailbox skips the live check but still reports the failed poll.
    offline = json.loads(run_cli(config, "status", "--json", "--no-mailbox", check=False).out)
    assert offline["mailbox_waiting"] is None
    assert not any("cannot be read now" in p for p in offline["problems"])
    assert any("last poll failed" in p for p in offline["problems"])


def test_format_status_names_every_problem() -> None:
    status = Status(
        figures={
            "last_success_at": "2026-11-25T08:00:00Z",
            "last_error": "cannot connect to IMAP server imap.example:993: timed out",
            "last_error_at": "2026-11-25T09:00:00Z",
            "mailbox_waiting": None,
            "outbox": {"queued": 2, "sending": 0, "retry": 1, "failed": 4, "sent": 10},
            "review": 5,
            "registrations": {"confirmed": 10, "waitlisted": 1, "cancelled": 2},
            "capacity": None,
        },
        problems=["no successful poll for 60 min (expected every 60 s)"],
    )
    text = format_status(status, dt.UTC)
    assert "status:         PROBLEM" in text
    assert "last good poll: 25.11.2026 08:00:00" in text
    assert "mail waiting:   not checked" in text
    assert "3 to send, 4 failed, 10 sent" in text
    assert "to review:      5" in text
    assert "10 confirmed, 1 waiting, 2 cancelled" in text
    assert "problem: no successful poll for 60 min" in text
    assert "last error:     25.11.2026 09:00:00: cannot connect" in text
