"""registrations.py: cancellations, promotions and repeat registrations queue the right mail."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage

import icalendar
import pytest
from sqlalchemy import select

from anmeldung.analyse import analyse
from anmeldung.classify import ClassifyContext
from anmeldung.compose import Composer
from anmeldung.config import Config
from anmeldung.db import Database
from anmeldung.models import OutboxMessage, Registration
from anmeldung.registrations import Handled, handle, record, reply_address
from test_compose import make_config

OWN = frozenset({"anmeldung@stadt.example"})
_counter = iter(range(1, 10_000))


def raw_mail(sender: str, name: str, subject: str, body: str) -> bytes:
    n = next(_counter)
    return (
        f"From: {name} <{sender}>\r\nTo: anmeldung@stadt.example\r\nSubject: {subject}\r\n"
        f"Date: Mon, 23 Nov 2026 09:14:02 +0100\r\nMessage-ID: <m{n}@{sender.split('@')[1]}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def register_mail(sender: str, name: str) -> bytes:
    return raw_mail(
        sender,
        name,
        "Anmeldung Symposium",
        f"Sehr geehrte Damen und Herren,\r\n\r\nhiermit melde ich mich zum Symposium an.\r\n\r\n"
        f"Mit freundlichen Grüßen\r\n{name}",
    )


def cancel_mail(sender: str, name: str) -> bytes:
    return raw_mail(
        sender,
        name,
        "Abmeldung Symposium",
        f"Guten Tag,\r\n\r\nleider kann ich nicht teilnehmen.\r\n\r\nViele Grüße\r\n{name}",
    )


@dataclasses.dataclass
class Env:
    db: Database
    config: Config
    composer: Composer

    def handle(self, raw: bytes) -> Handled:
        analysis = analyse(raw, ClassifyContext(own_addresses=OWN))
        with self.db.transaction() as s:
            row = record(
                s,
                mailbox="test",
                uidvalidity=1,
                uid=None,
                raw=raw,
                analysis=analysis,
                size=len(raw),
            )
            return handle(s, self.config, self.composer, row, analysis)

    def outbox(self) -> list[OutboxMessage]:
        with self.db.session() as s:
            return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    def status(self, address: str) -> str:
        with self.db.session() as s:
            reg = s.scalar(select(Registration).where(Registration.email == address))
            assert reg is not None
            return reg.status


@pytest.fixture
def env(migrated_url: str) -> Iterator[Env]:
    db = Database(migrated_url)
    base = make_config()
    config = dataclasses.replace(base, event=dataclasses.replace(base.event, capacity=1))
    yield Env(db, config, Composer(config))
    db.dispose()


def parsed(row: OutboxMessage) -> EmailMessage:
    msg = email.message_from_bytes(row.body, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def ics_of(row: OutboxMessage) -> icalendar.Calendar:
    (part,) = [p for p in parsed(row).walk() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_content())


ANNA = ("anna.schmidt@koeln.example", "Anna Schmidt")
BERT = ("bert.weber@bonn.example", "Bert Weber")


def test_cancellation_by_mail_queues_confirmation_and_promotes(env: Env) -> None:
    first = env.handle(register_mail(*ANNA))
    second = env.handle(register_mail(*BERT))
    assert env.status(ANNA[0]) == "confirmed"
    assert env.status(BERT[0]) == "waitlisted"
    assert len(first.queued) == len(second.queued) == 1

    result = env.handle(cancel_mail(*ANNA))
    assert result.status == "processed"
    assert len(result.cancelled) == 1
    assert len(result.promoted) == 1
    assert env.status(ANNA[0]) == "cancelled"
    assert env.status(BERT[0]) == "confirmed"

    rows = env.outbox()
    assert [(r.kind, r.recipient) for r in rows] == [
        ("confirmation", ANNA[0]),
        ("waitlist", BERT[0]),
        ("cancellation", ANNA[0]),
        ("promotion", BERT[0]),
    ]
    confirmation, _, cancellation, promotion = rows
    assert parsed(cancellation)["Subject"].startswith("Abmeldung bestätigt")
    assert parsed(cancellation)["In-Reply-To"].startswith("<m")
    request = ics_of(confirmation)
    cancel = ics_of(cancellation)
    assert str(cancel["METHOD"]) == "CANCEL"
    (req_ev,) = request.walk("VEVENT")
    (can_ev,) = cancel.walk("VEVENT")
    assert str(can_ev["UID"]) == str(req_ev["UID"])
    assert int(can_ev["SEQUENCE"]) > int(req_ev["SEQUENCE"])
    assert parsed(promotion)["Subject"].startswith("Platz frei")
    assert str(ics_of(promotion)["METHOD"]) == "REQUEST"


def test_cancelling_again_queues_nothing(env: Env) -> None:
    env.handle(register_mail(*ANNA))
    env.handle(cancel_mail(*ANNA))
    again = env.handle(cancel_mail(*ANNA))
    assert again.status == "review"  # nobody left to cancel
    assert [r.kind for r in env.outbox()] == ["confirmation", "cancellation"]


def test_a_waitlisted_cancellation_promotes_nobody(env: Env) -> None:
    env.handle(register_mail(*ANNA))
    env.handle(register_mail(*BERT))
    result = env.handle(cancel_mail(*BERT))
    assert result.promoted == []
    assert env.status(ANNA[0]) == "confirmed"
    assert [r.kind for r in env.outbox()] == ["confirmation", "waitlist", "cancellation"]


def test_registering_again_replies_once_per_registration(env: Env) -> None:
    env.handle(register_mail(*ANNA))
    second = env.handle(register_mail(*ANNA))
    third = env.handle(register_mail(*ANNA))
    assert second.note == "already registered"
    assert len(second.queued) == 1
    assert third.queued == []
    rows = env.outbox()
    assert [r.kind for r in rows] == ["confirmation", "already_registered"]
    msg = parsed(rows[1])
    assert msg["Subject"].startswith("Bereits angemeldet")
    text = msg.get_body(("plain",))
    assert text is not None
    assert "Teilnahme bestätigt" in text.get_content()
    assert not [p for p in msg.walk() if p.get_content_type() == "text/calendar"]


def test_registering_again_after_cancelling_is_a_new_registration(env: Env) -> None:
    env.handle(register_mail(*ANNA))
    env.handle(cancel_mail(*ANNA))
    again = env.handle(register_mail(*ANNA))
    assert env.status(ANNA[0]) == "confirmed"
    assert len(again.queued) == 1
    rows = env.outbox()
    assert [r.kind for r in rows] == ["confirmation", "cancellation", "confirmation"]
    # A new calendar entry: the cancelled one stays cancelled.
    (old,) = ics_of(rows[0]).walk("VEVENT")
    (new,) = ics_of(rows[2]).walk("VEVENT")
    assert str(old["UID"]) != str(new["UID"])


def test_mails_about_a_registration_go_to_the_attendee_or_contact_only() -> None:
    reg = Registration(email="anna@koeln.example", contact_email="office@koeln.example")
    assert reply_address(reg, "anna@koeln.example") == "anna@koeln.example"
    assert reply_address(reg, "Office@Koeln.example") == "Office@Koeln.example"
    assert reply_address(reg, "eve@evil.example") == "office@koeln.example"
    assert reply_address(reg, None) == "office@koeln.example"


def test_a_group_moves_up_together_and_keeps_its_turn(env: Env) -> None:
    config = dataclasses.replace(
        env.config, event=dataclasses.replace(env.config.event, capacity=2)
    )
    env = Env(env.db, config, Composer(config))
    carla = ("carla.beck@bonn.example", "Carla Beck")
    fritz = ("fritz.wolf@bonn.example", "Fritz Wolf")
    group = raw_mail(
        "dora.klein@kreis.example",
        "Dora Klein",
        "Anmeldung Symposium",
        "Guten Tag,\r\n\r\nhiermit melden wir uns an:\r\n\r\n"
        "Name: Dora Klein\r\nE-Mail: dora.klein@kreis.example\r\n\r\n"
        "Name: Emil Braun\r\nE-Mail: emil.braun@kreis.example\r\n\r\n"
        "Viele Grüße\r\nDora Klein",
    )
    env.handle(register_mail(*ANNA))
    env.handle(register_mail(*carla))
    assert len(env.handle(group).registered) == 2
    env.handle(register_mail(*fritz))
    waiting = ("dora.klein@kreis.example", "emil.braun@kreis.example", fritz[0])
    assert [env.status(a) for a in waiting] == ["waitlisted"] * 3

    # One place free: the group of two does not fit, and Fritz must not jump the queue.
    assert env.handle(cancel_mail(*ANNA)).promoted == []
    assert [env.status(a) for a in waiting] == ["waitlisted"] * 3

    # Two places free: the group moves up together; Fritz keeps waiting.
    assert len(env.handle(cancel_mail(*carla)).promoted) == 2
    assert [env.status(a) for a in waiting] == ["confirmed", "confirmed", "waitlisted"]


def test_split_groups_seats_as_many_as_fit(env: Env) -> None:
    event = dataclasses.replace(env.config.event, capacity=2, split_groups=True)
    config = dataclasses.replace(env.config, event=event)
    env = Env(env.db, config, Composer(config))
    env.handle(register_mail(*ANNA))
    group = raw_mail(
        "dora.klein@kreis.example",
        "Dora Klein",
        "Anmeldung Symposium",
        "Guten Tag,\r\n\r\nhiermit melden wir uns an:\r\n\r\n"
        "Name: Dora Klein\r\nE-Mail: dora.klein@kreis.example\r\n\r\n"
        "Name: Emil Braun\r\nE-Mail: emil.braun@kreis.example\r\n\r\n"
        "Viele Grüße\r\nDora Klein",
    )
    result = env.handle(group)
    assert env.status("dora.klein@kreis.example") == "confirmed"
    assert env.status("emil.braun@kreis.example") == "waitlisted"
    kinds = sorted((r.kind, r.recipient) for r in env.outbox() if r.inbound_id is not None)
    assert ("confirmation", "dora.klein@kreis.example") in kinds
    assert ("waitlist", "emil.braun@kreis.example") in kinds
    assert len(result.queued) == 2


OFFICE = "vorzimmer@kreis-mettmann.example"


def _office_mail(body: str, subject: str = "Anmeldung Symposium") -> bytes:
    return raw_mail(OFFICE, "Vorzimmer Landrat", subject, body)


def _regs(env: Env) -> list[tuple[str, str | None, str, str]]:
    with env.db.session() as s:
        rows = s.scalars(select(Registration).order_by(Registration.id))
        return [(r.email, r.name, r.person_key, r.status) for r in rows]


def test_one_address_registers_several_people_and_cancels_one(migrated_url: str) -> None:
    db = Database(migrated_url)
    config = make_config()
    env = Env(db, config, Composer(config))
    first = env.handle(
        _office_mail(
            "Guten Tag,\r\n\r\nwir melden an:\r\n- Herrn Landrat Thomas Hendele\r\n"
            "- Frau Karin Zapf\r\n\r\nMit freundlichen Grüßen\r\nIda Sell\r\nKreis Mettmann"
        )
    )
    assert first.status == "processed"
    assert len(first.registered) == 2
    assert _regs(env) == [
        (OFFICE, "Thomas Hendele", "thomas hendele", "confirmed"),
        (OFFICE, "Karin Zapf", "karin zapf", "confirmed"),
    ]
    # The same two again: nobody new.
    again = env.handle(
        _office_mail("Hiermit melden wir Herrn Thomas Hendele und Frau Karin Zapf an.\r\n")
    )
    assert again.registered == []
    assert again.note == "already registered"
    # The office cancels one of them by name; the other stays.
    cancel = env.handle(
        _office_mail(
            "Frau Karin Zapf muss ihre Teilnahme leider absagen.\r\n\r\nGruß\r\nIda Sell",
            subject="Absage",
        )
    )
    assert len(cancel.cancelled) == 1
    assert [(n, st) for _e, n, _k, st in _regs(env)] == [
        ("Thomas Hendele", "confirmed"),
        ("Karin Zapf", "cancelled"),
    ]
    db.dispose()


def test_the_address_owner_registering_twice_stays_one_registration(migrated_url: str) -> None:
    db = Database(migrated_url)
    config = make_config()
    env = Env(db, config, Composer(config))
    env.handle(register_mail("j.mueller@bonn.example", "Müller, Jürgen (Stadtkämmerei)"))
    again = env.handle(
        raw_mail(
            "j.mueller@bonn.example",
            "Jürgen Müller",
            "Anmeldung",
            "Hiermit melde ich mich an.\r\n\r\nGruß\r\nDr. Jürgen Müller",
        )
    )
    assert again.note == "already registered"
    assert [(e, k) for e, _n, k, _s in _regs(env)] == [("j.mueller@bonn.example", "")]
    db.dispose()


def test_a_substitute_takes_the_place_of_whom_they_replace(migrated_url: str) -> None:
    db = Database(migrated_url)
    base = make_config()
    config = dataclasses.replace(base, event=dataclasses.replace(base.event, capacity=1))
    env = Env(db, config, Composer(config))
    env.handle(register_mail("k.hahn@stadt-peine.example", "Klara Hahn"))
    env.handle(register_mail(*BERT))  # waiting
    swap = env.handle(
        raw_mail(
            "k.hahn@stadt-peine.example",
            "Klara Hahn",
            "Teilnehmerwechsel",
            "Guten Tag,\r\n\r\nleider kann ich doch nicht kommen. An meiner Stelle kommt mein "
            "Kollege Herr Sven Ott (s.ott@stadt-peine.example).\r\n\r\nGruß\r\nKlara Hahn",
        )
    )
    assert swap.status == "processed"
    assert len(swap.cancelled) == 1
    assert len(swap.registered) == 1
    assert swap.promoted == []  # the substitute took the place; the waiting list stays
    assert env.status("k.hahn@stadt-peine.example") == "cancelled"
    assert env.status("s.ott@stadt-peine.example") == "confirmed"
    assert env.status(BERT[0]) == "waitlisted"
    kinds = [(r.kind, r.recipient) for r in env.outbox()]
    assert ("cancellation", "k.hahn@stadt-peine.example") in kinds
    assert ("confirmation", "s.ott@stadt-peine.example") in kinds
    # A stranger cannot hand someone else's place on.
    stranger = env.handle(
        raw_mail(
            "eve@evil.example",
            "Eve",
            "Wechsel",
            "Herr Sven Ott kann nicht. Stattdessen komme ich, Eve Bad.\r\n\r\nEve Bad",
        )
    )
    assert stranger.cancelled == []
    assert env.status("s.ott@stadt-peine.example") == "confirmed"
    db.dispose()
