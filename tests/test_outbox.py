"""outbox.py on a real migrated database (SQLite and PostgreSQL), and smtp.classify_smtp_error."""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from anmeldung import outbox
from anmeldung.db import Database
from anmeldung.models import OutboxMessage, Registration, utcnow
from anmeldung.smtp import SendFailure, classify_smtp_error

MINUTE = dt.timedelta(minutes=1)
TEMPORARY = SendFailure("temporary", 451, "4.3.0 try again later")
PERMANENT = SendFailure("permanent", 550, "5.1.1 no such user")


@pytest.fixture
def db(migrated_url: str) -> Iterator[Database]:
    database = Database(migrated_url)
    yield database
    database.dispose()


def mail(n: int = 1) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "anmeldung@stadt.example"
    msg["To"] = f"gast{n}@example.org"
    msg["Subject"] = "Anmeldebestätigung: Symposium"
    msg["Message-ID"] = f"<{n}.anmeldung@stadt.example>"
    msg.set_content("Grüße\n")
    return msg


def add_registration(db: Database, email: str = "gast1@example.org") -> int:
    with db.transaction() as s:
        reg = Registration(email=email, contact_email=email, name="Gast Eins")
        s.add(reg)
        s.flush()
        return reg.id


def enqueue(
    db: Database, n: int = 1, *, trigger: str | None = None, registration_id: int | None = None
) -> int | None:
    with db.transaction() as s:
        row = outbox.enqueue(
            s,
            mail(n),
            trigger=trigger or f"confirmation:msg:{n}:reg:{n}",
            kind="confirmation",
            recipient=f"gast{n}@example.org",
            envelope_from="anmeldung@stadt.example",
            registration_id=registration_id,
        )
        return None if row is None else row.id


def claim(db: Database, now: dt.datetime, limit: int = 10) -> list[OutboxMessage]:
    with db.transaction() as s:
        return outbox.claim_due(s, limit, now=now)


def load(db: Database, row_id: int) -> OutboxMessage:
    with db.session() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None
        return row


def fail(db: Database, row_id: int, failure: SendFailure, now: dt.datetime) -> str:
    with db.transaction() as s:
        return outbox.mark_failed(s, row_id, failure, now=now)


def later(minutes: float = 0) -> dt.datetime:
    """A moment safely after anything enqueued so far (enqueue stamps the real clock)."""
    return utcnow() + dt.timedelta(seconds=1, minutes=minutes)


# -- enqueue ------------------------------------------------------------------------------------


def test_enqueue_stores_the_rendered_mail(db: Database) -> None:
    row_id = enqueue(db)
    assert row_id is not None
    row = load(db, row_id)
    assert row.status == "queued"
    assert row.attempts == 0
    assert row.message_id == "1.anmeldung@stadt.example"
    assert row.subject == "Anmeldebestätigung: Symposium"
    assert row.recipient == "gast1@example.org"
    assert row.sender == "anmeldung@stadt.example"
    assert b"\r\nMessage-ID: <1.anmeldung@stadt.example>\r\n" in row.body
    assert row.next_attempt_at.tzinfo is not None


def test_enqueue_twice_with_the_same_trigger_gives_one_row(db: Database) -> None:
    first = enqueue(db, 1, trigger="confirmation:msg:7:reg:3")
    second = enqueue(db, 2, trigger="confirmation:msg:7:reg:3")
    assert first is not None
    assert second is None
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        (only,) = s.scalars(select(OutboxMessage))
        assert only.message_id == "1.anmeldung@stadt.example"


def test_other_triggers_give_other_rows(db: Database) -> None:
    assert enqueue(db, 1) is not None
    assert enqueue(db, 2) is not None
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 2


# -- claim --------------------------------------------------------------------------------------


def test_claim_marks_rows_sending_with_a_lease(db: Database) -> None:
    ids = [enqueue(db, n) for n in (1, 2, 3)]
    now = later()
    claimed = claim(db, now)
    assert sorted(r.id for r in claimed) == sorted(i for i in ids if i is not None)
    for row in claimed:
        stored = load(db, row.id)
        assert stored.status == "sending"
        assert stored.attempts == 1
        assert stored.next_attempt_at == now + outbox.LEASE


def test_claim_respects_the_limit(db: Database) -> None:
    for n in (1, 2, 3):
        enqueue(db, n)
    now = later()
    assert len(claim(db, now, limit=2)) == 2
    assert len(claim(db, now, limit=2)) == 1
    assert claim(db, now, limit=2) == []


