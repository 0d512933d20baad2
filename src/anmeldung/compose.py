"""Pure: Jinja2 templates (StrictUndefined, HTML autoescaped) -> a complete outgoing message."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import functools
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import icalendar
import jinja2

from .config import Config
from .errors import TemplateError
from .parse import clean_line
from .resources import resource_dir

MAIL_KINDS = (
    "confirmation",
    "waitlist",
    "promotion",  # moved up from the waiting list
    "cancellation",  # cancellation confirmed
    "already_registered",  # registered again with a known address
    "acknowledgement",  # could not read the registration; a person will look at it
)
LANGUAGES = ("de", "en")
# Kinds that carry an iCalendar part (RFC 5546 iTIP method); the others carry none.
CALENDAR_METHODS = {"confirmation": "REQUEST", "promotion": "REQUEST", "cancellation": "CANCEL"}
PRODID = "-//anmeldung//Anmeldung per E-Mail//DE"
MAX_REFERENCES = 20  # RFC 5322 3.6.4 lets References grow; we keep the newest ones

_WEEKDAYS = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


@dataclass(frozen=True)
class Person:
    """What a template may say about one attendee."""

    email: str
    name: str | None = None
    title: str | None = None
    salutation: str | None = None
    organisation: str | None = None
    status: str = "confirmed"


@dataclass(frozen=True)
class Reply:
    """Everything needed to write one mail: whom, about whom, in answer to what."""

    kind: str  # one of MAIL_KINDS
    to: str  # recipient address
    to_name: str | None
    people: Sequence[Person]
    language: str = "de"
    in_reply_to: str | None = None  # the attendee's Message-ID (without brackets)
    references: Sequence[str] = field(default_factory=tuple)
    original_subject: str | None = None
    # With a registration, confirmations and promotions carry a calendar invitation and a
    # cancellation withdraws it (same UID, see calendar_uid()).
    registration_id: int | None = None
    registered_at: dt.datetime | None = None


def format_date(value: dt.datetime, lang: str, tz: zoneinfo.ZoneInfo) -> str:
    """'Donnerstag, 18. März 2027' / 'Thursday, 18 March 2027' in the event's time zone."""
    local = value.astimezone(tz)
    day = _WEEKDAYS[lang][local.weekday()]
    month = _MONTHS[lang][local.month - 1]
    if lang == "de":
        return f"{day}, {local.day}. {month} {local.year}"
    return f"{day}, {local.day} {month} {local.year}"


def format_time(value: dt.datetime, lang: str, tz: zoneinfo.ZoneInfo) -> str:
    local = value.astimezone(tz)
    return f"{local:%H:%M}" + (" Uhr" if lang == "de" else "")


def greeting(person: Person | None, lang: str) -> str:
    """The formal salutation line ("Sehr geehrte Frau Dr. Müller,")."""
    family = (person.name or "").split()[-1] if person and person.name else ""
    title = f"{person.title} " if person and person.title else ""
    sal = person.salutation if person else None
    if lang == "de":
        if sal == "Frau" and family:
            return f"Sehr geehrte Frau {title}{family},"
        if sal == "Herr" and family:
            return f"Sehr geehrter Herr {title}{family},"
        if person and person.name:
            return f"Guten Tag {title}{person.name},"
        return "Sehr geehrte Damen und Herren,"
    if sal in ("Frau", "Herr") and family:
        return f"Dear {'Ms' if sal == 'Frau' else 'Mr'} {title}{family},"
    if person and person.name:
        return f"Dear {title}{person.name},"
    return "Dear Sir or Madam,"


def calendar_uid(registration_id: int, registered_at: dt.datetime | None, domain: str) -> str:
    """The iCalendar UID of one registration: stable across resends, promotion and cancellation.

    A registration that is cancelled and made again later gets a new registration time, and so
    a new UID: its old, cancelled calendar entry stays cancelled.
    """
    stamp = ""
    if registered_at is not None:
        utc = registered_at.astimezone(dt.UTC)
        stamp = f"-{utc:%Y%m%dT%H%M%S}" + (f".{utc:%f}" if utc.microsecond else "") + "Z"
    return f"anmeldung-registration-{registration_id}{stamp}@{domain}"


