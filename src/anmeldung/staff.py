"""What organisers do by hand: resend, cancel, look at the outbox, preview a template."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from .compose import Composer, Person, Reply
from .config import Config, parse_config
from .errors import InputError
from .models import OutboxMessage, Registration
from .registrations import Handled, cancel_and_promote, queue_mail, registration_key
from .reports import iso

# The mail a registration earns in its current state.
KIND_FOR_STATUS = {
    "confirmed": "confirmation",
    "waitlisted": "waitlist",
    "cancelled": "cancellation",
}
OUTBOX_STATUSES = ("queued", "sending", "retry", "failed")


@dataclass(frozen=True)
class Queued:
    registration_id: int
    email: str
    kind: str
    recipient: str
    outbox_id: int | None  # None: nothing queued (the contact is one of our own addresses)


def find_registration(session: Session, key: str) -> Registration:
    """A registration by id ("12", "#12") or by address (case-insensitive)."""
    text = key.strip()
    if text.lstrip("#").isdigit():
        reg = session.get(Registration, int(text.lstrip("#")))
    else:
        regs = list(
            session.scalars(
                select(Registration)
                .where(func.lower(Registration.email) == text.lower())
                .order_by(Registration.id)
            )
        )
        if len(regs) > 1:
            # A secretary's address can stand for her boss and a colleague: say which.
            listed = ", ".join(f"#{r.id} {r.name or '?'} ({r.status})" for r in regs)
            raise InputError(
                f"{key!r} is the address of several registrations: {listed}; give the number"
            )
        reg = regs[0] if regs else None
    if reg is None:
        raise InputError(f"no registration {key!r} (see `anmeldung list`)")
    return reg


def unsent(session: Session) -> list[Registration]:
    """Registrations (not cancelled) whose confirmation never went out and is not on its way."""
    on_its_way = exists().where(
        OutboxMessage.registration_id == Registration.id,
        OutboxMessage.status.in_(("queued", "sending", "retry")),
    )
    return list(
        session.scalars(
            select(Registration)
            .where(
                Registration.status != "cancelled",
                Registration.confirmation_sent_at.is_(None),
                ~on_its_way,
            )
            .order_by(Registration.id)
        )
    )


def resend(
    session: Session, config: Config, composer: Composer, regs: Sequence[Registration]
) -> list[Queued]:
    """Queue one fresh copy per registration: current details, current templates.

    Each call uses a new trigger, so resending twice sends twice; the loop fuse does not
    apply (a person asked for it).
    """
    done: list[Queued] = []
    seen: set[int] = set()
    for reg in regs:
        if reg.id in seen:
            continue
        seen.add(reg.id)
        kind = KIND_FOR_STATUS.get(reg.status, "confirmation")
        out = queue_mail(
            session,
            config,
            composer,
            reg,
            kind,
            trigger=f"resend:{kind}:{registration_key(reg)}:{uuid.uuid4().hex}",
            fuse=False,
        )
        done.append(Queued(reg.id, reg.email, kind, reg.contact_email, out))
    return done


def cancel(
    session: Session, config: Config, composer: Composer, reg: Registration, *, quiet: bool
) -> Handled:
    """Cancel by hand: the cancellation mail (unless ``quiet``), then the waiting list moves up."""
    if reg.status == "cancelled":
        raise InputError(f"registration #{reg.id} ({reg.email}) is already cancelled")
    return cancel_and_promote(session, config, composer, [reg], notify=not quiet)


def outbox_rows(session: Session) -> list[dict[str, Any]]:
    """Rows that are not done: queued, sending, retry and failed, oldest first."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status.in_(OUTBOX_STATUSES))
        .order_by(OutboxMessage.id)
    )
    return [
        {
            "id": row.id,
            "status": row.status,
            "kind": row.kind,
            "recipient": row.recipient,
            "registration_id": row.registration_id,
            "subject": row.subject,
            "attempts": row.attempts,
            "created_at": iso(row.created_at),
            # A failed row is never tried again (until resent).
            "next_attempt_at": None if row.status == "failed" else iso(row.next_attempt_at),
            "last_error": row.last_error,
        }
        for row in session.scalars(query)
    ]


# -- preview --------------------------------------------------------------------------------

SAMPLE_PERSON = Person(
    email="erika.mustermann@example.org",
    name="Erika Mustermann",
    title="Dr.",
    salutation="Frau",
    organisation="Stadt Musterhausen",
)


def sample_config() -> Config:
    """A made-up event, for previewing templates without any config file."""
    return parse_config(
        {
            "event": {
                "name": "Beispielveranstaltung",
                "starts": dt.datetime(2027, 3, 18, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                "ends": dt.datetime(2027, 3, 18, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                "venue": "Rathaus, Marktplatz 1, 12345 Musterhausen",
            },
            "mailbox": {
                "host": "imap.example.org",
                "port": 993,
                "username": "anmeldung@example.org",
                "password": "unused",
            },
            "smtp": {
                "host": "smtp.example.org",
                "port": 587,
                "from": "Musterhausen – Anmeldung <anmeldung@example.org>",
            },
        }
    )


def preview(
    composer: Composer,
    kind: str,
    language: str,
    reg: Registration | None = None,
) -> EmailMessage:
    """Render ``kind`` for a sample person, or for a real registration (nothing is queued)."""
    if reg is None:
        reply = Reply(
            kind=kind,
            to=SAMPLE_PERSON.email,
            to_name=SAMPLE_PERSON.name,
            people=(SAMPLE_PERSON,),
            language=language,
            registration_id=1,
            registered_at=dt.datetime(2027, 1, 5, 8, 30, tzinfo=dt.UTC),
        )
    else:
        person = Person(
            email=reg.email,
            name=reg.name,
            title=reg.title,
            salutation=reg.salutation,
            organisation=reg.organisation,
            status=reg.status,
        )
        reply = Reply(
            kind=kind,
            to=reg.contact_email,
            to_name=reg.name if reg.contact_email == reg.email else None,
            people=(person,),
            language=language,
            registration_id=reg.id,
            registered_at=reg.registered_at,
        )
    return composer.compose(reply)
