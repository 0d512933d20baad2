"""The transactional outbox: enqueue with the registration, claim due rows, record the outcome."""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
from collections.abc import Sequence
from email.message import EmailMessage

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from .config import LimitsConfig
from .models import OutboxMessage, Registration, utcnow
from .smtp import SendFailure

MAX_ATTEMPTS = 8
MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3: a path is at most 256 octets with its angle brackets
MAX_TRIGGER = 200  # the column's length (PostgreSQL enforces it)
LEASE = dt.timedelta(minutes=10)  # a claimed row not finished by then is from a dead worker
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_MAX = dt.timedelta(hours=6)


def enqueue(
    session: Session,
    msg: EmailMessage,
    *,
    trigger: str,
    kind: str,
    recipient: str,
    envelope_from: str,
    registration_id: int | None = None,
    inbound_id: int | None = None,
    suppress: str | None = None,
) -> OutboxMessage | None:
    """Add a rendered mail to the outbox in the caller's transaction.

    ``trigger`` names the event that caused the mail ("confirmation:msg:12:reg:4"); a second
    enqueue with the same trigger does nothing and returns None, so a replayed message never
    queues the same mail twice. With ``suppress`` (a reason) the row is recorded as
    "suppressed" and never sent, so the report can say what was held back and why.
    """
    trigger = bounded_trigger(trigger)
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.trigger == trigger)):
        return None
    if len(recipient) > MAX_ADDRESS and not suppress:
        suppress = f"recipient address longer than {MAX_ADDRESS} characters (RFC 5321)"
    row = OutboxMessage(
        trigger=trigger,
        kind=kind,
        registration_id=registration_id,
        inbound_id=inbound_id,
        recipient=recipient,
        sender=envelope_from,
        message_id=str(msg["Message-ID"]).strip().strip("<>"),
        subject=str(msg["Subject"]),
        body=msg.as_bytes(policy=email.policy.SMTP),
        status="suppressed" if suppress else "queued",
        last_error=suppress,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def bounded_trigger(trigger: str) -> str:
    """``trigger`` itself, or when too long for its column (it names an address, which may be
    long) a prefix and a hash of the whole, which stays unique where cutting would not."""
    if len(trigger) <= MAX_TRIGGER:
        return trigger
    digest = hashlib.sha256(trigger.encode()).hexdigest()
    return f"{trigger[: MAX_TRIGGER - len(digest) - 1]}#{digest}"


def fuse_reason(
    session: Session, limits: LimitsConfig, recipient: str, now: dt.datetime | None = None
) -> str | None:
    """Why a new reply to ``recipient`` must not go out (the loop fuse), or None."""
    now = now or utcnow()
    live = OutboxMessage.status.notin_(("suppressed", "failed"))
    # Both counts in one statement (one round trip for every reply queued).
    counts = session.execute(
        select(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                live,
                OutboxMessage.recipient == recipient,
                OutboxMessage.created_at > now - dt.timedelta(days=1),
            )
            .scalar_subquery(),
            select(func.count())
            .select_from(OutboxMessage)
            .where(live, OutboxMessage.created_at > now - dt.timedelta(hours=1))
            .scalar_subquery(),
        )
    ).one()
    to_address, total = counts[0], counts[1]
    if (to_address or 0) >= limits.replies_per_address_per_day:
        return (
            f"fuse: already {to_address} replies to this address in 24 h "
            f"(limits.replies_per_address_per_day = {limits.replies_per_address_per_day})"
        )
    if (total or 0) >= limits.replies_per_hour:
        return (
            f"fuse: already {total} replies in the last hour "
            f"(limits.replies_per_hour = {limits.replies_per_hour})"
        )
    return None


def claim_due(session: Session, limit: int, now: dt.datetime | None = None) -> list[OutboxMessage]:
    """Mark up to ``limit`` due rows as ``sending`` and return them (commit before sending).

    Due are queued and retry rows whose time has come, and sending rows whose lease ran out:
    their worker died after claiming them, so the outcome is unknown and they go out again
    with the same Message-ID.
    """
    now = now or utcnow()
    query = (
        select(OutboxMessage)
        .where(
            or_(
                OutboxMessage.status.in_(("queued", "retry")),
                OutboxMessage.status == "sending",
            ),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    for row in rows:
        if row.status == "sending":
            row.last_error = "outcome unknown: the worker stopped while sending; sending again"
        row.status = "sending"
        row.attempts += 1
        row.next_attempt_at = now + LEASE
    session.flush()
    return rows


def claim_locked(session: Session, now: dt.datetime | None = None) -> OutboxMessage | None:
    """The next due row, locked for this transaction (PostgreSQL ``FOR UPDATE SKIP LOCKED``);
    rows other workers hold are skipped. Due as for claim_due(); the attempt is counted in
    the caller's transaction, which also records the outcome."""
    now = now or utcnow()
    row = session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.status.in_(("queued", "retry", "sending")),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return None
    if row.status == "sending":  # claimed by the lease path (SQLite era) and never finished
        row.last_error = "outcome unknown: the worker stopped while sending; sending again"
    row.status = "sending"
    row.attempts += 1
    session.flush()
    return row


def mark_sent(session: Session, row_id: int, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    registration_id: int | None
    if session.get_bind().dialect.update_returning:
        # One UPDATE … RETURNING rather than loading the row (and its body) to change two
        # columns: this runs once for every mail sent.
        found = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status="sent", sent_at=now)
            .returning(OutboxMessage.registration_id, OutboxMessage.kind)
        ).first()
        if found is None:
            return
        registration_id, kind = found
    else:
        row = session.get(OutboxMessage, row_id)
        if row is None:
            return
        row.status = "sent"
        row.sent_at = now
        registration_id, kind = row.registration_id, row.kind
    if registration_id is not None and kind in ("confirmation", "waitlist", "promotion"):
        session.execute(
            update(Registration)
            .where(Registration.id == registration_id)
            .values(confirmation_sent_at=now)
        )


def mark_failed(
    session: Session, row_id: int, failure: SendFailure, now: dt.datetime | None = None
) -> str:
    """Record a failed attempt; returns the new status (retry or failed)."""
    now = now or utcnow()
    row = session.get(OutboxMessage, row_id)
    if row is None:
        return "missing"
    row.last_error = str(failure)[:2000]
    if failure.outcome == "permanent" or row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    else:
        row.status = "retry"
        row.next_attempt_at = now + backoff(row.attempts)
    return row.status


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, 8 … minutes, at most six hours."""
    delay: dt.timedelta = BACKOFF_BASE * (2 ** min(max(0, attempts - 1), 20))
    return min(delay, BACKOFF_MAX)


def pending(session: Session) -> Sequence[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.status.in_(("queued", "retry", "sending")))
        )
    )
