"""Is the worker healthy? What `anmeldung status` shows and a monitoring check acts on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .config import Config
from .errors import AnmeldungError
from .models import InboundMessage, MailboxState, OutboxMessage, PollRun, utcnow
from .reports import counts, iso

# A poll may be late by a few intervals (a slow batch, a restart) before anyone must look.
LATE_AFTER_INTERVALS = 3
MIN_LATE = dt.timedelta(minutes=5)
# A reply still queued this long after it was due means the sender step is not running.
OUTBOX_STUCK_AFTER = dt.timedelta(minutes=15)


@dataclass
class Status:
    """The figures, and the problems that make the worker look unhealthy."""

    figures: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {**self.figures, "healthy": self.healthy, "problems": list(self.problems)}


def gather(
    session: Session,
    config: Config,
    mailbox_key: str,
    *,
    waiting: Callable[[], int] | None = None,
    now: dt.datetime | None = None,
) -> Status:
    """Read the database (and, through ``waiting``, the mailbox) into a Status.

    ``waiting`` counts the mail in the watched folder; it may raise AnmeldungError, which
    becomes a problem rather than an exception, since an unreachable server is the news.
    """
    now = now or utcnow()
    problems: list[str] = []
    state = session.get(MailboxState, mailbox_key)
    last_run = session.scalars(select(PollRun).order_by(PollRun.id.desc()).limit(1)).first()
    last_success = state.last_success_at if state else None
    last_error = state.last_error if state else None
    last_error_at = state.last_error_at if state else None

    late_after = max(
        MIN_LATE, LATE_AFTER_INTERVALS * dt.timedelta(seconds=config.schedule.poll_seconds)
    )
    if last_success is None:
        problems.append("the mailbox has never been read successfully")
    elif now - last_success > late_after:
        minutes = int((now - last_success).total_seconds() // 60)
        problems.append(f"no successful poll for {minutes} min (expected every "
                        f"{config.schedule.poll_seconds} s)")  # fmt: skip
    if last_error_at is not None and (last_success is None or last_error_at > last_success):
        problems.append(f"the last poll failed: {last_error}")

    outbox: dict[str, int] = dict.fromkeys(("queued", "sending", "retry", "failed", "sent"), 0)
    for status, n in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ):
        outbox[status] = n
    oldest_due = session.scalar(
        select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status.in_(("queued", "retry"))
        )
    )
    if oldest_due is not None:
        if oldest_due.tzinfo is None:  # SQLite keeps naive UTC
            oldest_due = oldest_due.replace(tzinfo=dt.UTC)
        if now - oldest_due > OUTBOX_STUCK_AFTER:
            problems.append(
                f"{outbox['queued'] + outbox['retry']} repl(ies) overdue since "
                f"{iso(oldest_due)}: the sender step is not getting through"
            )

    review = session.scalar(
        select(func.count()).select_from(InboundMessage).where(InboundMessage.status == "review")
    )
    mailbox_waiting: int | None = None
    if waiting is not None:
        try:
            mailbox_waiting = waiting()
        except AnmeldungError as exc:
            problems.append(f"the mailbox cannot be read now: {exc}")

    regs = counts(session)
    figures: dict[str, Any] = {
        "last_success_at": iso(last_success),
        "last_poll_at": iso(last_run.started_at) if last_run else None,
        "last_error": last_error,
        "last_error_at": iso(last_error_at),
        "uidvalidity_changes": state.uidvalidity_changes if state else 0,
        "mailbox_waiting": mailbox_waiting,
        "outbox": outbox,
        "outbox_oldest_due_at": iso(oldest_due),
        "review": review or 0,
        "registrations": regs,
        "capacity": config.event.capacity,
    }
    return Status(figures=figures, problems=problems)


def format_status(status: Status, tz: dt.tzinfo) -> str:
    """A few lines for a person at a terminal."""

    def when(value: str | None) -> str:
        if value is None:
            return "never"
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(tz).strftime("%d.%m.%Y %H:%M:%S")

    f = status.figures
    ob = f["outbox"]
    regs = f["registrations"]
    cap = f" of {f['capacity']} places" if f["capacity"] else ""
    waiting = "not checked" if f["mailbox_waiting"] is None else str(f["mailbox_waiting"])
    lines = [
        f"status:         {'OK' if status.healthy else 'PROBLEM'}",
        f"last good poll: {when(f['last_success_at'])}",
        f"mail waiting:   {waiting}",
        f"outbox:         {ob['queued'] + ob['retry'] + ob['sending']} to send, "
        f"{ob['failed']} failed, {ob['sent']} sent",
        f"to review:      {f['review']}",
        f"registrations:  {regs['confirmed']} confirmed{cap}, {regs['waitlisted']} waiting, "
        f"{regs['cancelled']} cancelled",
    ]
    if f["last_error"]:
        lines.append(f"last error:     {when(f['last_error_at'])}: {f['last_error']}")
    lines += [f"problem: {p}" for p in status.problems]
    return "\n".join(lines)
