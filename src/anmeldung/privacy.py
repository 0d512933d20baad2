"""Data protection (GDPR): what is stored about a person, `forget` them, `purge` after the event.

Erasure keeps the rows and blanks their personal fields (``forgotten_at`` marks them), so
counts per status and kind, and with them totals and reports, still add up afterwards:

- registrations: email and contact become ``forgotten#<id>``; name, title, salutation,
  organisation, function and bounce reason are emptied; status and times stay;
- inbound messages: raw bytes, sender, display name, subject, error and Message-ID are
  emptied, the dedup key is replaced by its hash; kind, reason, status and times stay;
- outbox mails: recipient, subject, body, trigger and last error are emptied; kind, status
  and times stay (a mail not yet sent becomes "failed": it must never go out empty);
- on the mail server the copies in the processed, review and sent folders are deleted and
  expunged (found by Message-ID, and for `forget` by the address anywhere in the text).

Each step is described first (``select_*``) and applied second (``apply``), which gives
``--dry-run`` for free. The mail server goes first: when it fails nothing in the database has
changed, and running the command again finds everything again.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .config import Config
from .errors import AnmeldungError, DatabaseError, InputError
from .models import InboundMessage, OutboxMessage, Registration, utcnow
from .registrations import cancel_and_promote
from .reports import iso

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from .pipeline import Worker

log = logging.getLogger(__name__)

T = TypeVar("T")
# track(items, total, label) yields the items and shows progress where someone is watching.
Track = Callable[[Iterable[Any], int, str], Iterable[Any]]
UNSENT = ("queued", "sending", "retry")


def no_track(items: Iterable[T], _total: int, _label: str) -> Iterator[T]:
    yield from items


@dataclass
class Erasure:
    """What an erasure covers (row ids per table) and, once applied, what it did."""

    registrations: list[int] = field(default_factory=list)  # anonymised
    active: list[int] = field(default_factory=list)  # of those, still holding a place
    contact_only: list[int] = field(default_factory=list)  # someone else's, contact replaced
    messages: list[int] = field(default_factory=list)
    outbox: list[int] = field(default_factory=list)
    # Message-IDs (without angle brackets) whose copies are deleted on the mail server.
    message_ids: list[str] = field(default_factory=list)
    imap: dict[str, int] = field(default_factory=dict)  # folder -> messages deleted (or found)
    promoted: list[int] = field(default_factory=list)  # moved up into a place freed by forget
    database: str = ""  # what scrubbing the database file did

    @property
    def empty(self) -> bool:
        return not (self.registrations or self.contact_only or self.messages or self.outbox)

    def as_json(self) -> dict[str, Any]:
        return {
            "registrations": self.registrations,
            "cancelled": self.active,
            "contact_replaced": self.contact_only,
            "messages": self.messages,
            "outbox": self.outbox,
            "mail_server": self.imap,
            "promoted": self.promoted,
            "database": self.database,
        }


def erased_key(message_key: str) -> str:
    """The dedup key of an erased message: unique still, but no Message-ID to read."""
    return "forgotten:" + hashlib.sha256(message_key.encode()).hexdigest()


# -- describe -----------------------------------------------------------------------------------


def select_person(session: Session, address: str, track: Track = no_track) -> Erasure:
    """Everything stored about ``address``: registrations as attendee or as contact, the mail
    they sent or that registered them or that mentions them, the mail we wrote to them."""
    addr = address.strip().lower()
    result = Erasure()
    regs = list(
        session.scalars(
            select(Registration)
            .where(
                Registration.forgotten_at.is_(None),
                or_(
                    func.lower(Registration.email) == addr,
                    func.lower(Registration.contact_email) == addr,
                ),
            )
            .order_by(Registration.id)
        )
    )
    source_messages: set[int] = set()
    for reg in regs:
        if reg.email.lower() == addr:
            result.registrations.append(reg.id)
            if reg.status != "cancelled":
                result.active.append(reg.id)
            if reg.message_pk is not None:
                source_messages.add(reg.message_pk)
        else:
            result.contact_only.append(reg.id)
    needle = addr.encode()
    result.messages = _scan_messages(session, needle, source_messages, track)
    result.outbox = _scan_outbox(
        session, addr, set(result.registrations), set(result.messages), track
    )
    result.message_ids = _message_ids(session, result)
    return result


def _scan_messages(session: Session, needle: bytes, linked: set[int], track: Track) -> list[int]:
    """Inbound messages that mention the address anywhere (raw bytes, parsed fields)."""
    live = InboundMessage.forgotten_at.is_(None)
    total = session.scalar(select(func.count()).select_from(InboundMessage).where(live)) or 0
    rows = session.execute(
        select(
            InboundMessage.id,
            InboundMessage.raw,
            InboundMessage.sender,
            InboundMessage.sender_name,
            InboundMessage.subject,
            InboundMessage.error,
        )
        .where(live)
        .order_by(InboundMessage.id)
        .execution_options(yield_per=200)
    )
    found = []
    for pk, raw, *texts in track(rows, total, "searching messages"):
        text = " ".join(t for t in texts if t).lower().encode()
        if pk in linked or needle in text or (raw is not None and needle in raw.lower()):
            found.append(pk)
    return found


def _scan_outbox(
    session: Session, addr: str, regs: set[int], messages: set[int], track: Track
) -> list[int]:
    """Mail to the address, about their registration, answering their mail, or naming them."""
    live = OutboxMessage.forgotten_at.is_(None)
    total = session.scalar(select(func.count()).select_from(OutboxMessage).where(live)) or 0
    rows = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.recipient,
            OutboxMessage.registration_id,
            OutboxMessage.inbound_id,
            OutboxMessage.body,
            OutboxMessage.kind,
        )
        .where(live)
        .order_by(OutboxMessage.id)
        .execution_options(yield_per=200)
    )
    needle = addr.encode()
    found = []
    for pk, recipient, reg_id, inbound_id, body, kind in track(rows, total, "searching the outbox"):
        if (
            recipient.lower() == addr
            or reg_id in regs
            or inbound_id in messages
            or needle in bytes(body).lower()
            # The organisers' daily report lists many people in quoted-printable parts, where
            # a soft line break can split an address: search its decoded text as well.
            or (kind == "daily_report" and addr in _decoded_text(bytes(body)))
        ):
            found.append(pk)
    return found


def _decoded_text(raw: bytes) -> str:
    """The decoded text parts of a message, lower-cased."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    texts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            try:
                texts.append(str(part.get_content()))
            except (LookupError, ValueError):
                continue
    return "\n".join(texts).lower()


