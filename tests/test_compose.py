"""compose.py: templates -> a complete, safe reply (headers, text + HTML, threading)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shutil
import zoneinfo
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from anmeldung.compose import (
    MAX_REFERENCES,
    Composer,
    Person,
    Reply,
    format_date,
    format_time,
    greeting,
    message_id_of,
)
from anmeldung.config import Config, parse_config
from anmeldung.errors import TemplateError

REPO = Path(__file__).resolve().parents[1]
CET = dt.timezone(dt.timedelta(hours=1))
EVENT = "Symposium Kommunale Finanzen 2027"
NOW = dt.datetime(2027, 2, 1, 10, 0, tzinfo=dt.UTC)


def make_config(**smtp: Any) -> Config:
    return parse_config(
        {
            "event": {
                "name": EVENT,
                "starts": dt.datetime(2027, 3, 18, 9, 0, tzinfo=CET),
                "ends": dt.datetime(2027, 3, 18, 17, 0, tzinfo=CET),
                "venue": "Altes Rathaus, Markt 2, 53111 Bonn",
            },
            "mailbox": {
                "host": "imap.stadt.example",
                "port": 993,
                "username": "anmeldung@stadt.example",
                "password": "x",
            },
            "smtp": {
                "host": "smtp.stadt.example",
                "port": 587,
                "from": "Stadt Bonn – Anmeldung <anmeldung@stadt.example>",
                **smtp,
            },
        }
    )


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(make_config())


MUELLER = Person(
    email="juergen.mueller@koeln.example",
    name="Jürgen Müller",
    title="Dr.",
    salutation="Herr",
    organisation="Stadtkämmerei Köln",
)


def reply(
    *,
    kind: str = "confirmation",
    language: str = "de",
    people: Sequence[Person] = (MUELLER,),
    to_name: str | None = "Jürgen Müller",
    in_reply_to: str | None = "CAF0x1@mail.koeln.example",
    references: Sequence[str] = (),
) -> Reply:
    return Reply(
        kind=kind,
        to=people[0].email if people else "someone@example.org",
        to_name=to_name,
        people=people,
        language=language,
        in_reply_to=in_reply_to,
        references=references,
    )


def roundtrip(msg: EmailMessage) -> EmailMessage:
    """What the recipient's mail program sees: the serialized bytes, parsed again."""
    data = msg.as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def bodies(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


# -- the German confirmation --------------------------------------------------------------------


def test_german_confirmation_headers(composer: Composer) -> None:
    msg = roundtrip(composer.compose(reply(), now=NOW))
    assert msg["Subject"] == f"Anmeldebestätigung: {EVENT}"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["In-Reply-To"] == "<CAF0x1@mail.koeln.example>"
    assert msg["References"] == "<CAF0x1@mail.koeln.example>"
    assert msg["From"].addresses[0].addr_spec == "anmeldung@stadt.example"
    assert msg["From"].addresses[0].display_name == "Stadt Bonn – Anmeldung"
    assert msg["To"].addresses[0].addr_spec == "juergen.mueller@koeln.example"
    assert msg["To"].addresses[0].display_name == "Jürgen Müller"
    assert msg["Content-Language"] == "de"
    assert msg["Date"].datetime == NOW
    assert msg["Reply-To"] is None
    message_id = msg["Message-ID"]
    assert message_id.startswith("<")
    assert message_id.endswith("@stadt.example>")


def test_message_ids_are_unique_and_without_brackets(composer: Composer) -> None:
    first = composer.compose(reply())
    second = composer.compose(reply())
    assert message_id_of(first) != message_id_of(second)
    assert not message_id_of(first).startswith("<")
    assert message_id_of(first).endswith("@stadt.example")


def test_german_confirmation_is_multipart_alternative_utf8(composer: Composer) -> None:
    msg = roundtrip(composer.compose(reply()))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text, html = bodies(msg)
    for body in (text, html):
        assert "Sehr geehrter Herr Dr. Müller," in body
        assert "Donnerstag, 18. März 2027" in body
        assert "09:00 Uhr" in body
        assert "17:00 Uhr" in body
        assert "Altes Rathaus, Markt 2, 53111 Bonn" in body
        assert "Stadtkämmerei Köln" in body
        assert "Grüßen" in body
        assert "Ã" not in body
    assert "juergen.mueller@koeln.example" in text
    assert "<html" in html


def test_serialized_mail_is_7bit_clean(composer: Composer) -> None:
    # quoted-printable bodies and RFC 2047 headers: no server needs 8BITMIME or SMTPUTF8.
    data = composer.compose(reply()).as_bytes(policy=email.policy.SMTP)
    assert max(data) < 128
    assert b"\r\n" in data
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_english_confirmation(composer: Composer) -> None:
    msg = roundtrip(composer.compose(reply(language="en")))
    assert msg["Subject"] == f"Registration confirmed: {EVENT}"
    assert msg["Content-Language"] == "en"
    text, html = bodies(msg)
    for body in (text, html):
        assert "Dear Mr Dr. Müller," in body
        assert "Thursday, 18 March 2027" in body
        assert "Uhr" not in body
        assert "vielen Dank" not in body
        assert "Sehr geehrte" not in body


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("de", f"Warteliste: {EVENT}", "Warteliste"),
        ("en", f"Waiting list: {EVENT}", "waiting list"),
    ],
)
def test_waitlist(composer: Composer, language: str, subject: str, phrase: str) -> None:
    msg = roundtrip(composer.compose(reply(kind="waitlist", language=language)))
    assert msg["Subject"] == subject
    text, html = bodies(msg)
    assert phrase in text
    assert phrase in html
    assert "Anmeldebestätigung" not in text


