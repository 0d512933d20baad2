"""Several `anmeldung run` workers on one mailbox and one PostgreSQL database: every message is
handled once and every confirmation sent once, even when one worker is killed with SIGKILL."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, text

from anmeldung.claims import InboxClaims
from anmeldung.classify import ClassifyContext
from anmeldung.config import MailboxConfig, Secret
from anmeldung.db import Database
from anmeldung.devservers import DovecotServer, PostgresServer, SmtpSink
from anmeldung.mailbox import ImapMailbox
from anmeldung.models import OutboxMessage, Registration
from anmeldung.pipeline import InboxStats, Worker
from conftest import (
    MAILBOX_USER,
    MailServers,
    db_rows,
    registration_mail,
    requires_dovecot,
    write_config,
)
from test_compose import make_config

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
    # One SMTP sink per worker, so the test sees who sent what (no onward delivery needed).
    sinks = [SmtpSink() for _ in range(WORKERS)]
    dovecot.start()
    for sink in sinks:
        sink.start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
        for i, (log, sink) in enumerate(zip(logs, sinks, strict=True)):
            config = write_config(
                tmp_path / f"worker{i}.toml",
                MailServers(dovecot, sink),
                db_url=db_url,
                extra=(
                    "[schedule]\npoll_seconds = 2\n"
                    # The loop fuse would (rightly) stop 2,000 replies in an hour.
                    "[limits]\nreplies_per_hour = 100000\n"
                ),
            )
            workers.append(_start_worker(config, log))
        _wait_for(lambda: all("worker started" in log.read_text() for log in logs), "start")
        started = time.monotonic()
        _deliver(dovecot, range(MAILS // 2))
        # Halfway, while it sends its share of the confirmations: one worker dies without any
        # chance to clean up (locked outbox rows, an open transaction, a mail half sent).
        victim = workers[0]
        _wait_for(lambda: len(sinks[0].messages) >= 10, "the victim sending", 180)
        assert victim.poll() is None, logs[0].read_text()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_after = len(sinks[0].messages)
        _deliver(dovecot, range(MAILS // 2, MAILS))
        delivered = time.monotonic()

        deadline = delivered + DONE_WITHIN
        while True:
            recipients = {m.rcpt_tos[0] for sink in sinks for m in sink.messages}
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
        for sink in sinks:
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
    received = [m for sink in sinks for m in sink.messages]
    by_recipient = Counter(m.rcpt_tos[0] for m in received)
    assert set(by_recipient) == expected
    parsed = [email.message_from_bytes(m.data, policy=email.policy.default) for m in received]
    answered = Counter(str(p["In-Reply-To"]) for p in parsed)
    assert set(answered) == {f"<w-{n}@kreis{n}.example>" for n in range(MAILS)}
    # Exactly once, except that SMTP cannot rule out one repeat: a mail the server accepted in
    # the instant before the killed worker could commit "sent". It is the same mail again (same
    # Message-ID), so the recipient's client shows it once.
    repeats = len(received) - MAILS
    assert repeats <= 1, by_recipient.most_common(3)
    if repeats:
        # ... and it is the killed worker's last mail, the one it could not commit.
        (twice,) = [r for r, n in by_recipient.items() if n == 2]
        assert sinks[0].messages[-1].rcpt_tos == [twice]
    assert len({str(p["Message-ID"]) for p in parsed}) == MAILS
    # Every worker took part in sending; the killed one had sent some before it died.
    shares = [len(sink.messages) for sink in sinks]
    assert all(shares), shares
    figures = (
        f"{MAILS} mails, {WORKERS} workers (one killed after sending {killed_after}; "
        f"mails sent by each: {shares}): delivered in "
        f"{delivered - started:.1f} s, all answered {done - delivered:.1f} s after the last "
        f"delivery ({done - started:.1f} s in all), {repeats} repeat(s)"
    )
    print(figures)
    (tmp_path / "figures.txt").write_text(figures + "\n")
    pg_server.drop_database(name)


# -- the pieces, in process ---------------------------------------------------------------------


def test_concurrent_registrations_never_overbook(
    pg_server: PostgresServer, pg_template: str
) -> None:
    """Eight threads register 24 people at once for 5 places: exactly 5 get one (the decision
    runs under the registration lock), the rest wait in line."""
    name = f"overbook_{os.getpid()}"
    db = Database(pg_server.create_database(name, template=pg_template))
    base = make_config()
    config = dataclasses.replace(base, event=dataclasses.replace(base.event, capacity=5))
    worker = Worker(config, db)
    ctx = ClassifyContext(own_addresses=config.own_addresses)
    mails = [registration_mail(n, tag="o")[1] for n in range(24)]
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def register(part: list[bytes]) -> None:
        try:
            start.wait()
            for raw in part:
                worker.ingest(raw, ctx=ctx, stats=InboxStats(), source="import")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(mails[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with db.session() as s:
            statuses = Counter(s.scalars(select(Registration.status)))
            kinds = Counter(s.scalars(select(OutboxMessage.kind)))
        assert statuses == {"confirmed": 5, "waitlisted": 19}
        assert kinds == {"confirmation": 5, "waitlist": 19}
    finally:
        db.dispose()
        pg_server.drop_database(name)


def test_the_same_mail_ingested_by_eight_workers_at_once_counts_once(
    pg_server: PostgresServer, pg_template: str
) -> None:
    """The last line of defence when claims do not help (the same Message-ID under two UIDs,
    an import beside a worker): the unique message key lets one recording win, the others
    see a duplicate; nothing is registered or queued twice and nothing fails."""
    name = f"dupes_{os.getpid()}"
    db = Database(pg_server.create_database(name, template=pg_template))
    worker = Worker(make_config(), db)
    ctx = ClassifyContext(own_addresses=worker.config.own_addresses)
    mails = [registration_mail(n, tag="d")[1] for n in range(10)]
    start = threading.Barrier(8)
    errors: list[BaseException] = []
    stats = [InboxStats() for _ in range(8)]

    def ingest_all(mine: InboxStats) -> None:
        try:
            start.wait()
            for raw in mails:
                worker.ingest(raw, ctx=ctx, stats=mine, source="import")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingest_all, args=(st,)) for st in stats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert sum(st.recorded for st in stats) == 10
        assert sum(st.duplicates for st in stats) == 70
        with db.session() as s:
            assert len(list(s.scalars(select(Registration.id)))) == 10
            assert len(list(s.scalars(select(OutboxMessage.id)))) == 10
    finally:
        db.dispose()
        pg_server.drop_database(name)


def test_claims_are_disjoint_and_die_with_their_connection(
    pg_server: PostgresServer, pg_template: str
) -> None:
    name = f"claims_{os.getpid()}"
    db = Database(pg_server.create_database(name, template=pg_template))
    uids = list(range(1, 61))
    try:
        with InboxClaims(db, "box", 7) as first, InboxClaims(db, "box", 7) as second:
            a, rest = first.claim(uids, limit=25)
            assert a == list(range(1, 26))
            assert rest == list(range(26, 61))
            # The second worker skips what the first holds and takes the next ones.
            b, rest = second.claim(uids, limit=25)
            assert b == list(range(26, 51))
            assert rest == list(range(51, 61))
            c, rest = second.claim(rest, limit=25)
            assert (c, rest) == (list(range(51, 61)), [])
            # Another folder (or UIDVALIDITY) is another key space.
            with InboxClaims(db, "box", 8) as other:
                assert other.claim(uids[:3])[0] == [1, 2, 3]
            # A worker that dies: its server session ends and the claims with it.
            assert first.conn is not None
            first.conn.invalidate()  # closes the socket, as the kernel does for kill -9
            first.conn = None
            deadline = time.monotonic() + 10
            while second.claim([1])[0] != [1]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            first.release()
        # On SQLite every UID is this (single) worker's.
    finally:
        db.dispose()
        pg_server.drop_database(name)


def test_sqlite_claims_everything(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    with InboxClaims(db, "box", 1) as claims:
        assert claims.claim([3, 4, 5], limit=1) == ([3, 4, 5], [])
    db.dispose()


def test_moving_mail_another_worker_moved_first_is_no_error(servers: MailServers) -> None:
    dovecot = servers.dovecot
    for n in range(3):
        dovecot.deliver(MAILBOX_USER, registration_mail(n, tag="m")[1])
    config = load_config_for(dovecot)
    with ImapMailbox(config) as one, ImapMailbox(config) as two:
        uids = one.waiting_uids()
        assert len(uids) == 3
        two.waiting_uids()
        one.move(uids[:2], "Erledigt")
        two.move(uids, "Erledigt")  # two of three are gone already: the third is moved
        two.move(uids, "Erledigt")  # all gone: nothing to do, no error
    client = dovecot.imap(MAILBOX_USER)
    try:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
        assert client.select_folder("Erledigt", readonly=True)[b"EXISTS"] == 3
    finally:
        client.logout()


def load_config_for(dovecot: DovecotServer) -> MailboxConfig:
    base = make_config().mailbox
    return dataclasses.replace(
        base,
        host=dovecot.host,
        port=dovecot.imap_port,
        security="none",
        password=Secret(dovecot.password),
    )


def test_a_dead_machine_s_session_is_dropped_in_minutes(
    pg_server: PostgresServer, pg_template: str
) -> None:
    """A worker whose machine dies holds its claims and locks until the server drops its
    session: keepalives and an idle-in-transaction timeout make that minutes, not hours."""
    name = f"keepalive_{os.getpid()}"
    db = Database(pg_server.create_database(name, template=pg_template))
    try:
        for _ in range(2):  # a fresh connection, then one back from the pool
            with db.transaction() as s:
                shown = [
                    s.execute(text(f"SHOW {setting}")).scalar_one()
                    for setting in (
                        "tcp_keepalives_idle",
                        "tcp_keepalives_count",
                        "idle_in_transaction_session_timeout",
                    )
                ]
            assert shown == ["60", "3", "15min"]
    finally:
        db.dispose()
        pg_server.drop_database(name)


def test_two_inits_at_once_migrate_once(pg_server: PostgresServer) -> None:
    """Workers deployed together run `anmeldung init` together: one migrates, the others wait
    and find the schema current (processes: Alembic's context is one per process)."""
    name = f"inits_{os.getpid()}"
    url = pg_server.create_database(name)
    code = "import sys; from anmeldung.db import Database; print(Database(sys.argv[1]).upgrade())"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [p.communicate(timeout=120) for p in procs]
    db = Database(url)
    try:
        assert [p.returncode for p in procs] == [0, 0, 0], outcomes
        head = db.head_revision()
        assert [out.strip().endswith(f"{head!r})") for out, _err in outcomes] == [True] * 3
        assert db_rows(url, "SELECT count(*) FROM alembic_version") == [(1,)]
        db.require_current()
    finally:
        db.dispose()
        pg_server.drop_database(name)