def _message_ids(session: Session, erasure: Erasure) -> list[str]:
    ids: list[str] = []
    if erasure.messages:
        ids += [
            m
            for m in session.scalars(
                select(InboundMessage.message_id).where(InboundMessage.id.in_(erasure.messages))
            )
            if m
        ]
    if erasure.outbox:
        ids += session.scalars(
            select(OutboxMessage.message_id).where(OutboxMessage.id.in_(erasure.outbox))
        )
    return sorted({m.strip("<>") for m in ids if m})


def purge_cutoff(config: Config) -> dt.datetime | None:
    """When personal data of this event is due for deletion; None when never (not configured)."""
    days = config.privacy.delete_after_days
    if days is None:
        return None
    return config.event.ends + dt.timedelta(days=days)


def select_all(session: Session) -> Erasure:
    """Every row that still holds personal data (for purge, once the event is long over)."""
    result = Erasure()
    result.registrations = list(
        session.scalars(
            select(Registration.id)
            .where(Registration.forgotten_at.is_(None))
            .order_by(Registration.id)
        )
    )
    result.messages = list(
        session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.forgotten_at.is_(None))
            .order_by(InboundMessage.id)
        )
    )
    result.outbox = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.forgotten_at.is_(None))
            .order_by(OutboxMessage.id)
        )
    )
    result.message_ids = _message_ids(session, result)
    return result


# -- apply --------------------------------------------------------------------------------------