def test_a_second_claim_right_away_gets_nothing(db: Database) -> None:
    enqueue(db)
    now = later()
    assert len(claim(db, now)) == 1
    assert claim(db, now) == []
    assert claim(db, now + outbox.LEASE - dt.timedelta(seconds=1)) == []


def test_rows_not_yet_due_are_not_claimed(db: Database) -> None:
    enqueue(db)
    assert claim(db, utcnow() - MINUTE) == []


def test_a_stuck_sending_row_is_claimed_again_after_the_lease(db: Database) -> None:
    row_id = enqueue(db)
    assert row_id is not None
    now = later()
    claim(db, now)
    again = claim(db, now + outbox.LEASE + dt.timedelta(seconds=1))
    assert [r.id for r in again] == [row_id]
    row = load(db, row_id)
    assert row.status == "sending"
    assert row.attempts == 2
    assert row.message_id == "1.anmeldung@stadt.example"  # same mail, so receivers can dedupe
    assert row.last_error is not None
    assert "outcome unknown" in row.last_error


# -- outcomes -----------------------------------------------------------------------------------


def test_temporary_failures_back_off_exponentially(db: Database) -> None:
    row_id = enqueue(db)
    assert row_id is not None
    now = later()
    delays = []
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        (row,) = claim(db, now)
        assert row.id == row_id
        assert fail(db, row_id, TEMPORARY, now) == "retry"
        stored = load(db, row_id)
        assert stored.status == "retry"
        assert stored.last_error == "451 4.3.0 try again later"
        delays.append(stored.next_attempt_at - now)
        assert claim(db, stored.next_attempt_at - dt.timedelta(seconds=1)) == []
        now = stored.next_attempt_at
    assert delays == [MINUTE * m for m in (1, 2, 4, 8, 16, 32, 64)]


def test_max_attempts_ends_in_failed(db: Database) -> None:
    row_id = enqueue(db)
    assert row_id is not None
    now = later()
    statuses = []
    for _ in range(outbox.MAX_ATTEMPTS):
        (row,) = claim(db, now)
        statuses.append(fail(db, row.id, TEMPORARY, now))
        now = load(db, row_id).next_attempt_at
    assert statuses == ["retry"] * (outbox.MAX_ATTEMPTS - 1) + ["failed"]
    row = load(db, row_id)
    assert row.status == "failed"
    assert row.attempts == outbox.MAX_ATTEMPTS
    assert claim(db, now + dt.timedelta(days=30)) == []


def test_backoff_is_capped_at_six_hours() -> None:
    assert [outbox.backoff(n) for n in (1, 2, 3, 4)] == [MINUTE * m for m in (1, 2, 4, 8)]
    assert outbox.backoff(0) == MINUTE
    assert outbox.backoff(9) == MINUTE * 256
    assert outbox.backoff(10) == dt.timedelta(hours=6)
    assert outbox.backoff(30) == dt.timedelta(hours=6)


def test_backoff_is_capped_for_any_attempt_count() -> None:
    assert outbox.backoff(60) == dt.timedelta(hours=6)


def test_permanent_failure_is_final(db: Database) -> None:
    row_id = enqueue(db)
    assert row_id is not None
    now = later()
    claim(db, now)
    assert fail(db, row_id, PERMANENT, now) == "failed"
    row = load(db, row_id)
    assert row.status == "failed"
    assert row.last_error == "550 5.1.1 no such user"
    assert row.sent_at is None
    assert claim(db, now + dt.timedelta(days=30)) == []


def test_unknown_outcome_is_retried(db: Database) -> None:
    row_id = enqueue(db)
    assert row_id is not None
    now = later()
    claim(db, now)
    unknown = SendFailure("unknown", None, "connection lost")
    assert fail(db, row_id, unknown, now) == "retry"
    assert load(db, row_id).next_attempt_at == now + MINUTE


def test_mark_sent_records_time_and_confirmation(db: Database) -> None:
    reg_id = add_registration(db)
    other_reg = add_registration(db, "gast2@example.org")
    row_id = enqueue(db, registration_id=reg_id)
    assert row_id is not None
    now = later()
    claim(db, now)
    sent_at = now + dt.timedelta(seconds=3)
    with db.transaction() as s:
        outbox.mark_sent(s, row_id, now=sent_at)
    row = load(db, row_id)
    assert row.status == "sent"
    assert row.sent_at == sent_at
    with db.session() as s:
        reg = s.get(Registration, reg_id)
        other = s.get(Registration, other_reg)
        assert reg is not None
        assert other is not None
        assert reg.confirmation_sent_at == sent_at
        assert other.confirmation_sent_at is None
    assert claim(db, now + dt.timedelta(days=30)) == []


