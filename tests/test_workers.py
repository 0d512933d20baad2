"""Several `anmeldung run` workers on one mailbox and one PostgreSQL database: every message is
handled once and every confirmation sent once, even when one worker is killed with SIGKILL."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import smtplib
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from anmeldung.devservers import DovecotServer, PostgresServer, SmtpSink
from conftest import (
    MAILBOX_USER,
    MailServers,
    db_rows,
    registration_mail,
    requires_dovecot,
    write_config,
)

WORKERS = 4
MAILS = 2000
DONE_WITHIN = 600.0  # seconds after the last delivery; typical is far less (see README)


def _start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    # Logs to a file: a pipe nobody reads fills up and stalls a busy worker.
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "anmeldung", "--config", str(config), "run"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "ANMELDUNG_CONFIG"},
            cwd=config.parent,
        )


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waiting for {what} took over {timeout:.0f} s"
        time.sleep(0.1)


def _deliver(dovecot: DovecotServer, numbers: range) -> None:
    """LMTP delivery into the watched INBOX, one connection for many mails (as an MTA does)."""
    with smtplib.LMTP(dovecot.host, dovecot.lmtp_port, timeout=60) as lmtp:
        for n in numbers:
            _address, raw = registration_mail(n, tag="w")
            lmtp.sendmail(f"person{n}@kreis{n}.example", [MAILBOX_USER], raw, ["BODY=8BITMIME"])


@pytest.mark.slow
def test_four_workers_one_killed_each_mail_handled_and_answered_once(
    tmp_path: Path, pg_server: PostgresServer, pg_template: str
) -> None:
    requires_dovecot()
    name = f"workers_{os.getpid()}"
    db_url = pg_server.create_database(name, template=pg_template)
    dovecot = DovecotServer(tmp_path / "dovecot")
    sink = SmtpSink()  # counts what arrives; no onward delivery needed here
    dovecot.start()
    sink.start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        config = write_config(
            tmp_path / "anmeldung.toml",
            MailServers(dovecot, sink),
            db_url=db_url,
            extra=(
                "[schedule]\npoll_seconds = 2\n"
                # The loop fuse would (rightly) stop 2,000 replies in an hour.
                "[limits]\nreplies_per_hour = 100000\n"
            ),
        )
        logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
        for log in logs:
            workers.append(_start_worker(config, log))
        _wait_for(lambda: all("worker started" in log.read_text() for log in logs), "start")
        started = time.monotonic()
        _deliver(dovecot, range(MAILS // 2))
        # Halfway, while it is busy with its share: one worker dies without any chance to
        # clean up (claimed messages, an open transaction, a mail half sent).
        victim = workers[0]
        _wait_for(lambda: logs[0].read_text().count("message #") >= 20, "the victim at work")
        assert victim.poll() is None, logs[0].read_text()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_after = logs[0].read_text().count("message #")
        _deliver(dovecot, range(MAILS // 2, MAILS))
        delivered = time.monotonic()

        deadline = delivered + DONE_WITHIN
        while True:
            recipients = {m.rcpt_tos[0] for m in sink.messages}
            unsent = db_rows(db_url, "SELECT count(*) FROM outbox WHERE status <> 'sent'")[0][0]
            if len(recipients) >= MAILS and unsent == 0:
                break
            for i, proc in enumerate(workers[1:], start=1):
                assert proc.poll() is None, (tmp_path / f"worker{i}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (
                f"{len(recipients)} of {MAILS} confirmed, {unsent} outbox rows unsent"
            )
            time.sleep(0.5)
        done = time.monotonic()
        # Nothing is left in the watched folder; every mail was moved once.
        client = dovecot.imap(MAILBOX_USER)
        try:
            left = client.select_folder("INBOX", readonly=True)[b"EXISTS"]
            moved = client.select_folder("Erledigt", readonly=True)[b"EXISTS"]
        finally:
            client.logout()
        assert (left, moved) == (0, MAILS)
        for proc in workers[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in workers[1:]:
            proc.wait(timeout=60)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        sink.stop()
        dovecot.stop()

    # The database: each message recorded once, one registration and one confirmation each.
    assert db_rows(db_url, "SELECT count(*), count(DISTINCT message_key) FROM messages") == [
        (MAILS, MAILS)
    ]
    assert db_rows(db_url, "SELECT count(*), count(DISTINCT email) FROM registrations") == [
        (MAILS, MAILS)
    ]
    assert db_rows(db_url, "SELECT status, count(*) FROM registrations GROUP BY status") == [
        ("confirmed", MAILS)
    ]
    assert db_rows(db_url, "SELECT kind, status, count(*) FROM outbox GROUP BY kind, status") == [
        ("confirmation", "sent", MAILS)
    ]
    # The SMTP server: every person got their confirmation, answering their own mail.
    expected = {f"person{n}@kreis{n}.example" for n in range(MAILS)}
    by_recipient = Counter(m.rcpt_tos[0] for m in sink.messages)
    assert set(by_recipient) == expected
    parsed = [email.message_from_bytes(m.data, policy=email.policy.default) for m in sink.messages]
    answered = Counter(str(p["In-Reply-To"]) for p in parsed)
    assert set(answered) == {f"<w-{n}@kreis{n}.example>" for n in range(MAILS)}
    # Exactly once, except that SMTP cannot rule out one repeat: a mail the server accepted in
    # the instant before the killed worker could commit "sent". It is the same mail again (same
    # Message-ID), so the recipient's client shows it once.
    repeats = len(sink.messages) - MAILS
    assert repeats <= 1, by_recipient.most_common(3)
    assert len({str(p["Message-ID"]) for p in parsed}) == MAILS
    # Every worker took part; the killed one had handled some before it died.
    shares = [log.read_text().count("message #") for log in logs]
    assert all(shares), shares
    figures = (
        f"{MAILS} mails, {WORKERS} workers (one killed after {killed_after} messages; "
        f"shares {shares}): delivered in "
        f"{delivered - started:.1f} s, all answered {done - delivered:.1f} s after the last "
        f"delivery ({done - started:.1f} s in all), {repeats} repeat(s)"
    )
    print(figures)
    (tmp_path / "figures.txt").write_text(figures + "\n")
    pg_server.drop_database(name)
