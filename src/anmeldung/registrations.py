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
from .locks import decision_lock
from .models import InboundMessage, OutboxMessage, Registration, utcnow
from .names import fold, parse_display_name, same_person
from .outbox import MAX_ADDRESS, enqueue, fuse_reason

log = logging.getLogger(__name__)

STATUSES = ("confirmed", "waitlisted", "cancelled")


@dataclass
class Handled:
    """What handling one message did, for logs, counters and tests."""

    status: str  # processed | review | ignored
    registered: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    promoted: list[int] = field(default_factory=list)  # moved up from the waiting list
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
    message_key: str | None = None,
) -> InboundMessage:
    """Insert the message row; the caller's transaction also holds what it caused.

    ``message_key`` is required when there is no ``analysis`` (the column is NOT NULL and the
    row is flushed here).
    """
    row = InboundMessage(
        message_key=message_key,
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
    decision_lock(session)
    kind = analysis.kind
    if kind == "registration":
        substitute = bool(analysis.replaced)
        result = (_substitute if substitute else _register)(
            session, config, composer, row, analysis
        )
        if result.status == "review":
            # A person tried to register and we could not: tell them a person will look.
            result.queued += _queue_acknowledgement(session, config, composer, row, analysis)
    elif kind == "cancellation":
        result = _cancel(session, config, composer, row, analysis)
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


def person_key(att: Attendee, sender: str, sender_name: str) -> str:
    """ "" for the owner of the attendee's address; the folded name of anyone registered under
    someone else's address (the sender's: a boss or colleague without an address of their own).
    Pure."""
    if att.email != sender.lower() or not att.name:
        return ""
    shown = parse_display_name(sender_name)[0] if sender_name else None
    if shown is not None and same_person(att.name, shown.name):
        return ""
    local = fold(sender.split("@")[0])
    family = fold(att.name.split()[-1])
    if shown is None and len(family) > 2 and family in local:
        return ""  # "j.mueller@…" signing "Dr. Jürgen Müller"
    return fold(att.name)[:200]


def find_attendee(session: Session, att: Attendee, key: str) -> Registration | None:
    """The registration this attendee already has: same address and the same person on it."""
    for reg in session.scalars(
        select(Registration).where(Registration.email == att.email).order_by(Registration.id)
    ):
        if reg.person_key == key:
            return reg
        if key and reg.person_key and reg.name and att.name and same_person(reg.name, att.name):
            return reg  # the same colleague, written a little differently
    return None


def _register(
    session: Session, config: Config, composer: Composer, row: InboundMessage, analysis: Analysis
) -> Handled:
    attendees = list(analysis.attendees)
    if not attendees:
        return Handled("review", note="nobody to register could be identified")
    if any(a.confidence < REVIEW_BELOW for a in attendees):
        return Handled("review", note="low confidence in the extracted names")
    sender = analysis.parsed.sender
    if any(len(a.email or sender) > MAX_ADDRESS for a in attendees):
        return Handled("review", note="an address is longer than RFC 5321 allows")

    # Counted before anything is added: a pending new row (status defaults to "confirmed")
    # would otherwise be flushed into the count and take its own place.
    # Only an event with a capacity needs the count (a query per message).
    taken = _confirmed_count(session) if config.event.capacity is not None else 0
    new: list[tuple[Registration, Attendee]] = []
    already: list[Registration] = []
    for att in attendees:
        key = person_key(att, sender, analysis.parsed.sender_name)
        existing = find_attendee(session, att, key)
        if existing is not None and existing.status != "cancelled":
            if existing.message_pk == row.id:
                # Made by this very message (a replay): its confirmation is already queued;
                # answering "already registered" would send the person a second, wrong mail.
                continue
            log.info("message %s: attendee already registered as #%s", row.id, existing.id)
            already.append(existing)
            continue
        reg = existing or Registration(email=att.email, person_key=key)
        _fill(reg, att, contact=att.email or sender, language=analysis.language, row=row)
        reg.registered_at = utcnow()
        reg.cancelled_at = None
        reg.confirmation_sent_at = None
        if existing is None:
            session.add(reg)
        new.append((reg, att))
    if not new:
        result = Handled("processed", note="already registered")
        result.queued = _queue_already_registered(session, config, composer, row, analysis, already)
        return result

    # A group registered in one mail is seated together or waits together, unless the
    # config splits groups: then as many as fit get a place, in the order of the mail.
    cap = config.event.capacity
    free = len(new) if cap is None else max(0, cap - taken)
    together = not config.event.split_groups
    for i, (reg, _att) in enumerate(new):
        fits = len(new) <= free if together else i < free
        reg.status = "confirmed" if fits else "waitlisted"
    session.flush()

    result = Handled("processed", registered=[r.id for r, _ in new])
    result.queued = []
    # One mail per kind (the trigger names it): a split group gets both.
    for kind, status in (("confirmation", "confirmed"), ("waitlist", "waitlisted")):
        regs = [r for r, _ in new if r.status == status]
        if regs:
            result.queued += _queue_replies(session, config, composer, row, analysis, regs, kind)
    result.queued += _queue_already_registered(session, config, composer, row, analysis, already)
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
            registration_id=group[0].id,
            registered_at=group[0].registered_at,
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


def _queue_acknowledgement(
    session: Session, config: Config, composer: Composer, row: InboundMessage, analysis: Analysis
) -> list[int]:
    """One "we could not read it, a person will look" reply per inbound message, ever.

    Only for a registration attempt that went to review; the trigger names the message, so a
    replay never sends it twice. Robots (may_reply) and our own addresses get nothing, and
    the loop fuse applies as to every reply. The greeting stays generic: the names we could
    not trust enough to register are not trusted to address the sender either.
    """
    sender = analysis.parsed.sender
    if not analysis.classification.may_reply or not sender:
        return []
    if sender.lower() in config.own_addresses:
        return []
    reply = Reply(
        kind="acknowledgement",
        to=sender,
        to_name=analysis.parsed.sender_name or None,
        people=(Person(email=sender),),
        language=analysis.language,
        in_reply_to=analysis.parsed.message_id,
        references=analysis.parsed.references,
        original_subject=analysis.parsed.subject,
    )
    out = enqueue(
        session,
        composer.compose(reply),
        trigger=f"acknowledgement:msg:{row.id}",
        kind="acknowledgement",
        recipient=sender,
        envelope_from=config.smtp.from_address.addr_spec,
        inbound_id=row.id,
        suppress=fuse_reason(session, config.limits, sender),
    )
    if out is None or out.status != "queued":
        return []
    return [out.id]


def registration_key(reg: Registration) -> str:
    """Names one registration in outbox triggers: its id and when it was (last) made.

    A registration cancelled and made again has a new time, so it earns its mails once more.
    """
    return f"reg:{reg.id}:{reg.registered_at.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}"


def reply_address(reg: Registration, sender: str | None) -> str:
    """Where a mail about ``reg`` goes: the sender when it is the attendee or their contact.

    Anyone else (a stranger naming the address) never learns about the registration: the
    mail goes to the registration's contact address instead.
    """
    if sender and sender.lower() in (reg.email.lower(), reg.contact_email.lower()):
        return sender
    return reg.contact_email


def queue_mail(
    session: Session,
    config: Config,
    composer: Composer,
    reg: Registration,
    kind: str,
    *,
    trigger: str,
    to: str | None = None,
    to_name: str | None = None,
    analysis: Analysis | None = None,
    row: InboundMessage | None = None,
    fuse: bool = True,
) -> int | None:
    """Queue one mail of ``kind`` about one registration; returns the outbox id if queued.

    In answer to ``analysis`` (an inbound message) it threads to that message and is written
    in its language; otherwise it threads to the registration's own first message. ``fuse``
    applies the loop fuse (for replies to inbound mail; staff actions are deliberate).
    """
    to = to or reg.contact_email
    if not to or to.lower() in config.own_addresses:
        return None
    subject: str | None
    if analysis is not None:
        in_reply_to = analysis.parsed.message_id
        references: Sequence[str] = analysis.parsed.references
        language = analysis.language
        subject = analysis.parsed.subject
    else:
        original = reg.message
        in_reply_to = original.message_id if original is not None else None
        references = ()
        language = reg.language
        subject = original.subject if original is not None else None
    if to_name is None and to == reg.email:
        to_name = reg.name
    reply = Reply(
        kind=kind,
        to=to,
        to_name=to_name,
        people=(_person(reg),),
        language=language,
        in_reply_to=in_reply_to,
        references=references,
        original_subject=subject,
        registration_id=reg.id,
        registered_at=reg.registered_at,
    )
    out = enqueue(
        session,
        composer.compose(reply),
        trigger=trigger,
        kind=kind,
        recipient=to,
        envelope_from=config.smtp.from_address.addr_spec,
        registration_id=reg.id,
        inbound_id=row.id if row is not None else None,
        suppress=fuse_reason(session, config.limits, to) if fuse else None,
    )
    if out is None or out.status != "queued":
        return None
    return out.id


def _queue_already_registered(
    session: Session,
    config: Config,
    composer: Composer,
    row: InboundMessage,
    analysis: Analysis,
    regs: Sequence[Registration],
) -> list[int]:
    """One "already registered" reply per registration, ever (the trigger names it, not the
    message): someone who writes five times gets one such mail, not five."""
    if not analysis.classification.may_reply or not analysis.parsed.sender:
        return []
    queued: list[int] = []
    for reg in regs:
        to = reply_address(reg, analysis.parsed.sender)
        out = queue_mail(
            session,
            config,
            composer,
            reg,
            "already_registered",
            trigger=f"already_registered:{registration_key(reg)}",
            to=to,
            to_name=(analysis.parsed.sender_name or None) if to == analysis.parsed.sender else None,
            analysis=analysis if to == analysis.parsed.sender else None,
            row=row,
        )
        if out is not None:
            queued.append(out)
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


def _cancel(
    session: Session, config: Config, composer: Composer, row: InboundMessage, analysis: Analysis
) -> Handled:
    sender = analysis.parsed.sender
    attendees = list(analysis.attendees) or [Attendee(email=sender.lower())]
    regs: list[Registration] = []
    for att in attendees:
        reg = find_attendee(session, att, person_key(att, sender, analysis.parsed.sender_name))
        if reg is None and not att.name:
            # Only the address is known: it cancels when it stands for one registration.
            active = list(
                session.scalars(
                    select(Registration).where(
                        Registration.email == att.email, Registration.status != "cancelled"
                    )
                )
            )
            reg = active[0] if len(active) == 1 else None
        if reg is None or reg.status == "cancelled" or reg in regs:
            continue
        regs.append(reg)
    if not regs:
        # Someone cancels who is not registered (or a colleague we cannot match): a person looks.
        return Handled("review", note="cancellation for an address that is not registered")
    may_reply = analysis.classification.may_reply and bool(analysis.parsed.sender)
    return cancel_and_promote(
        session, config, composer, regs, notify=may_reply, row=row, analysis=analysis
    )


def _substitute(
    session: Session, config: Config, composer: Composer, row: InboundMessage, analysis: Analysis
) -> Handled:
    """ "An seiner Stelle kommt Frau Y": cancel whom the mail replaces, then register the
    newcomer in the freed place; what stays free goes to the waiting list."""
    if not analysis.attendees or any(a.confidence < REVIEW_BELOW for a in analysis.attendees):
        return _register(session, config, composer, row, analysis)  # review; cancel nobody
    sender = analysis.parsed.sender.lower()
    domain = sender.rpartition("@")[2]
    gone: list[Registration] = []
    for att in analysis.replaced:
        reg = find_attendee(session, att, person_key(att, sender, analysis.parsed.sender_name))
        if reg is None or reg.status == "cancelled" or reg in gone:
            continue
        # Only the person, their contact or a colleague (same mail domain) hands a place on.
        if sender in (reg.email.lower(), reg.contact_email.lower()) or (
            reg.email.lower().rpartition("@")[2] == domain
        ):
            gone.append(reg)
    cancelled = cancel_and_promote(
        session, config, composer, gone, row=row, analysis=analysis, promote=False
    )
    result = _register(session, config, composer, row, analysis)
    result.cancelled = cancelled.cancelled
    result.queued = [*cancelled.queued, *(result.queued or [])]
    promoted = cancel_and_promote(session, config, composer, [], row=row, analysis=analysis)
    result.promoted = promoted.promoted
    result.queued += promoted.queued
    return result


def cancel_registration(reg: Registration, now: dt.datetime | None = None) -> None:
    reg.status = "cancelled"
    reg.cancelled_at = now or utcnow()


def cancel_and_promote(
    session: Session,
    config: Config,
    composer: Composer,
    regs: Sequence[Registration],
    *,
    notify: bool = True,
    row: InboundMessage | None = None,
    analysis: Analysis | None = None,
    promote: bool = True,
) -> Handled:
    """Cancel registrations, queue their cancellation mails (unless ``notify`` is False), then
    give the freed places to the waiting list in order (unless ``promote`` is False: a
    substitute takes them), each with a promotion mail.

    Every mail is unique per registration (its trigger names the registration), so handling
    the same cancellation again queues nothing new.
    """
    decision_lock(session)
    result = Handled("processed")
    sender = analysis.parsed.sender if analysis is not None else None
    for reg in regs:
        if reg.status == "cancelled":
            continue
        cancel_registration(reg)
        result.cancelled.append(reg.id)
        if not notify:
            continue
        to = reply_address(reg, sender)
        answering = analysis is not None and to == sender
        out = queue_mail(
            session,
            config,
            composer,
            reg,
            "cancellation",
            trigger=f"cancellation:{registration_key(reg)}",
            to=to,
            to_name=(analysis.parsed.sender_name or None) if answering and analysis else None,
            analysis=analysis if answering else None,
            row=row,
            fuse=analysis is not None,
        )
        if out is not None:
            result.queued.append(out)
    session.flush()
    for reg in promote_waiting(session, config) if promote else []:
        result.promoted.append(reg.id)
        out = queue_mail(
            session,
            config,
            composer,
            reg,
            "promotion",
            trigger=f"promotion:{registration_key(reg)}",
            fuse=False,  # not an answer to anyone's mail: no loop to guard against
        )
        if out is not None:
            result.queued.append(out)
    return result


def _confirmed_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Registration).where(Registration.status == "confirmed")
        )
        or 0
    )


def promote_waiting(session: Session, config: Config) -> list[Registration]:
    """Move waiting people up, first come first served, while places are free.

    People registered in one mail wait together and move up together, as they were seated
    at registration: a group that does not fit the free places keeps its turn (nobody behind
    it jumps the queue). Without a capacity everyone waiting gets a place.
    """
    waiting = list(
        session.scalars(
            select(Registration)
            .where(Registration.status == "waitlisted")
            .order_by(Registration.registered_at, Registration.id)
        )
    )
    groups: list[list[Registration]] = []
    for reg in waiting:
        same = (
            not config.event.split_groups
            and groups
            and reg.message_pk is not None
            and groups[-1][0].message_pk == reg.message_pk
        )
        if same:
            groups[-1].append(reg)
        else:
            groups.append([reg])
    cap = config.event.capacity
    free = None if cap is None else max(0, cap - _confirmed_count(session))
    promoted: list[Registration] = []
    for group in groups:
        if free is not None and len(group) > free:
            break
        promoted += group
        if free is not None:
            free -= len(group)
    for reg in promoted:
        reg.status = "confirmed"
        log.info("registration #%s moved up from the waiting list", reg.id)
    session.flush()
    return promoted