def apply(
    session: Session, erasure: Erasure, now: dt.datetime | None = None, track: Track = no_track
) -> None:
    """Blank the personal fields of the selected rows (see the module docstring)."""
    now = now or utcnow()
    for pk in track(erasure.registrations, len(erasure.registrations), "erasing registrations"):
        reg = session.get(Registration, pk)
        if reg is None:
            continue
        placeholder = f"forgotten#{reg.id}"
        reg.email = reg.contact_email = placeholder
        reg.name = reg.title = reg.salutation = reg.organisation = reg.function = None
        reg.bounce_reason = None
        reg.forgotten_at = now
    for pk in erasure.contact_only:
        reg = session.get(Registration, pk)
        if reg is not None:
            # The person registered someone else: that registration is not theirs to erase,
            # but the address they gave is. Mail about it goes to the attendee from now on.
            reg.contact_email = reg.email
    for pk in track(erasure.messages, len(erasure.messages), "erasing messages"):
        msg = session.get(InboundMessage, pk)
        if msg is None:
            continue
        msg.raw = None
        msg.sender = msg.sender_name = msg.subject = ""
        msg.error = None
        msg.message_id = None
        msg.message_key = erased_key(msg.message_key)
        msg.forgotten_at = now
        session.flush()
        session.expunge(msg)  # the raw bytes need not stay in memory for the rest of the run
    for pk in track(erasure.outbox, len(erasure.outbox), "erasing sent mail"):
        out = session.get(OutboxMessage, pk)
        if out is None:
            continue
        if out.status in UNSENT:
            out.status = "failed"
        out.recipient = "forgotten"
        out.subject = ""
        out.body = b""
        out.trigger = f"forgotten:{out.id}"
        out.last_error = None
        out.forgotten_at = now
        session.flush()
        session.expunge(out)


def folders(config: Config) -> list[str]:
    """The folders on the mail server where copies of handled mail and our replies are kept."""
    mb = config.mailbox
    return [f for f in (mb.processed_folder, mb.review_folder, mb.sent_folder) if f]


# -- access request -----------------------------------------------------------------------------


def person_data(session: Session, address: str, track: Track = no_track) -> dict[str, Any]:
    """Everything stored about ``address`` (GDPR Art. 15), as one JSON-ready dict."""
    sel = select_person(session, address, track)
    regs = [session.get(Registration, pk) for pk in sorted(sel.registrations + sel.contact_only)]
    messages = [session.get(InboundMessage, pk) for pk in sel.messages]
    outbox = [session.get(OutboxMessage, pk) for pk in sel.outbox]
    return {
        "address": address.strip(),
        "generated_at": iso(utcnow()),
        "registrations": [
            {
                "id": r.id,
                "role": "attendee" if r.id in sel.registrations else "contact",
                "email": r.email,
                "name": r.name,
                "title": r.title,
                "salutation": r.salutation,
                "organisation": r.organisation,
                "function": r.function,
                "contact_email": r.contact_email,
                "status": r.status,
                "language": r.language,
                "registered_at": iso(r.registered_at),
                "cancelled_at": iso(r.cancelled_at),
                "confirmation_sent_at": iso(r.confirmation_sent_at),
                "unreachable_at": iso(r.unreachable_at),
                "bounce_reason": r.bounce_reason,
                "message": r.message_pk,
            }
            for r in regs
            if r is not None
        ],
        "messages": [
            {
                "id": m.id,
                "received_at": iso(m.received_at),
                "sent_at": iso(m.sent_at),
                "message_id": m.message_id,
                "from": m.sender,
                "from_name": m.sender_name,
                "subject": m.subject,
                "kind": m.kind,
                "reason": m.reason,
                "status": m.status,
                "folder": m.folder,
                "raw": _text(m.raw),
            }
            for m in messages
            if m is not None
        ],
        "outbox": [
            {
                "id": o.id,
                "kind": o.kind,
                "to": o.recipient,
                "subject": o.subject,
                "status": o.status,
                "created_at": iso(o.created_at),
                "sent_at": iso(o.sent_at),
                "message_id": o.message_id,
                "raw": _text(o.body),
            }
            for o in outbox
            if o is not None
        ],
    }


def _text(raw: bytes | None) -> str | None:
    # Raw mail is 7-bit or 8-bit UTF-8 in practice; the rare other byte shows as U+FFFD.
    return None if raw is None else bytes(raw).decode("utf-8", "replace")


# -- the shells: mail server, then database -----------------------------------------------------