def test_unknown_language_falls_back_to_the_event_language(composer: Composer) -> None:
    msg = composer.compose(reply(language="fr"))
    assert msg["Content-Language"] == "de"
    assert str(msg["Subject"]).startswith("Anmeldebestätigung")


def test_unknown_kind_is_a_template_error(composer: Composer) -> None:
    with pytest.raises(TemplateError, match="reminder"):
        composer.compose(reply(kind="reminder"))


def test_several_people_in_one_mail(composer: Composer) -> None:
    people = (
        MUELLER,
        Person(email="anna.schmidt@koeln.example", name="Anna Schmidt", salutation="Frau"),
    )
    text, html = bodies(roundtrip(composer.compose(reply(people=people))))
    assert text.startswith("Sehr geehrte Damen und Herren,")
    assert "die Teilnahme folgender Personen" in text
    for body in (text, html):
        assert "anna.schmidt@koeln.example" in body
        assert "juergen.mueller@koeln.example" in body


def test_reply_to_header_and_footer_address() -> None:
    composer = Composer(make_config(reply_to="Team <symposium@stadt.example>"))
    msg = roundtrip(composer.compose(reply()))
    assert msg["Reply-To"].addresses[0].addr_spec == "symposium@stadt.example"
    text, _ = bodies(msg)
    assert "Antworten an symposium@stadt.example" in text


def test_no_threading_headers_without_in_reply_to(composer: Composer) -> None:
    msg = composer.compose(reply(in_reply_to=None))
    assert msg["In-Reply-To"] is None
    assert msg["References"] is None


def test_references_keep_the_newest_and_are_capped(composer: Composer) -> None:
    refs = [f"ref{i}@x.example" for i in range(MAX_REFERENCES + 15)]
    msg = roundtrip(composer.compose(reply(references=refs)))
    ids = str(msg["References"]).split()
    assert len(ids) == MAX_REFERENCES
    assert ids[-1] == "<CAF0x1@mail.koeln.example>"
    assert ids[-2] == f"<ref{MAX_REFERENCES + 14}@x.example>"
    assert "<ref0@x.example>" not in ids
    assert all(i.startswith("<") and i.endswith(">") for i in ids)


# -- greeting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "lang", "expected"),
    [
        (
            Person("a@x", name="Anna Schmidt", title="Dr.", salutation="Frau"),
            "de",
            "Sehr geehrte Frau Dr. Schmidt,",
        ),
        (Person("a@x", name="Anna Schmidt", salutation="Frau"), "de", "Sehr geehrte Frau Schmidt,"),
        (
            Person("b@x", name="Hans Peter Weber", title="Prof. Dr.", salutation="Herr"),
            "de",
            "Sehr geehrter Herr Prof. Dr. Weber,",
        ),
        (Person("c@x", name="Kim Meyer"), "de", "Guten Tag Kim Meyer,"),
        (Person("c@x", name="Kim Meyer", title="Dr."), "de", "Guten Tag Dr. Kim Meyer,"),
        (Person("d@x"), "de", "Sehr geehrte Damen und Herren,"),
        (Person("d@x", salutation="Frau"), "de", "Sehr geehrte Damen und Herren,"),
        (None, "de", "Sehr geehrte Damen und Herren,"),
        (Person("a@x", name="Anna Schmidt", salutation="Frau"), "en", "Dear Ms Schmidt,"),
        (
            Person("b@x", name="Hans Weber", title="Dr.", salutation="Herr"),
            "en",
            "Dear Mr Dr. Weber,",
        ),
        (Person("c@x", name="Kim Meyer"), "en", "Dear Kim Meyer,"),
        (Person("d@x"), "en", "Dear Sir or Madam,"),
        (None, "en", "Dear Sir or Madam,"),
    ],
)
def test_greeting(person: Person | None, lang: str, expected: str) -> None:
    assert greeting(person, lang) == expected


