"""Use cases on the database: record an inbound message once, register, cancel, queue replies."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .analyse import Analysis
from .compose import Composer, Person, Reply
from .config import Config
from .extract import REVIEW_BELOW, Attendee
from .models import InboundMessage, OutboxMessage, Registration, utcnow
from .outbox import enqueue, fuse_reason

log = logging.getLogger(__name__)

STATUSES = ("confirmed", "waitlisted", "cancelled")


@dataclass
class Handled:
    """What handling one message did, for logs, counters and tests."""

    status: str  # processed | review | ignored
    registered: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)
    note: str = ""


def find_recorded(
    session: Session, mailbox: str, uidvalidity: int | None, uid: int | None
) -> InboundMessage | None:
    return session.scalar(
        select(InboundMessage).where(
            InboundMessage.mailbox == mailbox,
            InboundMessage.uidvalidity == uidvalidity,
            InboundMessage.uid == uid,
        )
    )


def find_by_key(session: Session, message_key: str) -> InboundMessage | None:
    return session.scalar(select(InboundMessage).where(InboundMessage.message_key == message_key))


def record(
    session: Session,
    *,
    mailbox: str,
    uidvalidity: int | None,
    uid: int | None,
    raw: bytes | None,
    analysis: Analysis | None,
    size: int,
    received_at: dt.datetime | None = None,
) -> InboundMessage:
    """Insert the message row; the caller's transaction also holds what it caused."""
    row = InboundMessage(
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        raw=raw,
        size=size,
        received_at=received_at or utcnow(),
    )
    if analysis is not None:
        p = analysis.parsed
        row.message_key = p.message_key
        row.message_id = p.message_id
        row.sender = p.sender
        row.sender_name = p.sender_name
        row.subject = p.subject
        row.sent_at = p.date
        row.kind = analysis.kind
        row.reason = analysis.reason
        row.language = analysis.language
    session.add(row)
    session.flush()
    return row


def handle(
    session: Session, config: Config, composer: Composer, row: InboundMessage, analysis: Analysis
) -> Handled:
    """Act on a recorded message: register or cancel, and queue the replies it earns."""
    kind = analysis.kind
    if kind == "registration":
        result = _register(session, config, composer, row, analysis)
    elif kind == "cancellation":
        result = _cancel(session, row, analysis)
    elif kind == "bounce":
        result = _bounce(session, analysis)
    elif kind == "auto_reply":
        # Never answered (RFC 3834 2: no automatic reply to automatic mail), only recorded.
        result = Handled("ignored", note=analysis.reason)
    elif analysis.reason == "own_address":
        result = Handled("ignored", note="own address")
    else:
        result = Handled("review", note=analysis.reason)
    row.status = result.status
    return result


def _register(
    session: Session, config: Config, composer: Composer, row: InboundMessage, analysis: Analysis
) -> Handled:
    attendees = list(analysis.attendees)
    if not attendees:
        return Handled("review", note="nobody to register could be identified")
    if any(a.confidence < REVIEW_BELOW for a in attendees):
        return Handled("review", note="low confidence in the extracted names")

    sender = analysis.parsed.sender
    new: list[tuple[Registration, Attendee]] = []
    for att in attendees:
        existing = session.scalar(select(Registration).where(Registration.email == att.email))
        if existing is not None and existing.status != "cancelled":
            log.info("message %s: attendee already registered as #%s", row.id, existing.id)
            continue
        reg = existing or Registration(email=att.email)
        _fill(reg, att, contact=att.email or sender, language=analysis.language, row=row)
        reg.registered_at = utcnow()
        reg.cancelled_at = None
        reg.confirmation_sent_at = None
        if existing is None:
            session.add(reg)
        new.append((reg, att))
    if not new:
        return Handled("processed", note="already registered")

    # A group registered in one mail is seated together or waits together.
    status = "confirmed"
    cap = config.event.capacity
    if cap is not None:
        taken = (
            session.scalar(
                select(func.count())
                .select_from(Registration)
                .where(Registration.status == "confirmed")
            )
            or 0
        )
        if taken + len(new) > cap:
            status = "waitlisted"
    for reg, _att in new:
        reg.status = status
    session.flush()

    result = Handled("processed", registered=[r.id for r, _ in new])
    result.queued = _queue_replies(
        session,
        config,
        composer,
        row,
        analysis,
        [r for r, _ in new],
        "confirmation" if status == "confirmed" else "waitlist",
    )
    return result


