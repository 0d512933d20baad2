"""The organisers' daily summary: read one report period from the database into a typed report."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .classify import KINDS
from .config import Config
from .models import InboundMessage, MailboxState, OutboxMessage, PollRun, Registration
from .outbox import LEASE
from .reports import iso
from .status import LATE_AFTER_INTERVALS, MIN_LATE

MESSAGE_STATUSES = ("received", "processed", "review", "ignored")
CHART_DAYS = 14
# What the login code in mailbox.py, smtp.py and oauth.py writes when a login is refused or no
# OAuth2 token could be had; poll_runs keeps only the text of the error.
LOGIN_FAILURE = re.compile(r"refused the (XOAUTH2 )?login|no OAuth2 access token")

# One line per reason a message waits for a person (review_code() picks the code).
REVIEW_REASONS = {
    "unclear_registration": {
        "de": "Anmeldung, aber wer sich anmeldet, wurde nicht sicher erkannt",
        "en": "a registration, but who registers could not be read reliably",
    },
    "unknown_cancellation": {
        "de": "Abmeldung für eine Adresse, die nicht angemeldet ist",
        "en": "a cancellation for an address that is not registered",
    },
    "too_large": {
        "de": "zu groß, nicht geladen",
        "en": "too large, not downloaded",
    },
    "failed": {
        "de": "Verarbeitung fehlgeschlagen",
        "en": "handling failed",
    },
    "bulk_mail": {
        "de": "Rundschreiben oder Newsletter",
        "en": "a circular or newsletter",
    },
    "no_sender": {
        "de": "ohne lesbaren Absender",
        "en": "no readable sender",
    },
    "reply_to_own_message": {
        "de": "Antwort auf eine unserer E-Mails",
        "en": "a reply to one of our mails",
    },
    "no_intent": {
        "de": "weder Anmeldung noch Abmeldung (Frage oder sonstige Nachricht)",
        "en": "neither a registration nor a cancellation (a question or other mail)",
    },
}


@dataclass(frozen=True)
class Period:
    """From the report time on the day before to the report time on ``date`` (local wall clock).

    On the days the clocks change the period is 23 or 25 hours long, so that consecutive
    reports cover every moment exactly once.
    """

    date: dt.date
    start: dt.datetime  # aware, UTC
    end: dt.datetime  # aware, UTC, exclusive

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def report_period(date: dt.date, at: dt.time, tz: zoneinfo.ZoneInfo) -> Period:
    def local(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)

    return Period(date=date, start=local(date - dt.timedelta(days=1)), end=local(date))


def latest_report_date(now: dt.datetime, at: dt.time, tz: zoneinfo.ZoneInfo) -> dt.date:
    """The date of the latest report time that has passed at ``now`` (a complete period)."""
    today = now.astimezone(tz).date()
    if report_period(today, at, tz).end <= now:
        return today
    return today - dt.timedelta(days=1)


@dataclass(frozen=True)
class PersonItem:
    id: int
    name: str | None
    title: str | None
    organisation: str | None
    email: str | None  # None when the person's data was erased
    status: str
    at: dt.datetime
    note: str | None = None  # bounce reason, ...

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "organisation": self.organisation,
            "email": self.email,
            "status": self.status,
            "at": iso(self.at),
            "note": self.note,
        }


@dataclass(frozen=True)
class ReviewItem:
    id: int
    received_at: dt.datetime
    sender: str
    subject: str
    kind: str
    rule: str
    code: str  # a key of REVIEW_REASONS, or "other"
    detail: str | None  # the first line of the error, the size, or the rule
    new: bool  # arrived in the period (else still waiting from before)

    def reason(self, lang: str) -> str:
        text = REVIEW_REASONS.get(self.code, {}).get(lang)
        if text is None:
            text = "bitte lesen" if lang == "de" else "please read"
        return f"{text}: {self.detail}" if self.detail else text

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": iso(self.received_at),
            "from": self.sender,
            "subject": self.subject,
            "kind": self.kind,
            "rule": self.rule,
            "reason_code": self.code,
            "reason": self.reason("en"),
            "new": self.new,
        }


@dataclass(frozen=True)
class MailItem:
    """One of our outgoing mails that was held back or could not be delivered."""

    id: int
    kind: str
    recipient: str
    status: str
    at: dt.datetime
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "to": self.recipient,
            "status": self.status,
            "at": iso(self.at),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PollError:
    error: str
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    login: bool


@dataclass(frozen=True)
class PollHealth:
    runs: int
    failed: int
    login_failures: int
    last_success_at: dt.datetime | None
    stopped: bool  # no successful poll for longer than the threshold at the end of the period
    threshold: dt.timedelta
    errors: tuple[PollError, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "failed": self.failed,
            "login_failures": self.login_failures,
            "last_success_at": iso(self.last_success_at),
            "worker_stopped_polling": self.stopped,
            "stopped_after_seconds": int(self.threshold.total_seconds()),
            "errors": [
                {
                    "error": e.error,
                    "count": e.count,
                    "first_at": iso(e.first_at),
                    "last_at": iso(e.last_at),
                    "login": e.login,
                }
                for e in self.errors
            ],
        }


@dataclass(frozen=True)
class Day:
    """One bar of the chart: registrations made that day, cancelled that day, active at its end."""

    date: dt.date
    new: int
    cancelled: int
    total: int


@dataclass
class DailyReport:
    event: str
    timezone: str
    period: Period
    generated_at: dt.datetime
    capacity: int | None
    messages_by_kind: dict[str, int]
    messages_by_status: dict[str, int]
    messages_by_kind_and_status: dict[str, dict[str, int]]
    new: list[PersonItem]
    cancelled: list[PersonItem]
    moved_up: list[PersonItem]
    waitlisted: list[PersonItem]  # new registrations that went to the waiting list
    totals: dict[str, int]
    review: list[ReviewItem]
    unreachable: list[PersonItem]
    suppressed: list[MailItem]
    send_failures: list[MailItem]
    sent: int
    polls: PollHealth
    days: list[Day] = field(default_factory=list)

    @property
    def messages_total(self) -> int:
        return sum(self.messages_by_kind.values())

    @property
    def complete(self) -> bool:
        """False when the period had not ended yet when the report was made."""
        return self.generated_at >= self.period.end

    @property
    def free(self) -> int | None:
        if self.capacity is None:
            return None
        return max(0, self.capacity - self.totals["confirmed"])

    @property
    def review_new(self) -> int:
        return sum(1 for r in self.review if r.new)

    def problems(self) -> list[str]:
        """Codes of what needs attention; the templates turn them into sentences."""
        out = []
        if self.polls.stopped:
            out.append("stopped_polling")
        if self.polls.login_failures:
            out.append("login_failures")
        if self.send_failures:
            out.append("send_failures")
        if self.unreachable:
            out.append("unreachable")
        if self.review:
            out.append("review")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "report": "daily",
            "event": self.event,
            "date": self.period.date.isoformat(),
            "timezone": self.timezone,
            "period": {
                "start": iso(self.period.start),
                "end": iso(self.period.end),
                "hours": self.period.hours,
                "complete": self.complete,
            },
            "generated_at": iso(self.generated_at),
            "counts": {
                "messages": {
                    "total": self.messages_total,
                    "by_kind": self.messages_by_kind,
                    "by_status": self.messages_by_status,
                    "by_kind_and_status": self.messages_by_kind_and_status,
                },
                "registrations": {
                    "new": len(self.new),
                    "new_waitlisted": len(self.waitlisted),
                    "cancelled": len(self.cancelled),
                    "moved_up": len(self.moved_up),
                },
                "replies": {
                    "sent": self.sent,
                    "suppressed": len(self.suppressed),
                    "failed": len(self.send_failures),
                },
                "review": {"waiting": len(self.review), "new": self.review_new},
                "unreachable": len(self.unreachable),
            },
            "totals": {**self.totals, "capacity": self.capacity, "free": self.free},
            "registrations": {
                "new": [p.as_json() for p in self.new],
                "cancelled": [p.as_json() for p in self.cancelled],
                "moved_up": [p.as_json() for p in self.moved_up],
            },
            "review": [r.as_json() for r in self.review],
            "unreachable": [p.as_json() for p in self.unreachable],
            "suppressed": [m.as_json() for m in self.suppressed],
            "send_failures": [m.as_json() for m in self.send_failures],
            "polls": self.polls.as_json(),
            "problems": self.problems(),
            "chart": [
                {
                    "date": d.date.isoformat(),
                    "new": d.new,
                    "cancelled": d.cancelled,
                    "total": d.total,
                }
                for d in self.days
            ],
        }


def _in(column: Any, period: Period) -> Any:
    """Half-open [start, end): a moment on the boundary belongs to the later report only."""
    return (column >= period.start) & (column < period.end)


def _person(reg: Registration, at: dt.datetime, note: str | None = None) -> PersonItem:
    erased = reg.forgotten_at is not None
    return PersonItem(
        id=reg.id,
        name=None if erased else reg.name,
        title=None if erased else reg.title,
        organisation=None if erased else reg.organisation,
        email=None if erased else reg.email,
        status=reg.status,
        at=at,
        note=note,
    )


def review_code(msg: InboundMessage) -> tuple[str, str | None]:
    """Why a message waits for a person, as a code and a detail, from what is stored about it."""
    if msg.reason == "too_large":
        return "too_large", f"{msg.size / 1_000_000:.1f} MB"
    if msg.error:
        return "failed", msg.error.splitlines()[0][:160]
    if msg.kind == "registration":
        return "unclear_registration", None
    if msg.kind == "cancellation":
        return "unknown_cancellation", None
    if msg.reason in REVIEW_REASONS:
        return msg.reason, None
    return "other", msg.reason or msg.kind


def build(
    session: Session,
    config: Config,
    date: dt.date,
    *,
    mailbox_key: str,
    now: dt.datetime | None = None,
) -> DailyReport:
    """Everything the organisers should know about the period ending at the report time on
    ``date``. Read-only."""
    sched = config.schedule
    period = report_period(date, sched.daily_report, sched.tz)
    now = now or dt.datetime.now(dt.UTC)

    # Every inbound message of the period, counted once by kind and once by status.
    by_kind: Counter[str] = Counter(dict.fromkeys(KINDS, 0))
    by_status: Counter[str] = Counter(dict.fromkeys(MESSAGE_STATUSES, 0))
    matrix: dict[str, dict[str, int]] = {}
    for kind, status, n in session.execute(
        select(InboundMessage.kind, InboundMessage.status, func.count())
        .where(_in(InboundMessage.received_at, period))
        .group_by(InboundMessage.kind, InboundMessage.status)
    ):
        by_kind[kind] += n
        by_status[status] += n
        matrix.setdefault(kind, {})[status] = n

    new: list[PersonItem] = []
    waitlisted: list[PersonItem] = []
    for reg in session.scalars(
        select(Registration)
        .where(_in(Registration.registered_at, period))
        .order_by(Registration.registered_at, Registration.id)
    ):
        item = _person(reg, reg.registered_at)
        new.append(item)
        # Still on the waiting list now (one who has moved up since counts as moved up).
        if reg.status == "waitlisted":
            waitlisted.append(item)
    cancelled = [
        _person(reg, reg.cancelled_at)
        for reg in session.scalars(
            select(Registration)
            .where(Registration.cancelled_at.is_not(None), _in(Registration.cancelled_at, period))
            .order_by(Registration.cancelled_at, Registration.id)
        )
        if reg.cancelled_at is not None
    ]
    # A move up the waiting list is recorded as its promotion mail (one per registration).
    moved_up = [
        _person(reg, out.created_at)
        for out, reg in session.execute(
            select(OutboxMessage, Registration)
            .join(Registration, OutboxMessage.registration_id == Registration.id)
            .where(OutboxMessage.kind == "promotion", _in(OutboxMessage.created_at, period))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
    ]

    totals = dict.fromkeys(("confirmed", "waitlisted", "cancelled"), 0)
    for status, n in session.execute(
        select(Registration.status, func.count()).group_by(Registration.status)
    ):
        totals[status] = n
    totals["unreachable"] = (
        session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(Registration.unreachable_at.is_not(None), Registration.status != "cancelled")
        )
        or 0
    )

    # Waiting for a person now, however old; the ones that came in during the period marked.
    review = []
    for msg in session.scalars(
        select(InboundMessage)
        .where(InboundMessage.status == "review", InboundMessage.received_at < period.end)
        .order_by(InboundMessage.received_at, InboundMessage.id)
    ):
        code, detail = review_code(msg)
        review.append(
            ReviewItem(
                id=msg.id,
                received_at=msg.received_at,
                sender=msg.sender,
                subject=msg.subject,
                kind=msg.kind,
                rule=msg.reason,
                code=code,
                detail=detail,
                new=msg.received_at >= period.start,
            )
        )

    unreachable = [
        _person(reg, reg.unreachable_at, reg.bounce_reason)
        for reg in session.scalars(
            select(Registration)
            .where(
                Registration.unreachable_at.is_not(None),
                _in(Registration.unreachable_at, period),
            )
            .order_by(Registration.unreachable_at, Registration.id)
        )
        if reg.unreachable_at is not None
    ]

    suppressed = [
        MailItem(o.id, o.kind, o.recipient, o.status, o.created_at, o.last_error or "")
        for o in session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "suppressed", _in(OutboxMessage.created_at, period))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
    ]
    send_failures = []
    for o in session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "failed",
            # Erasure marks unsent mail failed; that is no delivery problem.
            OutboxMessage.forgotten_at.is_(None),
            OutboxMessage.created_at < period.end,
        )
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    ):
        # The outbox keeps no time of the failure; claim_due() set next_attempt_at to the
        # last attempt plus the lease, and a failed row is never claimed again.
        attempted = o.next_attempt_at - LEASE
        if period.start <= max(attempted, o.created_at) < period.end:
            send_failures.append(
                MailItem(o.id, o.kind, o.recipient, o.status, attempted, o.last_error or "")
            )
    sent = (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.sent_at.is_not(None), _in(OutboxMessage.sent_at, period))
        )
        or 0
    )

    return DailyReport(
        event=config.event.name,
        timezone=sched.timezone,
        period=period,
        generated_at=now,
        capacity=config.event.capacity,
        messages_by_kind=dict(by_kind),
        messages_by_status=dict(by_status),
        messages_by_kind_and_status=matrix,
        new=new,
        cancelled=cancelled,
        moved_up=moved_up,
        waitlisted=waitlisted,
        totals=totals,
        review=review,
        unreachable=unreachable,
        suppressed=suppressed,
        send_failures=send_failures,
        sent=sent,
        polls=_poll_health(session, config, period, mailbox_key, now),
        days=_days(session, period, sched.tz),
    )


def _poll_health(
    session: Session, config: Config, period: Period, mailbox_key: str, now: dt.datetime
) -> PollHealth:
    runs = 0
    errors: dict[str, list[dt.datetime]] = {}
    for started, error in session.execute(
        select(PollRun.started_at, PollRun.error).where(_in(PollRun.started_at, period))
    ):
        runs += 1
        if error:
            errors.setdefault(error.splitlines()[0][:300], []).append(started)
    grouped = tuple(
        PollError(
            error=text,
            count=len(times),
            first_at=min(times),
            last_at=max(times),
            login=bool(LOGIN_FAILURE.search(text)),
        )
        for text, times in sorted(errors.items(), key=lambda kv: min(kv[1]))
    )
    state = session.get(MailboxState, mailbox_key)
    last_success = state.last_success_at if state else None
    # A report of a past period judges the worker at that period's end, not today.
    at = min(now, period.end)
    if last_success is not None and last_success > at:
        last_success = session.scalar(
            select(func.max(PollRun.finished_at)).where(
                PollRun.error.is_(None), PollRun.finished_at < at
            )
        )
    threshold = max(
        MIN_LATE, LATE_AFTER_INTERVALS * dt.timedelta(seconds=config.schedule.poll_seconds)
    )
    return PollHealth(
        runs=runs,
        failed=sum(e.count for e in grouped),
        login_failures=sum(e.count for e in grouped if e.login),
        last_success_at=last_success,
        stopped=last_success is None or at - last_success > threshold,
        threshold=threshold,
        errors=grouped,
    )


def _days(session: Session, period: Period, tz: zoneinfo.ZoneInfo) -> list[Day]:
    """The CHART_DAYS local days up to the period's end: made, cancelled, active at the end."""
    # The last day is the one the period ends in (a report at 00:00 ends with the day before).
    last = (period.end - dt.timedelta(microseconds=1)).astimezone(tz).date()
    first = last - dt.timedelta(days=CHART_DAYS - 1)
    made: Counter[dt.date] = Counter()
    dropped: Counter[dt.date] = Counter()
    before = 0
    start = dt.datetime.combine(first, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    end = period.end
    for registered, cancelled in session.execute(
        select(Registration.registered_at, Registration.cancelled_at).where(
            Registration.registered_at < end
        )
    ):
        if registered < start:
            if cancelled is None or cancelled >= start:
                before += 1
        else:
            made[registered.astimezone(tz).date()] += 1
        if cancelled is not None and start <= cancelled < end:
            dropped[cancelled.astimezone(tz).date()] += 1
    days = []
    total = before
    for i in range(CHART_DAYS):
        day = first + dt.timedelta(days=i)
        total += made[day] - dropped[day]
        days.append(Day(date=day, new=made[day], cancelled=dropped[day], total=total))
    return days