def test_dates_are_shown_in_the_event_time_zone() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    late = dt.datetime(2027, 3, 18, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 19th in Bonn
    assert format_date(late, "de", berlin) == "Freitag, 19. März 2027"
    assert format_date(late, "en", berlin) == "Friday, 19 March 2027"
    assert format_time(late, "de", berlin) == "00:30 Uhr"
    summer = dt.datetime(2027, 7, 1, 7, 5, tzinfo=dt.UTC)
    assert format_time(summer, "en", berlin) == "09:05"


# -- hostile input ------------------------------------------------------------------------------


def test_html_escapes_attendee_data_text_keeps_it(composer: Composer) -> None:
    evil = Person(
        email="eve@example.org",
        name="Eve <script>alert(1)</script> Adams",
        organisation='ACME <img src=x onerror="alert(2)"> & Co',
    )
    text, html = bodies(roundtrip(composer.compose(reply(people=(evil,), to_name=evil.name))))
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    assert "&amp; Co" in html
    assert "Eve <script>alert(1)</script> Adams" in text
    assert 'ACME <img src=x onerror="alert(2)"> & Co' in text


@pytest.mark.parametrize(
    "to_name",
    [
        "Eve\r\nBcc: x@evil.example",
        "Eve\nBcc: x@evil.example",
        "Eve\rBcc: x@evil.example",
        "Eve\u2028Bcc: x@evil.example",
    ],
)
def test_display_name_cannot_inject_headers(composer: Composer, to_name: str) -> None:
    msg = composer.compose(reply(to_name=to_name))
    data = msg.as_bytes(policy=email.policy.SMTP)
    assert b"\nBcc:" not in data
    assert b"\nbcc:" not in data.lower()
    parsed = roundtrip(msg)
    assert parsed["Bcc"] is None
    assert len(parsed.get_all("To") or []) == 1
    (address,) = parsed["To"].addresses
    assert address.addr_spec == "juergen.mueller@koeln.example"
    assert "\n" not in address.display_name
    assert "\r" not in address.display_name


def test_in_reply_to_cannot_inject_headers(composer: Composer) -> None:
    msg = composer.compose(reply(in_reply_to="a@x\r\nBcc: x@evil.example"))
    data = msg.as_bytes(policy=email.policy.SMTP)
    assert b"\nBcc:" not in data
    assert roundtrip(msg)["Bcc"] is None


# -- templates ----------------------------------------------------------------------------------


def _template_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    return folder


@pytest.mark.parametrize(
    "name",
    # (text appended after the last endblock of a child template is never rendered by Jinja)
    ["de/confirmation.txt.j2", "en/waitlist.txt.j2", "de/waitlist.subject.j2", "base.html.j2"],
)
def test_undefined_variable_fails_at_construction(tmp_path: Path, name: str) -> None:
    folder = _template_copy(tmp_path)
    path = folder / name
    path.write_text(path.read_text(encoding="utf-8") + "{{ nope }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="nope"):
        Composer(make_config(), templates=folder)


def test_missing_template_fails_at_construction(tmp_path: Path) -> None:
    folder = _template_copy(tmp_path)
    (folder / "en" / "waitlist.txt.j2").unlink()
    with pytest.raises(TemplateError, match=r"en/waitlist\.txt\.j2"):
        Composer(make_config(), templates=folder)


def test_template_syntax_error_fails_at_construction(tmp_path: Path) -> None:
    folder = _template_copy(tmp_path)
    path = folder / "de" / "confirmation.html.j2"
    path.write_text(path.read_text(encoding="utf-8") + "{% if %}\n", encoding="utf-8")
    with pytest.raises(TemplateError):
        Composer(make_config(), templates=folder)


def test_a_template_copy_is_used(tmp_path: Path) -> None:
    folder = _template_copy(tmp_path)
    (folder / "de" / "confirmation.subject.j2").write_text(
        "Ihre Anmeldung: {{ event.name }}\n", encoding="utf-8"
    )
    msg = Composer(make_config(), templates=folder).compose(reply())
    assert msg["Subject"] == f"Ihre Anmeldung: {EVENT}"
