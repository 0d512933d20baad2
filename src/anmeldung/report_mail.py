"""The daily report as text, HTML (with its chart) and a mail queued once per date and recipient."""

from __future__ import annotations

import datetime as dt
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from .chart import Bar, bar_chart
from .compose import format_date
from .config import Config
from .daily import DailyReport, PersonItem
from .errors import TemplateError
from .models import OutboxMessage
from .outbox import bounded_trigger, enqueue
from .parse import clean_line
from .resources import resource_dir

LANGUAGES = ("de", "en")
KIND = "daily_report"  # outbox.kind
CHART_CID = "tageschart"
# Lists in the mail stop after this many entries, with a pointer to the command that shows
# all (the JSON has every entry): a mail over about 100 KB is clipped by Gmail.
LIST_LIMIT = 50

NAMES: dict[str, dict[str, dict[str, str]]] = {
    "kind": {
        "de": {
            "registration": "Anmeldung",
            "cancellation": "Abmeldung",
            "auto_reply": "automatische Antwort",
            "bounce": "Unzustellbarkeit",
            "other": "Sonstiges",
        },
        "en": {
            "registration": "registration",
            "cancellation": "cancellation",
            "auto_reply": "automatic reply",
            "bounce": "bounce",
            "other": "other",
        },
    },
    "message_status": {
        "de": {
            "processed": "erledigt",
            "review": "zur Durchsicht",
            "ignored": "ohne Antwort abgelegt",
            "received": "in Bearbeitung",
        },
        "en": {
            "processed": "handled",
            "review": "to review",
            "ignored": "filed without reply",
            "received": "being handled",
        },
    },
    "status": {
        "de": {"confirmed": "bestätigt", "waitlisted": "Warteliste", "cancelled": "abgemeldet"},
        "en": {"confirmed": "confirmed", "waitlisted": "waiting list", "cancelled": "cancelled"},
    },
    "head": {
        "de": {
            "name": "Name",
            "organisation": "Organisation",
            "email": "E-Mail",
            "status": "Stand",
            "mail": "E-Mail-Art",
            "to": "an",
            "when": "Zeit",
            "reason": "Grund",
        },
        "en": {
            "name": "Name",
            "organisation": "Organisation",
            "email": "Email",
            "status": "Status",
            "mail": "Mail",
            "to": "To",
            "when": "When",
            "reason": "Reason",
        },
    },
    "mail": {
        "de": {
            "confirmation": "Bestätigung",
            "waitlist": "Wartelisten-Nachricht",
            "promotion": "Nachrück-Nachricht",
            "cancellation": "Abmeldebestätigung",
            "already_registered": "Hinweis „bereits angemeldet“",
            "acknowledgement": "Eingangsbestätigung",
            "daily_report": "Tagesbericht",
        },
        "en": {
            "confirmation": "confirmation",
            "waitlist": "waiting-list mail",
            "promotion": "moved-up mail",
            "cancellation": "cancellation mail",
            "already_registered": "'already registered' mail",
            "acknowledgement": "acknowledgement",
            "daily_report": "daily report",
        },
    },
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    chart: bytes  # PNG, referenced from the HTML as cid:CHART_CID
    language: str


class ReportRenderer:
    """Renders templates/<lang>/daily_report.{subject,txt,html}.j2; pure, no I/O but the files."""

    def __init__(self, config: Config, templates: Path | None = None) -> None:
        self.config = config
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates or resource_dir("templates"))),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, report: DailyReport, lang: str) -> Rendered:
        if lang not in LANGUAGES:
            raise TemplateError(f"no daily report templates for language {lang!r}")
        ctx = self.context(report, lang)
        base = f"{lang}/daily_report"
        return Rendered(
            subject=clean_line(self._render(f"{base}.subject.j2", ctx), 300),
            text=self._render(f"{base}.txt.j2", ctx),
            html=self._render(f"{base}.html.j2", ctx),
            chart=chart_png(report),
            language=lang,
        )

    def _render(self, name: str, ctx: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(ctx)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} is missing") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {name}: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc

    def context(self, report: DailyReport, lang: str) -> dict[str, Any]:
        tz = self.config.schedule.tz

        def when(value: dt.datetime | None) -> str:
            if value is None:
                return "nie" if lang == "de" else "never"
            local = value.astimezone(tz)
            return f"{local:%d.%m.%Y %H:%M}" + (" Uhr" if lang == "de" else "")

        def day(value: dt.date) -> str:
            # Six characters either way, so the text table stays aligned.
            return f"{value:%d.%m.}" if lang == "de" else f"{value:%d %b}"

        def who(p: PersonItem) -> str:
            if p.email is None:
                return "(gelöscht)" if lang == "de" else "(erased)"
            return " ".join(x for x in (p.title, p.name) if x)

        def name(table: str, key: str) -> str:
            return NAMES[table][lang].get(key, key)

        def why(text: str) -> str:
            """A stored reason (the loop fuse's, a bounce's) in the report's language."""
            return explain(text, lang)

        def more(items: Sequence[object], command: str) -> str:
            n = len(items) - LIST_LIMIT
            if lang == "de":
                return f"… und {n} weitere (alle: {command})"
            return f"… and {n} more (all: {command})"

        def number(value: int | float) -> str:
            return f"{value:,}".replace(",", "." if lang == "de" else ",")

        end_local = report.period.end.astimezone(tz)
        return {
            "r": report,
            "lang": lang,
            "event": report.event,
            "date_long": format_date(end_local, lang, tz),
            "start": when(report.period.start),
            "end": when(report.period.end),
            "hours": round(report.period.hours),
            "when": when,
            "day": day,
            "who": who,
            "name": name,
            "number": number,
            "more": more,
            "why": why,
            "limit": LIST_LIMIT,
            "problems": report.problems(),
            "chart_cid": CHART_CID,
            "chart_alt": chart_alt(report, lang),
            "review_folder": self.config.mailbox.review_folder,
        }


