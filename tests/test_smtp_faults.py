"""SMTP fault matrix against the real aiosmtpd sink, through the real CLI (`anmeldung poll`).

Each case: a registration mail in Dovecot, `poll` sends the confirmation into a sink that
misbehaves in one way, then time passes (next_attempt_at moved into the past) and `poll` runs
again. Checked: the outbox row (status, attempts, last error), what the sink received, and
that a retry carries the SAME Message-ID, so that a duplicate is recognisable as one.
Run with -s for one summary line per case.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select, update

from anmeldung.config import load_config
from anmeldung.db import Database
from anmeldung.devservers import PostgresServer, ReceivedMail, append
from anmeldung.models import OutboxMessage, Registration, utcnow
from anmeldung.pipeline import Worker
from conftest import EXAMPLES, MAILBOX_USER, MailServers, run_cli, write_config

MUELLER = "j.mueller@stadt-bonn.example"
SCHMIDT = "anna.schmidt@kreis-rhein-sieg.example"


def _setup(
    servers: MailServers,
    tmp_path: Path,
    *examples: str,
    timeout: float = 10,
    db_url: str | None = None,
) -> Path:
    config = write_config(tmp_path / "anmeldung.toml", servers, db_url=db_url)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[smtp]\n", f"[smtp]\ntimeout_seconds = {timeout}\n"), encoding="utf-8"
    )
    run_cli(config, "init")
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        for name in examples:
            append(client, "INBOX", (EXAMPLES / name).read_bytes())
    finally:
        client.logout()
    return config


def _db(config: Path) -> Database:
    return Database(load_config(config).database.url)


def _rows(config: Path) -> list[OutboxMessage]:
    db = _db(config)
    try:
        with db.session() as s:
            return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    finally:
        db.dispose()


def _time_passes(config: Path) -> None:
    """Make every waiting row due now (the backoff, or a dead worker's lease, ran out)."""
    db = _db(config)
    try:
        with db.transaction() as s:
            s.execute(
                update(OutboxMessage).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1))
            )
    finally:
        db.dispose()


def _confirmed_at(config: Path, address: str) -> dt.datetime | None:
    db = _db(config)
    try:
        with db.session() as s:
            reg = s.scalars(select(Registration).where(Registration.email == address)).one()
            return reg.confirmation_sent_at
    finally:
        db.dispose()


def _mid(mail: ReceivedMail) -> str:
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    return str(msg["Message-ID"]).strip().strip("<>")


def _poll(config: Path) -> str:
    return run_cli(config, "poll").out.strip().splitlines()[-1]


def _summary(case: str, text: str) -> None:
    print(f"\n[smtp-fault] {case}: {text}")


