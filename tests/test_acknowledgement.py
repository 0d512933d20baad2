"""The acknowledgement: a person's registration we cannot handle automatically is answered
once with "we could not read it, a person will look at it"; nothing else is.

In-process wiring tests (as in test_reply_wiring.py) plus one run through the real CLI,
Dovecot and the SMTP sink.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from anmeldung.analyse import analyse
from anmeldung.classify import ClassifyContext
from anmeldung.models import InboundMessage, OutboxMessage
from anmeldung.registrations import handle
from conftest import MAILBOX_USER, MailServers, run_cli, write_config
from test_reply_wiring import OWN, Env, env, parsed, raw_mail, register_mail

__all__ = ["env"]  # the fixture, imported for pytest

# No name anywhere (no display name, no signature): the attendee's confidence is too low.
NAMELESS = "xk7@mail.example"
_counter = iter(range(1, 10_000))


def nameless_registration(*, message_id: str = "", extra: str = "", lang: str = "de") -> bytes:
    subject, body = (
        ("Anmeldung Symposium", "Hiermit melde ich mich zum Symposium an.")
        if lang == "de"
        else ("Registration", "Hello, I would like to register for the symposium.")
    )
    mid = message_id or f"nameless-{next(_counter)}@mail.example"
    return (
        f"From: {NAMELESS}\r\nTo: anmeldung@stadt.example\r\nSubject: {subject}\r\n"
        f"Date: Mon, 23 Nov 2026 09:14:02 +0100\r\nMessage-ID: <{mid}>\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def acknowledgements(env: Env) -> list[OutboxMessage]:
    return [r for r in env.outbox() if r.kind == "acknowledgement"]


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_low_confidence_registration_is_acknowledged_once(env: Env) -> None:
    result = env.handle(nameless_registration(message_id="low@mail.example"))
    assert result.status == "review"
    assert result.note == "low confidence in the extracted names"
    (row,) = env.outbox()
    assert row.kind == "acknowledgement"
    assert row.status == "queued"
    assert row.recipient == NAMELESS
    assert row.registration_id is None
    assert result.queued == [row.id]
    msg = parsed(row)
    assert msg["Subject"].startswith("Ihre Nachricht ist eingegangen")
    assert msg["In-Reply-To"] == "<low@mail.example>"
    assert msg["Auto-Submitted"] == "auto-replied"
    text = plain(msg)
    assert text.startswith("Sehr geehrte Damen und Herren,")
    assert not [p for p in msg.walk() if p.get_content_type() == "text/calendar"]


def test_acknowledgement_is_written_in_the_senders_language(env: Env) -> None:
    env.handle(nameless_registration(lang="en"))
    (row,) = acknowledgements(env)
    msg = parsed(row)
    assert msg["Subject"].startswith("We have received your message")
    assert "could not process your registration" in plain(msg)


def test_a_handled_registration_is_not_acknowledged(env: Env) -> None:
    env.handle(register_mail("anna.schmidt@koeln.example", "Anna Schmidt"))
    assert [r.kind for r in env.outbox()] == ["confirmation"]


def test_questions_and_thanks_are_left_to_a_person(env: Env) -> None:
    for subject, body in [
        ("Frage", "Gibt es Parkplätze am Veranstaltungsort?"),
        ("Danke", "Vielen Dank für die Bestätigung!\r\n\r\nViele Grüße\r\nAnna Schmidt"),
    ]:
        raw = raw_mail("anna.schmidt@koeln.example", "Anna Schmidt", subject, body)
        assert analyse(raw, ClassifyContext(own_addresses=OWN)).kind == "other"
        assert env.handle(raw).status == "review"
    assert env.outbox() == []


def test_auto_replies_and_robots_are_not_acknowledged(env: Env) -> None:
    robots = [
        # An out-of-office quoting a registration: RFC 3834 says never answer it.
        nameless_registration(extra="Auto-Submitted: auto-replied\r\n"),
        # A mailing list and a bulk sender relaying a registration.
        nameless_registration(extra="List-Id: <symposium.lists.example>\r\n"),
        nameless_registration(extra="Precedence: bulk\r\n"),
    ]
    for raw in robots:
        analysis = analyse(raw, ClassifyContext(own_addresses=OWN))
        assert analysis.kind == "auto_reply"  # the robot checks see through it
        assert not analysis.classification.may_reply
        assert env.handle(raw).status == "ignored"
    # Our own address, as if a registration had been written from it.
    own = nameless_registration().replace(
        f"From: {NAMELESS}".encode(), b"From: anmeldung@stadt.example"
    )
    env.handle(own)
    assert acknowledgements(env) == []


def test_a_replayed_message_is_acknowledged_only_once(env: Env) -> None:
    raw = nameless_registration(message_id="replay@mail.example")
    env.handle(raw)
    # Replay: the recorded message handled again, as Worker.replay() does.
    for _ in range(2):
        analysis = analyse(raw, ClassifyContext(own_addresses=OWN))
        with env.db.transaction() as s:
            row = s.scalar(
                select(InboundMessage).where(InboundMessage.message_id == "replay@mail.example")
            )
            assert row is not None
            result = handle(s, env.config, env.composer, row, analysis)
        assert result.status == "review"
        assert result.queued == []
    assert len(acknowledgements(env)) == 1


def test_the_fuse_holds_back_acknowledgements(env: Env) -> None:
    per_day = env.config.limits.replies_per_address_per_day
    for n in range(per_day + 2):
        env.handle(nameless_registration(message_id=f"fuse-{n}@mail.example"))
    rows = acknowledgements(env)
    assert len(rows) == per_day + 2  # one row per message, the extra ones recorded as held back
    assert [r.status for r in rows].count("queued") == per_day
    assert all((r.last_error or "").startswith("fuse:") for r in rows if r.status != "queued")


# -- through the real CLI, Dovecot and the SMTP sink -----------------------------------------


def test_acknowledgement_through_the_cli(servers: MailServers, tmp_path: Path) -> None:
    config = write_config(tmp_path / "anmeldung.toml", servers)
    run_cli(config, "init")
    nameless = nameless_registration(message_id="cli-ack@mail.example", lang="en").replace(
        b"To: anmeldung@stadt.example", f"To: {MAILBOX_USER}".encode()
    )
    question = raw_mail(
        "anna.schmidt@koeln.example",
        "Anna Schmidt",
        "Frage",
        "Gibt es Parkplätze am Veranstaltungsort?",
    )
    for raw in (nameless, question):
        servers.dovecot.deliver(MAILBOX_USER, raw)
    run_cli(config, "poll")
    run_cli(config, "poll")  # again: nothing new to send

    mails = [m for m in servers.smtp.messages if NAMELESS in m.rcpt_tos]
    assert len(mails) == 1, [m.rcpt_tos for m in servers.smtp.messages]
    assert all("anna.schmidt@koeln.example" not in m.rcpt_tos for m in servers.smtp.messages)
    msg = email.message_from_bytes(mails[0].data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"].startswith("We have received your message")
    assert msg["In-Reply-To"] == "<cli-ack@mail.example>"
    assert msg["Content-Language"] == "en"
    text = plain(msg)
    assert text.startswith("Dear Sir or Madam,")
    assert "A member of our team will look at your message" in text
