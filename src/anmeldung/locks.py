"""What lets several workers share one PostgreSQL database: an upsert and an advisory lock."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import MailboxState

# pg_advisory_xact_lock(int, int) keys; the two-int form never meets the one-bigint keys of
# claims.InboxClaims (PostgreSQL keeps the two key spaces apart).
_LOCK_CLASS = 0x616E6D  # "anm"
_DECISIONS = 1  # (_LOCK_CLASS, 0) is the migration lock, migrations/env.py


def is_shared(session: Session) -> bool:
    """Whether other workers may write the same database at once (PostgreSQL)."""
    return session.get_bind().dialect.name == "postgresql"


def decision_lock(session: Session) -> None:
    """Take the decision lock until the transaction ends (PostgreSQL; SQLite has one writer
    anyway).

    Deciding who gets a place reads the confirmed count and then writes: two workers doing
    that at once under READ COMMITTED would both see the last free place and overbook. Under
    this lock such decisions (and the unique triggers, the loop fuse, the daily report's
    queueing) happen one after another; reading mail and composing happen outside it. Taking
    it again in the same transaction is harmless (it stacks).
    """
    if is_shared(session):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _LOCK_CLASS, "b": _DECISIONS}
        )


def mailbox_state_row(session: Session, key: str) -> MailboxState:
    """The watched folder's state row, created when missing, locked until the transaction ends.

    INSERT … ON CONFLICT DO NOTHING: two workers starting at once both create it otherwise,
    and one fails on the primary key. The row lock (FOR UPDATE; no-op on SQLite) makes their
    UIDVALIDITY checks take turns, so a change is counted once.
    """
    dialect = session.get_bind().dialect.name
    values = {"mailbox": key, "uidvalidity_changes": 0}
    if dialect == "postgresql":
        session.execute(postgresql.insert(MailboxState).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(MailboxState).values(values).on_conflict_do_nothing())
    else:  # another SQLAlchemy database: one worker, plain get-or-add
        state = session.get(MailboxState, key) or MailboxState(**values)
        session.add(state)
        return state
    found = session.get(MailboxState, key, with_for_update=True, populate_existing=True)
    assert found is not None  # inserted just now or before
    return found