def _fill(
    reg: Registration, att: Attendee, *, contact: str, language: str, row: InboundMessage
) -> None:
    reg.name = att.name
    reg.title = att.title
    reg.salutation = att.salutation
    reg.organisation = att.organisation
    reg.function = att.function
    reg.confidence = att.confidence
    reg.contact_email = contact
    reg.language = language
    reg.message_pk = row.id


def _queue_replies(
    session: Session,
    config: Config,
    composer: Composer,
    row: InboundMessage,
    analysis: Analysis,
    regs: Sequence[Registration],
    kind: str,
) -> list[int]:
    """One mail per address: people registered by the same sender share one reply."""
    if not analysis.classification.may_reply or not analysis.parsed.sender:
        return []
    by_contact: dict[str, list[Registration]] = {}
    for reg in regs:
        by_contact.setdefault(reg.contact_email, []).append(reg)
    queued: list[int] = []
    for contact, group in by_contact.items():
        if contact in config.own_addresses:
            continue
        to_name = group[0].name if len(group) == 1 and contact == group[0].email else None
        if contact == analysis.parsed.sender and analysis.parsed.sender_name:
            to_name = analysis.parsed.sender_name
        reply = Reply(
            kind=kind,
            to=contact,
            to_name=to_name,
            people=tuple(_person(r) for r in group),
            language=analysis.language,
            in_reply_to=analysis.parsed.message_id,
            references=analysis.parsed.references,
            original_subject=analysis.parsed.subject,
        )
        msg = composer.compose(reply)
        out = enqueue(
            session,
            msg,
            trigger=f"{kind}:msg:{row.id}:to:{contact}",
            kind=kind,
            recipient=contact,
            envelope_from=config.smtp.from_address.addr_spec,
            registration_id=group[0].id,
            inbound_id=row.id,
            suppress=fuse_reason(session, config.limits, contact),
        )
        if out is not None and out.status == "queued":
            queued.append(out.id)
    return queued


def _person(reg: Registration) -> Person:
    return Person(
        email=reg.email,
        name=reg.name,
        title=reg.title,
        salutation=reg.salutation,
        organisation=reg.organisation,
        status=reg.status,
    )


def _bounce(session: Session, analysis: Analysis) -> Handled:
    """A failed delivery of our mail marks the registration unreachable; delays change nothing.

    The registration is found through our Message-ID quoted in the bounce (the outbox row it
    names), else through the bounced recipient address.
    """
    c = analysis.classification
    if c.temporary:
        return Handled("ignored", note="delivery delayed")
    reg_ids: set[int] = set()
    for mid in c.original_message_ids:
        out = session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == mid))
        if out is not None:
            out.last_error = f"bounced: {', '.join(c.bounced) or c.reason}"[:2000]
            if out.registration_id is not None and (not c.bounced or out.recipient in c.bounced):
                reg_ids.add(out.registration_id)
    for address in c.bounced:
        reg_ids.update(
            session.scalars(
                select(Registration.id).where(
                    (Registration.email == address) | (Registration.contact_email == address)
                )
            )
        )
    now = utcnow()
    for reg_id in sorted(reg_ids):
        hit = session.get(Registration, reg_id)
        if hit is not None and hit.unreachable_at is None:
            hit.unreachable_at = now
            hit.bounce_reason = f"{c.reason}: {', '.join(c.bounced)}"[:2000]
            log.info("registration #%s marked unreachable (%s)", hit.id, c.reason)
    return Handled("ignored", note=f"bounce; {len(reg_ids)} registration(s) unreachable")


def _cancel(session: Session, row: InboundMessage, analysis: Analysis) -> Handled:
    emails = {a.email for a in analysis.attendees} or {analysis.parsed.sender}
    result = Handled("processed")
    for address in sorted(emails):
        reg = session.scalar(select(Registration).where(Registration.email == address))
        if reg is None or reg.status == "cancelled":
            continue
        cancel_registration(reg)
        result.cancelled.append(reg.id)
    if not result.cancelled:
        # Someone cancels who is not registered (or a colleague we cannot match): a person looks.
        return Handled("review", note="cancellation for an address that is not registered")
    return result


def cancel_registration(reg: Registration, now: dt.datetime | None = None) -> None:
    reg.status = "cancelled"
    reg.cancelled_at = now or utcnow()