def _erase_on_server(
    worker: Worker, erasure: Erasure, *, text: str | None, dry_run: bool
) -> dict[str, int]:
    if not text and not erasure.message_ids:
        return {}
    done: dict[str, int] = {}
    with worker.mailbox_factory() as mailbox:
        for folder in folders(worker.config):
            done[folder] = mailbox.erase(
                folder, text=text, message_ids=erasure.message_ids, dry_run=dry_run
            )
    return done


def forget(worker: Worker, address: str, *, dry_run: bool, track: Track = no_track) -> Erasure:
    """Erase one person everywhere (GDPR Art. 17); with ``dry_run`` only say what would go.

    A registration that still holds a place (or waits for one) is cancelled without a mail
    first, so the waiting list moves up: nobody can check in under an erased name.
    """
    address = address.strip()
    if "@" not in address:
        raise InputError(f"not an email address: {address!r}")
    with worker.db.session() as s:
        erasure = select_person(s, address, track)
    erasure.imap = _erase_on_server(worker, erasure, text=address, dry_run=dry_run)
    if dry_run:
        return erasure
    with worker.db.transaction() as s:
        if erasure.active:
            regs = [r for r in (s.get(Registration, pk) for pk in erasure.active) if r]
            result = cancel_and_promote(s, worker.config, worker.composer, regs, notify=False)
            erasure.promoted = result.promoted
        apply(s, erasure, track=track)
    # Also when nothing was left to erase: running forget again completes a VACUUM that a
    # busy worker kept from finishing the first time.
    erasure.database = _scrub(worker)
    log.info(
        "forget: %d registration(s), %d message(s), %d outbox mail(s) erased",
        len(erasure.registrations),
        len(erasure.messages),
        len(erasure.outbox),
    )
    return erasure


def _scrub(worker: Worker) -> str:
    try:
        return worker.db.scrub()
    except DatabaseError as exc:
        # The erasure is committed; only the rebuild failed (another process held the file or
        # table too long). Say so, do not fail: running forget again completes it.
        log.warning("%s", exc)
        if worker.db.engine.dialect.name == "postgresql":
            return (
                "erased; rewriting the tables (VACUUM FULL) failed, the database was busy: "
                "run forget again later"
            )
        return "erased content zeroed (secure_delete); VACUUM failed, the database was busy"


@dataclass
class Purge:
    cutoff: dt.datetime | None  # None: [privacy] delete_after_days is not set
    due: bool
    erasure: Erasure

    def as_json(self) -> dict[str, Any]:
        return {"cutoff": iso(self.cutoff), "due": self.due, **self.erasure.as_json()}


def purge_once(
    worker: Worker,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    track: Track = no_track,
) -> Purge:
    """Erase all personal data once ``delete_after_days`` after the event end have passed.

    Called daily by `run` and by `anmeldung purge`; after the first run only mail that came
    in since is left to erase, so the daily run is cheap.
    """
    now = now or utcnow()
    cutoff = purge_cutoff(worker.config)
    if cutoff is None or now < cutoff:
        return Purge(cutoff, False, Erasure())
    with worker.db.session() as s:
        erasure = select_all(s)
    if erasure.empty:
        return Purge(cutoff, True, erasure)
    erasure.imap = _erase_on_server(worker, erasure, text=None, dry_run=dry_run)
    if not dry_run:
        with worker.db.transaction() as s:
            apply(s, erasure, now, track=track)
        erasure.database = _scrub(worker)
        log.info(
            "purge: %d registration(s), %d message(s), %d outbox mail(s) erased",
            len(erasure.registrations),
            len(erasure.messages),
            len(erasure.outbox),
        )
    return Purge(cutoff, True, erasure)


def schedule_purge(scheduler: BaseScheduler, worker: Worker) -> None:
    """With [privacy] delete_after_days: purge every night at 03:30 (a quiet hour) in `run`."""
    if worker.config.privacy.delete_after_days is None:
        return

    def job() -> None:
        try:
            purge_once(worker)
        except AnmeldungError as exc:  # the mail server may be down: tomorrow is another day
            log.error("purge failed: %s", exc)

    scheduler.add_job(
        job,
        "cron",
        hour=3,
        minute=30,
        id="purge",
        name="erase personal data past [privacy] delete_after_days",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=worker.config.schedule.misfire_grace_seconds,
    )