def test_outcomes_of_unknown_rows_are_ignored(db: Database) -> None:
    with db.transaction() as s:
        assert outbox.mark_failed(s, 999, TEMPORARY) == "missing"
        outbox.mark_sent(s, 999)


def test_pending_lists_unfinished_rows(db: Database) -> None:
    ids = [enqueue(db, n) for n in (1, 2, 3)]
    now = later()
    claim(db, now, limit=2)
    assert ids[0] is not None
    with db.transaction() as s:
        outbox.mark_sent(s, ids[0], now=now)
    with db.session() as s:
        assert sorted(r.id for r in outbox.pending(s)) == sorted(
            i for i in ids[1:] if i is not None
        )


# -- classify_smtp_error ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "outcome", "code"),
    [
        (smtplib.SMTPResponseException(421, b"4.7.0 too many connections"), "temporary", 421),
        (smtplib.SMTPResponseException(451, b"4.3.0 local error"), "temporary", 451),
        (smtplib.SMTPResponseException(550, b"5.1.1 user unknown"), "permanent", 550),
        (smtplib.SMTPResponseException(554, b"5.7.1 rejected"), "permanent", 554),
        (smtplib.SMTPDataError(552, b"5.3.4 message too big"), "permanent", 552),
        (smtplib.SMTPSenderRefused(553, b"5.7.1 not yours", "a@x"), "permanent", 553),
        (
            smtplib.SMTPRecipientsRefused({"gast@example.org": (550, b"5.1.1 no such user")}),
            "permanent",
            550,
        ),
        (
            smtplib.SMTPRecipientsRefused({"gast@example.org": (450, b"4.2.0 greylisted")}),
            "temporary",
            450,
        ),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "unknown", None),
        (TimeoutError("timed out"), "unknown", None),
        (ConnectionRefusedError(111, "Connection refused"), "temporary", None),
        (ConnectionResetError(104, "reset"), "temporary", None),
    ],
)
def test_classify_smtp_error(exc: BaseException, outcome: str, code: int | None) -> None:
    failure = classify_smtp_error(exc)
    assert failure.outcome == outcome
    assert failure.code == code


def test_classified_reply_text_is_decoded() -> None:
    failure = classify_smtp_error(smtplib.SMTPResponseException(550, "5.1.1 Empfänger unbekannt"))
    assert str(failure) == "550 5.1.1 Empfänger unbekannt"
    refused = classify_smtp_error(
        smtplib.SMTPRecipientsRefused({"a@x": (550, b"5.1.1 Empf\xc3\xa4nger unbekannt")})
    )
    assert refused.reply == "5.1.1 Empfänger unbekannt"


def test_overlong_values_are_clipped_not_refused(db: Database) -> None:
    """PostgreSQL enforces VARCHAR lengths (SQLite does not): odd data must not fail a poll."""
    long = "Ä" * 400
    address = "y" * 300 + "@example.org"
    with db.transaction() as s:
        reg = Registration(
            email="gast@example.org",
            contact_email="gast@example.org",
            name=long,
            title=long,
            salutation=long,
            organisation=long,
            function=long,
        )
        s.add(reg)
        s.flush()
        row = outbox.enqueue(
            s,
            mail(),
            trigger=f"confirmation:msg:1:to:{address}",
            kind="confirmation",
            recipient=address,
            envelope_from="anmeldung@stadt.example",
        )
        assert row is not None
        row_id = row.id
    with db.transaction() as s:
        # The same long trigger again is recognised (hashed, not cut): nothing is queued twice.
        again = outbox.enqueue(
            s,
            mail(2),
            trigger=f"confirmation:msg:1:to:{address}",
            kind="confirmation",
            recipient=address,
            envelope_from="anmeldung@stadt.example",
        )
        assert again is None
    with db.session() as s:
        stored = s.scalars(select(Registration)).one()
        assert stored.title is not None
        assert len(stored.title) == 100
        assert stored.title.endswith("…")
        out = s.get(OutboxMessage, row_id)
        assert out is not None
        assert len(out.trigger) == 200
        # No server takes such an address: recorded, never sent.
        assert out.status == "suppressed"
        assert "RFC 5321" in (out.last_error or "")