def test_421_service_closing_is_retried_and_the_rest_waits(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    sink = servers.smtp
    config = _setup(
        servers, tmp_path, "01-mueller-kaemmerei.eml", "02-schmidt-exchange.eml", db_url=db_url
    )
    sink.fail_next.append((421, "4.3.2 service closing transmission channel"))
    assert _poll(config) == "outbox: 0 sent, 1 to retry, 0 failed"
    first, second = _rows(config)
    assert (first.status, first.attempts) == ("retry", 1)
    assert first.last_error == "421 4.3.2 service closing transmission channel"
    assert first.next_attempt_at > utcnow()  # backoff
    # The connection is suspect after a 421: the second mail was not tried, and is not charged.
    assert (second.status, second.attempts, second.last_error) == ("queued", 0, None)
    assert [_mid(m) for m in sink.rejected] == [first.message_id]
    assert sink.messages == []

    _time_passes(config)
    assert _poll(config) == "outbox: 2 sent, 0 to retry, 0 failed"
    first2, second2 = _rows(config)
    assert (first2.status, first2.attempts) == ("sent", 2)
    assert (second2.status, second2.attempts) == ("sent", 1)
    got = sink.wait_for(2)
    assert sorted(_mid(m) for m in got) == sorted([first.message_id, second.message_id])
    _summary(
        "421 at DATA",
        f"row retry attempts=1 last_error={first.last_error!r}, 2nd mail left queued "
        f"attempts=0; next poll: both sent (attempts 2 and 1), sink accepted 2, rejected 1, "
        f"retry has the same Message-ID",
    )


def test_451_temporary_is_retried_with_the_same_message_id(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    sink = servers.smtp
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml", db_url=db_url)
    sink.fail_next.append((451, "4.3.0 try again later"))
    assert _poll(config) == "outbox: 0 sent, 1 to retry, 0 failed"
    (row,) = _rows(config)
    assert (row.status, row.attempts) == ("retry", 1)
    assert row.last_error == "451 4.3.0 try again later"
    assert _confirmed_at(config, MUELLER) is None

    # Before the backoff ran out nothing is sent.
    assert _poll(config) == "outbox: 0 sent, 0 to retry, 0 failed"
    assert sink.messages == []

    _time_passes(config)
    assert _poll(config) == "outbox: 1 sent, 0 to retry, 0 failed"
    (row2,) = _rows(config)
    assert (row2.status, row2.attempts) == ("sent", 2)
    assert row2.sent_at is not None
    assert _confirmed_at(config, MUELLER) is not None
    (got,) = sink.wait_for(1)
    assert got.rcpt_tos == [MUELLER]
    assert _mid(got) == _mid(sink.rejected[0]) == row.message_id
    _summary(
        "451 at DATA",
        f"row retry attempts=1 last_error={row.last_error!r}; not resent before backoff; "
        f"after backoff sent attempts=2, sink accepted 1, rejected 1, same Message-ID",
    )


def test_550_permanent_fails_with_the_reply_stored_and_the_batch_goes_on(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    sink = servers.smtp
    config = _setup(
        servers, tmp_path, "01-mueller-kaemmerei.eml", "02-schmidt-exchange.eml", db_url=db_url
    )
    sink.fail_next.append((550, "5.1.1 <j.mueller@stadt-bonn.example>: mailbox unavailable"))
    before = sink.connections
    assert _poll(config) == "outbox: 1 sent, 0 to retry, 1 failed"
    failed, sent = _rows(config)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "550 5.1.1 <j.mueller@stadt-bonn.example>: mailbox unavailable"
    assert failed.recipient == MUELLER
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert [m.rcpt_tos for m in sink.rejected] == [[MUELLER]]
    assert [m.rcpt_tos for m in sink.wait_for(1)] == [[SCHMIDT]]
    assert sink.connections - before == 1  # after the 550 the same connection took the next mail

    _time_passes(config)
    assert _poll(config) == "outbox: 0 sent, 0 to retry, 0 failed"
    (again, _) = _rows(config)
    assert (again.status, again.attempts) == ("failed", 1)
    assert len(sink.rejected) == 1
    assert len(sink.messages) == 1
    assert _confirmed_at(config, MUELLER) is None
    _summary(
        "550 at DATA",
        f"row failed attempts=1 last_error={failed.last_error!r}; never tried again; "
        f"the batch's next mail went over the same connection (1 connection)",
    )


def test_connection_dropped_after_data_is_retried_with_the_same_message_id(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    sink = servers.smtp
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml", db_url=db_url)
    sink.drop_next = 1
    assert _poll(config) == "outbox: 0 sent, 1 to retry, 0 failed"
    (row,) = _rows(config)
    assert (row.status, row.attempts) == ("retry", 1)
    assert row.last_error is not None
    assert row.last_error.startswith("connection lost:")
    (dropped,) = sink.dropped
    assert _mid(dropped) == row.message_id
    assert sink.messages == []

    _time_passes(config)
    assert _poll(config) == "outbox: 1 sent, 0 to retry, 0 failed"
    (row2,) = _rows(config)
    assert (row2.status, row2.attempts) == ("sent", 2)
    (got,) = sink.wait_for(1)
    assert _mid(got) == _mid(dropped) == row.message_id
    assert got.data == dropped.data  # byte for byte the same mail
    _summary(
        "connection dropped after DATA (unknown)",
        f"row retry attempts=1 last_error={row.last_error!r}; retry sent attempts=2, "
        f"sink got 1 dropped + 1 accepted, identical bytes and Message-ID",
    )


def test_timeout_after_final_dot_is_retried_with_the_same_message_id(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    sink = servers.smtp
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml", timeout=1, db_url=db_url)
    sink.delay_next.append(2.5)  # longer than the client's timeout; then the sink accepts
    assert _poll(config) == "outbox: 0 sent, 1 to retry, 0 failed"
    (row,) = _rows(config)
    assert (row.status, row.attempts) == ("retry", 1)
    assert row.last_error is not None
    assert row.last_error.startswith("connection lost:")
    assert "timed out" in row.last_error
    (late,) = sink.wait_for(1)  # the server did take it, after the client gave up

    _time_passes(config)
    assert _poll(config) == "outbox: 1 sent, 0 to retry, 0 failed"
    (row2,) = _rows(config)
    assert (row2.status, row2.attempts) == ("sent", 2)
    got = sink.wait_for(2)
    assert len(got) == 2  # exactly one duplicate, recognisable by its Message-ID
    assert _mid(got[0]) == _mid(got[1]) == _mid(late) == row.message_id
    _summary(
        "timeout after final '.' (unknown)",
        f"row retry attempts=1 last_error={row.last_error!r}; retry sent attempts=2; "
        f"sink accepted 2 copies with the same Message-ID (1 duplicate)",
    )


_CRASH_AFTER_ACCEPT = """
import os, sys
import anmeldung.pipeline as pipeline
from anmeldung.cli import main

def crash(*args, **kwargs):
    os._exit(70)  # killed after the server accepted, before the database commit

pipeline.mark_sent = crash
sys.exit(main(["poll"]))
"""


def test_worker_killed_between_accept_and_commit_sends_at_most_one_duplicate(
    servers: MailServers, tmp_path: Path
) -> None:
    sink = servers.smtp
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml")
    env = {**os.environ, "ANMELDUNG_CONFIG": str(config)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_AFTER_ACCEPT],
        env=env,
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 70, proc.stderr
    (first,) = sink.wait_for(1)
    (row,) = _rows(config)
    assert (row.status, row.attempts) == ("sending", 1)
    assert _confirmed_at(config, MUELLER) is None

    # Restarted at once: the dead worker's lease still holds, nothing goes out.
    assert _poll(config) == "outbox: 0 sent, 0 to retry, 0 failed"
    assert len(sink.messages) == 1
    assert _rows(config)[0].status == "sending"

    _time_passes(config)  # the lease ran out
    assert _poll(config) == "outbox: 1 sent, 0 to retry, 0 failed"
    (row2,) = _rows(config)
    assert (row2.status, row2.attempts) == ("sent", 2)
    assert row2.last_error is not None
    assert row2.last_error.startswith("outcome unknown")
    assert _confirmed_at(config, MUELLER) is not None
    got = sink.wait_for(2)
    assert len(got) == 2
    assert _mid(got[1]) == _mid(first) == row.message_id

    _time_passes(config)
    assert _poll(config) == "outbox: 0 sent, 0 to retry, 0 failed"
    assert len(sink.messages) == 2  # at most one duplicate
    _summary(
        "worker killed after accept, before commit",
        f"row left sending attempts=1; restart within lease sends nothing; after lease "
        f"sent attempts=2 last_error={row2.last_error!r}; sink accepted 2 copies (1 "
        f"duplicate), same Message-ID",
    )


def test_postgresql_worker_killed_between_accept_and_commit_is_repeated_at_once(
    servers: MailServers, tmp_path: Path, pg_server: PostgresServer, pg_template: str
) -> None:
    """On PostgreSQL the row is sent inside the transaction that locked it: a dead worker's
    transaction is rolled back, so the row is due again at once (no lease to wait out) and
    its attempt is not charged. The same at-most-one duplicate, with the same Message-ID."""
    sink = servers.smtp
    name = f"crash_{os.getpid()}"
    url = pg_server.create_database(name, template=pg_template)
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml", db_url=url)
    env = {**os.environ, "ANMELDUNG_CONFIG": str(config)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_AFTER_ACCEPT],
        env=env,
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 70, proc.stderr
    (first,) = sink.wait_for(1)
    (row,) = _rows(config)
    assert (row.status, row.attempts) == ("queued", 0)
    assert _confirmed_at(config, MUELLER) is None

    assert _poll(config) == "outbox: 1 sent, 0 to retry, 0 failed"
    (row2,) = _rows(config)
    assert (row2.status, row2.attempts) == ("sent", 1)
    assert _confirmed_at(config, MUELLER) is not None
    got = sink.wait_for(2)
    assert _mid(got[1]) == _mid(first) == row.message_id
    assert _poll(config) == "outbox: 0 sent, 0 to retry, 0 failed"
    assert len(sink.messages) == 2  # at most one duplicate
    pg_server.drop_database(name)


def test_a_batch_uses_one_smtp_connection(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    sink = servers.smtp
    examples = sorted(p.name for p in EXAMPLES.glob("0*.eml"))
    config = _setup(servers, tmp_path, *examples, db_url=db_url)
    before = sink.connections  # the sink's own readiness check connected once
    out = _poll(config)
    rows = _rows(config)
    assert len(rows) >= 3
    assert out == f"outbox: {len(rows)} sent, 0 to retry, 0 failed"
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    got = sink.wait_for(len(rows))
    assert sorted(_mid(m) for m in got) == sorted(r.message_id for r in rows)
    connections = sink.connections - before
    assert connections == 1
    _summary(
        "batch",
        f"{len(rows)} mails sent in one poll over {connections} SMTP connection",
    )


def test_a_backlog_larger_than_one_claim_goes_out_in_one_flush(
    servers: MailServers, tmp_path: Path
) -> None:
    sink = servers.smtp
    examples = sorted(p.name for p in EXAMPLES.glob("0*.eml"))
    config = _setup(servers, tmp_path, *examples)
    db = _db(config)
    try:
        worker = Worker(load_config(config), db)
        worker.process_inbox_once()
        queued = _rows(config)
        assert len(queued) >= 3
        before = sink.connections
        stats = worker.flush_outbox_once(limit=2)  # claims 2 at a time, sends them all
    finally:
        db.dispose()
    assert (stats.claimed, stats.sent) == (len(queued), len(queued))
    assert {r.status for r in _rows(config)} == {"sent"}
    assert len(sink.wait_for(len(queued))) == len(queued)
    assert sink.connections - before == 1