class _Header(BaseHeader):
    """A header that remembers how it was folded for the last policy: the same (shared, see
    _parsed_header()) From or Content-Type is then folded once, not in every mail."""

    def fold(self, *, policy: Any) -> str:
        last = self.__dict__.get("_folded")
        if last is not None and last[0] is policy:
            folded: str = last[1]
            return folded
        folded = super().fold(policy=policy)
        self.__dict__["_folded"] = (policy, folded)
        return folded


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but each header class is made once per name: the stdlib
    builds a new class (type()) for every header it parses, a tenth of composing a reply."""

    def __init__(self) -> None:
        super().__init__(base_class=_Header)
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        cls = self._made.get(key)
        if cls is None:
            cls = self._made[key] = super().__getitem__(key)
        return cls

    def __call__(self, name: str, value: Any) -> Any:
        # Most headers of a reply (From, Content-Type, MIME-Version …) are the same in every
        # mail: parsed once; header objects are immutable, each change makes a new one.
        if isinstance(value, str):
            return _parsed_header(self, name, value)
        return super().__call__(name, value)


@functools.lru_cache(maxsize=256)
def _parsed_header(registry: HeaderRegistry, name: str, value: str) -> Any:
    return HeaderRegistry.__call__(registry, name, value)


# email.policy.SMTP with the header classes above: the same headers, parsed and folded alike.
SMTP_POLICY = email.policy.SMTP.clone(header_factory=_HeaderClasses())

_VTIMEZONES: dict[tuple[str, str, str], bytes] = {}


def _vtimezone(starts: dt.datetime, ends: dt.datetime) -> bytes:
    """The VTIMEZONE block(s) icalendar's add_missing_timezones() writes for an event from
    ``starts`` to ``ends`` (in the event's zone), covering its years only; cached per zone and
    years, since building it is most of the cost of an invitation."""
    first, last = dt.date(starts.year - 1, 1, 1), dt.date(ends.year + 2, 1, 1)
    key = (str(starts.tzinfo), first.isoformat(), last.isoformat())
    cached = _VTIMEZONES.get(key)
    if cached is None:
        cal = icalendar.Calendar()
        event = icalendar.Event()
        event.add("dtstart", starts)
        event.add("dtend", ends)
        cal.add_component(event)
        cal.add_missing_timezones(first_date=first, last_date=last)
        data = cal.to_ical()
        start = data.find(b"BEGIN:VTIMEZONE\r\n")
        end = data.find(b"BEGIN:VEVENT\r\n")
        cached = data[start:end] if start != -1 else b""
        _VTIMEZONES[key] = cached
    return cached


class Composer:
    """Renders replies from the templates folder; every template is checked when it is built."""

    def __init__(self, config: Config, templates: Path | None = None) -> None:
        self.config = config
        folder = templates or resource_dir("templates")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.check()

    def check(self) -> None:
        """Render every kind and language once with sample data, so errors show at startup."""
        sample = Person(
            email="muster@example.org",
            name="Erika Mustermann",
            title="Dr.",
            salutation="Frau",
            organisation="Stadt Musterhausen",
        )
        # A group with a waitlisted, nameless second person takes the other template branches.
        other = Person(email="gast@example.org", status="waitlisted")
        for kind in MAIL_KINDS:
            for lang in LANGUAGES:
                for people in ((sample,), (sample, other)):
                    self.compose(
                        Reply(
                            kind=kind,
                            to=sample.email,
                            to_name=sample.name,
                            people=people,
                            language=lang,
                            in_reply_to="x@example.org",
                            # one with a calendar part, one without
                            registration_id=1 if len(people) == 1 else None,
                        )
                    )

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} is missing") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {name}: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc

    def context(self, reply: Reply) -> dict[str, Any]:
        ev = self.config.event
        tz = self.config.schedule.tz
        lang = reply.language
        first = reply.people[0] if reply.people else None
        return {
            "event": {
                "name": ev.name,
                "venue": ev.venue,
                "date": format_date(ev.starts, lang, tz),
                "starts": format_time(ev.starts, lang, tz),
                "ends": format_time(ev.ends, lang, tz),
                "same_day": ev.starts.astimezone(tz).date() == ev.ends.astimezone(tz).date(),
                "end_date": format_date(ev.ends, lang, tz),
            },
            "people": list(reply.people),
            "person": first,
            "greeting": greeting(first if len(reply.people) == 1 else None, lang),
            "organiser": self.config.smtp.from_address.display_name
            or self.config.smtp.from_address.addr_spec,
            "reply_address": (self.config.smtp.reply_to or self.config.smtp.from_address).addr_spec,
            # True when the mail carries a calendar invitation (or its cancellation).
            "calendar": reply.kind in CALENDAR_METHODS and reply.registration_id is not None,
        }

    def calendar(self, reply: Reply, now: dt.datetime | None = None) -> bytes | None:
        """The iCalendar object (RFC 5545/5546) for a reply, or None for kinds without one."""
        method = CALENDAR_METHODS.get(reply.kind)
        if method is None or reply.registration_id is None:
            return None
        ev = self.config.event
        tz = self.config.schedule.tz
        smtp = self.config.smtp
        domain = smtp.from_address.domain or "localhost"
        cal = icalendar.Calendar()
        cal.add("prodid", PRODID)
        cal.add("version", "2.0")
        cal.add("method", method)
        event = icalendar.Event()
        event.add("uid", calendar_uid(reply.registration_id, reply.registered_at, domain))
        event.add("dtstamp", (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
        # Only a cancellation changes the entry after it was sent: SEQUENCE 1 beats 0.
        event.add("sequence", 1 if method == "CANCEL" else 0)
        event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
        event.add("dtstart", ev.starts.astimezone(tz))
        event.add("dtend", ev.ends.astimezone(tz))
        event.add("summary", ev.name)
        event.add("location", ev.venue)
        event.add("transp", "OPAQUE")
        organizer = icalendar.vCalAddress(f"mailto:{smtp.from_address.addr_spec}")
        organizer.params["cn"] = clean_line(smtp.from_address.display_name or "", 120) or (
            smtp.from_address.addr_spec
        )
        event.add("organizer", organizer)
        for person in reply.people:
            attendee = icalendar.vCalAddress(f"mailto:{clean_line(person.email, 320)}")
            if person.name:
                attendee.params["cn"] = clean_line(person.name, 120)
            attendee.params["cutype"] = "INDIVIDUAL"
            attendee.params["role"] = "REQ-PARTICIPANT"
            attendee.params["partstat"] = "DECLINED" if method == "CANCEL" else "ACCEPTED"
            attendee.params["rsvp"] = "FALSE"
            event.add("attendee", attendee)
        cal.add_component(event)
        data: bytes = cal.to_ical()
        # VTIMEZONE for TZID=…, covering the event's years only (not 1970-2038). The same for
        # every mail of this event: built once, then put where add_missing_timezones() puts
        # it (before the event).
        vtimezone = _vtimezone(ev.starts.astimezone(tz), ev.ends.astimezone(tz))
        if vtimezone:
            data = data.replace(b"BEGIN:VEVENT\r\n", vtimezone + b"BEGIN:VEVENT\r\n", 1)
        return data

    def compose(self, reply: Reply, now: dt.datetime | None = None) -> EmailMessage:
        if reply.kind not in MAIL_KINDS:
            raise TemplateError(f"unknown mail kind {reply.kind!r}")
        lang = reply.language if reply.language in LANGUAGES else self.config.event.language
        ctx = self.context(dataclasses.replace(reply, language=lang))
        base = f"{lang}/{reply.kind}"
        subject = clean_line(self._render(f"{base}.subject.j2", ctx), 300)
        text = self._render(f"{base}.txt.j2", ctx)
        html = self._render(f"{base}.html.j2", ctx)

        smtp = self.config.smtp
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = smtp.from_address
        # A stranger's name goes into a header only cleaned (no CR/LF, no control characters);
        # Address() then RFC 2047-encodes it, so "\r\nBcc:" can never start a header.
        msg["To"] = Address(
            display_name=clean_line(reply.to_name or "", 120), addr_spec=clean_line(reply.to, 320)
        )
        if smtp.reply_to is not None:
            msg["Reply-To"] = smtp.reply_to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
        domain = smtp.from_address.domain or "localhost"
        msg["Message-ID"] = make_msgid(idstring="anmeldung", domain=domain)
        if reply.in_reply_to:
            msg["In-Reply-To"] = f"<{clean_line(reply.in_reply_to, 900)}>"
            refs = [*reply.references, reply.in_reply_to][-MAX_REFERENCES:]
            msg["References"] = " ".join(f"<{clean_line(r, 900)}>" for r in refs)
        # RFC 3834 5.1: mark the mail as an automatic reply, so well-behaved autoresponders stay
        # quiet; X-Auto-Response-Suppress asks Exchange not to send out-of-office replies to it.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        ics = self.calendar(reply, now)
        if ics is not None:
            method = CALENDAR_METHODS[reply.kind]
            # As a third alternative (what Outlook and Gmail turn into an invitation) and as an
            # attachment for the mail programs that only offer attachments to open.
            msg.add_alternative(
                ics.decode("utf-8"),
                subtype="calendar",
                charset="utf-8",
                cte="quoted-printable",
                params={"method": method},
            )
            msg.add_attachment(
                ics,
                maintype="application",
                subtype="ics",
                filename="cancel.ics" if method == "CANCEL" else "invite.ics",
            )
        # After set_content(), which drops every Content-* header it finds (RFC 3282).
        msg["Content-Language"] = lang
        return msg


def message_id_of(msg: EmailMessage) -> str:
    """Our Message-ID without the angle brackets."""
    return str(msg["Message-ID"]).strip().strip("<>")