# The reasons outbox.fuse_reason() and registrations._bounce() store, in English.
_FUSE_ADDRESS = re.compile(r"fuse: already (\d+) replies to this address in 24 h \((.*)\)")
_FUSE_HOUR = re.compile(r"fuse: already (\d+) replies in the last hour \((.*)\)")
_BOUNCE = re.compile(r"bounce\w*: (.*)")


def explain(text: str, lang: str) -> str:
    """The stored reason in German for a German report; anything unknown stays as it is."""
    if lang != "de":
        return text
    if m := _FUSE_ADDRESS.fullmatch(text):
        what = "Antwort" if m[1] == "1" else "Antworten"
        return f"Schleifenschutz: schon {m[1]} {what} an diese Adresse in 24 Stunden ({m[2]})"
    if m := _FUSE_HOUR.fullmatch(text):
        what = "Antwort" if m[1] == "1" else "Antworten"
        return f"Schleifenschutz: schon {m[1]} {what} in der letzten Stunde ({m[2]})"
    if m := _BOUNCE.fullmatch(text):
        return f"Unzustellbarkeitsnachricht für {m[1]}" if m[1] else "Unzustellbarkeitsnachricht"
    return text


def chart_png(report: DailyReport) -> bytes:
    bars = [Bar(f"{d.date:%d.%m}", d.total, d.new) for d in report.days]
    return bar_chart(bars, report.capacity)


def chart_alt(report: DailyReport, lang: str) -> str:
    """The chart in one sentence, for clients that do not show images (and screen readers)."""
    if not report.days:
        return ""
    first, last = report.days[0], report.days[-1]
    cap = report.capacity
    if lang == "de":
        text = (
            f"Anmeldungen je Tag vom {first.date:%d.%m.} bis {last.date:%d.%m.}: "
            f"{sum(d.new for d in report.days)} neu, zuletzt {last.total} angemeldet"
        )
        return text + (f" bei {cap} Plätzen" if cap else "")
    text = (
        f"Registrations per day from {first.date:%d %b} to {last.date:%d %b}: "
        f"{sum(d.new for d in report.days)} new, {last.total} registered at the end"
    )
    return text + (f" for {cap} places" if cap else "")


def compose(
    config: Config, rendered: Rendered, recipient: Address, now: dt.datetime | None = None
) -> EmailMessage:
    """text/plain and multipart/related(text/html, the chart as image/png) as alternatives."""
    smtp = config.smtp
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = smtp.from_address
    msg["To"] = recipient
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(idstring="anmeldung-report", domain=smtp.from_address.domain)
    # RFC 3834 5.1: generated by a program, not a reply; autoresponders should stay quiet.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    html_part = msg.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    # RFC 2387: the image travels with the HTML that shows it by Content-ID (RFC 2392).
    html_part.add_related(
        rendered.chart,
        maintype="image",
        subtype="png",
        cid=f"<{CHART_CID}>",
        filename="anmeldungen.png",
        disposition="inline",
    )
    msg["Content-Language"] = rendered.language
    return msg


def trigger(date: dt.date, recipient: str) -> str:
    """One daily report per date and recipient, ever: the outbox refuses a second row."""
    return f"{KIND}:{date.isoformat()}:to:{recipient.lower()}"


@dataclass(frozen=True)
class Queued:
    recipient: str
    outbox_id: int | None  # None: this date's report was queued for them before


def queue_daily(
    session: Session,
    config: Config,
    renderer: ReportRenderer,
    report: DailyReport,
    *,
    lang: str | None = None,
    now: dt.datetime | None = None,
) -> list[Queued]:
    """Queue ``report`` to every [report] recipient who has not had this date's report yet.

    In the caller's transaction, like every outbox row. Recipients who already have the
    date's report queued or sent get nothing, so a second call, a `--send` after the worker
    sent it, or a restart never sends twice.
    """
    date = report.period.date
    recipients: dict[str, Address] = {}
    for entry in config.report.recipients:
        display, addr = parseaddr(entry)
        user, _, domain = addr.rpartition("@")
        recipients.setdefault(addr.lower(), Address(clean_line(display, 120), user, domain))
    missing = [a for a in recipients if not _queued(session, trigger(date, a))]
    done = [Queued(a, None) for a in recipients if a not in missing]
    if not missing:
        return done
    rendered = renderer.render(report, lang or config.report.language)
    for addr in missing:
        row = enqueue(
            session,
            compose(config, rendered, recipients[addr], now),
            trigger=trigger(date, addr),
            kind=KIND,
            recipient=recipients[addr].addr_spec,
            envelope_from=config.smtp.from_address.addr_spec,
        )
        done.append(Queued(addr, row.id if row is not None else None))
    return done


def _queued(session: Session, key: str) -> bool:
    # As enqueue() stores it: a trigger too long for its column (a long address) is hashed.
    stored = bounded_trigger(key)
    return (
        session.scalar(select(OutboxMessage.id).where(OutboxMessage.trigger == stored)) is not None
    )


def html_for_browser(rendered: Rendered, chart_file: str) -> str:
    """The HTML with the chart pointing at a file next to it, for `report daily --html FILE`."""
    return rendered.html.replace(f"cid:{CHART_CID}", chart_file)
