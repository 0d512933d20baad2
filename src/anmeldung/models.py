"""The database tables (SQLAlchemy 2 typed models); Alembic migrations create exactly these."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so that Alembic batch migrations on SQLite can find them again.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out (SQLite forgets the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        return value.astimezone(dt.UTC).replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Clipped(TypeDecorator[str]):
    """VARCHAR(n) that cuts an over-long value to n characters instead of failing.

    SQLite ignores the length, PostgreSQL refuses the whole transaction ("value too long"),
    which would turn one odd mail (a 150-character job title) into a poll that fails forever.
    Only for text that is shown to people, never for keys.
    """

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or len(value) <= self.length:
            return value
        return value[: self.length - 1] + "…"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class InboundMessage(Base):
    """Every message read from the mailbox, recorded before anything else happens to it."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_messages_imap_key"),
        UniqueConstraint("message_key", name="uq_messages_message_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(500))  # "user@host/INBOX", or "import"
    # RFC 3501: UIDs and UIDVALIDITY are unsigned 32-bit; PostgreSQL's INTEGER is signed.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_key: Mapped[str] = mapped_column(String(1000))  # normalised Message-ID or sha256:…
    message_id: Mapped[str | None] = mapped_column(Clipped(1000))
    sender: Mapped[str] = mapped_column(Clipped(320), default="")
    sender_name: Mapped[str] = mapped_column(Clipped(200), default="")
    subject: Mapped[str] = mapped_column(Clipped(1000), default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # the Date header
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    size: Mapped[int] = mapped_column(Integer, default=0)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(20), default="other")
    reason: Mapped[str] = mapped_column(Clipped(100), default="")
    language: Mapped[str] = mapped_column(String(5), default="de")
    # received -> processed | review | ignored; "error" while a handling attempt failed
    status: Mapped[str] = mapped_column(String(20), default="received")
    error: Mapped[str | None] = mapped_column(Text)
    folder: Mapped[str | None] = mapped_column(String(500))  # where the mail was moved to
    # Set when `forget` or `purge` erased the personal data; kind and status stay for counts.
    forgotten_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    registrations: Mapped[list[Registration]] = relationship(back_populates="message")


class Registration(Base):
    """One attendee of the event."""

    __tablename__ = "registrations"
    __table_args__ = (
        # An address can stand for several people: a secretary registers her boss and a
        # colleague, neither with an address of their own (person_key tells them apart).
        UniqueConstraint("email", "person_key", name="uq_registrations_email_person"),
        Index("ix_registrations_status", "status"),  # confirmed places, per handled message
        Index("ix_registrations_order", "registered_at", "id"),  # `list` and exports order
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # "" for the address's owner; the folded name of someone registered under another's address.
    person_key: Mapped[str] = mapped_column(String(200), default="", server_default="")
    name: Mapped[str | None] = mapped_column(Clipped(200))
    title: Mapped[str | None] = mapped_column(Clipped(100))
    salutation: Mapped[str | None] = mapped_column(Clipped(20))
    organisation: Mapped[str | None] = mapped_column(Clipped(300))
    function: Mapped[str | None] = mapped_column(Clipped(200))
    # Where confirmations go: the attendee's own address, or the sender who registered them.
    contact_email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(5), default="de")
    status: Mapped[str] = mapped_column(
        String(20), default="confirmed"
    )  # confirmed|waitlisted|cancelled
    confidence: Mapped[float | None] = mapped_column()
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    confirmation_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Set when a mail to this person bounced for good: organisers should phone them.
    unreachable_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    bounce_reason: Mapped[str | None] = mapped_column(Text)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # Set when `forget` or `purge` erased the person (email becomes "forgotten#<id>"); status
    # and times stay, so totals and reports still add up.
    forgotten_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    message: Mapped[InboundMessage | None] = relationship(back_populates="registrations")


class OutboxMessage(Base):
    """A mail we owe someone: queued -> sending -> sent | retry | failed (pretix-style outbox)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("message_id", name="uq_outbox_message_id"),
        # One row per trigger: the same inbound message can never queue the same mail twice.
        UniqueConstraint("trigger", name="uq_outbox_trigger"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # The loop fuse counts recent replies per address and in all, for every reply queued.
        # Covering (status included): status is stored after the body, so reading it from the
        # row walks the body's overflow pages.
        Index("ix_outbox_recipient_created", "recipient", "created_at", "status"),
        Index("ix_outbox_created", "created_at", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))  # confirmation, ...
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    recipient: Mapped[str] = mapped_column(Clipped(320))
    sender: Mapped[str] = mapped_column(String(320))  # envelope MAIL FROM
    message_id: Mapped[str] = mapped_column(String(500))  # ours, without angle brackets
    subject: Mapped[str] = mapped_column(Clipped(1000))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # the complete rendered RFC 5322 message
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the copy went into [mailbox] sent_folder; NULL on a sent row means still to do.
    sent_copy_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Set when `forget` or `purge` erased recipient, subject and body; kind and status stay.
    forgotten_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class MailboxState(Base):
    """What we last saw of a watched folder (UIDVALIDITY changes are counted, RFC 3501 2.3.1.1)."""

    __tablename__ = "mailbox_state"

    mailbox: Mapped[str] = mapped_column(String(500), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uidvalidity_changes: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class PollRun(Base):
    """One poll cycle: when, how much, and what went wrong (for status and the daily report)."""

    __tablename__ = "poll_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    recorded: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
