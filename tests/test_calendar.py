"""Calendar invitations: a text/calendar part parsed back with icalendar."""

from __future__ import annotations

import datetime as dt
import email.policy
import zoneinfo
from email.message import EmailMessage
from typing import Any

import icalendar
import pytest

from anmeldung.compose import MAIL_KINDS, Composer, Person, Reply, calendar_uid
from anmeldung.config import parse_config
from test_compose import EVENT, MUELLER, NOW, make_config, roundtrip

REGISTERED = dt.datetime(2027, 1, 5, 8, 30, tzinfo=dt.UTC)
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(make_config())


def compose(
    composer: Composer,
    kind: str,
    *,
    registration_id: int | None = 7,
    registered_at: dt.datetime | None = REGISTERED,
    people: tuple[Person, ...] = (MUELLER,),
) -> EmailMessage:
    return roundtrip(
        composer.compose(
            Reply(
                kind=kind,
                to=people[0].email,
                to_name=people[0].name,
                people=people,
                language="de",
                in_reply_to="CAF0x1@mail.koeln.example",
                registration_id=registration_id,
                registered_at=registered_at,
            ),
            now=NOW,
        )
    )


def calendar_parts(msg: EmailMessage) -> list[EmailMessage]:
    return [p for p in msg.walk() if p.get_content_type() == "text/calendar"]


def event_of(msg: EmailMessage) -> tuple[Any, Any]:
    (part,) = calendar_parts(msg)
    cal = icalendar.Calendar.from_ical(part.get_content())
    (event,) = cal.walk("VEVENT")
    return cal, event


@pytest.mark.parametrize("kind", ["confirmation", "promotion"])
def test_request_invitation(composer: Composer, kind: str) -> None:
    msg = compose(composer, kind)
    (part,) = calendar_parts(msg)
    assert part.get_param("method") == "REQUEST"
    cal, event = event_of(msg)
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "anmeldung-registration-7-20270105T083000Z@stadt.example"
    assert str(event["SUMMARY"]) == EVENT
    assert str(event["LOCATION"]) == "Altes Rathaus, Markt 2, 53111 Bonn"
    assert int(event["SEQUENCE"]) == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start == dt.datetime(2027, 3, 18, 9, 0, tzinfo=BERLIN)
    assert end == dt.datetime(2027, 3, 18, 17, 0, tzinfo=BERLIN)
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("DTSTAMP") == NOW
    (tz,) = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/Berlin"
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:anmeldung@stadt.example"
    assert organizer.params["CN"] == "Stadt Bonn – Anmeldung"
    attendee = event["ATTENDEE"]
    assert str(attendee) == f"mailto:{MUELLER.email}"
    assert attendee.params["CN"] == "Jürgen Müller"
    assert attendee.params["PARTSTAT"] == "ACCEPTED"
    # The .ics also travels as an attachment, identical to the alternative part.
    (attachment,) = [p for p in msg.walk() if p.get_content_type() == "application/ics"]
    assert attachment.get_filename() == "invite.ics"
    assert icalendar.Calendar.from_ical(attachment.get_content()) == cal
    text = msg.get_body(("plain",))
    assert text is not None
    assert "Kalendereintrag" in text.get_content()


def test_cancellation_withdraws_the_same_uid_with_a_higher_sequence(composer: Composer) -> None:
    _, request = event_of(compose(composer, "confirmation"))
    cancel_msg = compose(composer, "cancellation")
    (part,) = calendar_parts(cancel_msg)
    assert part.get_param("method") == "CANCEL"
    cal, cancel = event_of(cancel_msg)
    assert str(cal["METHOD"]) == "CANCEL"
    assert str(cancel["UID"]) == str(request["UID"])
    assert int(cancel["SEQUENCE"]) > int(request["SEQUENCE"])
    assert str(cancel["STATUS"]) == "CANCELLED"
    assert cancel.decoded("DTSTART") == request.decoded("DTSTART")
    filenames = [p.get_filename() for p in cancel_msg.walk() if p.get_filename()]
    assert filenames == ["cancel.ics"]


def test_uid_is_stable_per_registration(composer: Composer) -> None:
    first = event_of(compose(composer, "confirmation"))[1]["UID"]
    again = event_of(compose(composer, "promotion"))[1]["UID"]
    other = event_of(compose(composer, "confirmation", registration_id=8))[1]["UID"]
    later = event_of(
        compose(composer, "confirmation", registered_at=REGISTERED + dt.timedelta(days=3))
    )[1]["UID"]
    assert first == again
    assert len({first, other, later}) == 3
    assert calendar_uid(7, None, "stadt.example") == "anmeldung-registration-7@stadt.example"


@pytest.mark.parametrize("kind", [k for k in MAIL_KINDS if k not in ("confirmation", "promotion")])
def test_no_invitation_for_other_kinds(composer: Composer, kind: str) -> None:
    msg = compose(composer, kind)
    methods = [p.get_param("method") for p in calendar_parts(msg)]
    assert methods == (["CANCEL"] if kind == "cancellation" else [])


def test_no_invitation_without_a_registration(composer: Composer) -> None:
    msg = compose(composer, "confirmation", registration_id=None)
    assert calendar_parts(msg) == []
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    assert text is not None
    assert "Kalendereintrag" not in text.get_content()


def test_a_group_invites_every_attendee(composer: Composer) -> None:
    anna = Person(email="anna.schmidt@koeln.example", name="Anna Schmidt", salutation="Frau")
    _, event = event_of(compose(composer, "confirmation", people=(MUELLER, anna)))
    attendees = event["ATTENDEE"]
    assert sorted(str(a) for a in attendees) == [
        "mailto:anna.schmidt@koeln.example",
        f"mailto:{MUELLER.email}",
    ]


def test_times_follow_the_configured_time_zone() -> None:
    base = make_config()
    config = parse_config(
        {
            "event": {
                "name": EVENT,
                "starts": base.event.starts,
                "ends": base.event.ends,
                "venue": base.event.venue,
            },
            "mailbox": {
                "host": "imap.stadt.example",
                "port": 993,
                "username": "anmeldung@stadt.example",
                "password": "x",
            },
            "smtp": {"host": "smtp.stadt.example", "port": 587, "from": "anmeldung@stadt.example"},
            "schedule": {"timezone": "Europe/London"},
        }
    )
    cal, event = event_of(compose(Composer(config), "confirmation"))
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.decoded("DTSTART") == base.event.starts  # the same instant
    assert event.decoded("DTSTART").hour == 8
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]


def test_invitation_mail_is_7bit_clean(composer: Composer) -> None:
    reply = Reply(
        kind="confirmation",
        to=MUELLER.email,
        to_name=MUELLER.name,
        people=(MUELLER,),
        registration_id=7,
        registered_at=REGISTERED,
    )
    data = composer.compose(reply).as_bytes(policy=email.policy.SMTP)
    assert max(data) < 128
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
