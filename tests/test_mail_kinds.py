"""Every mail kind renders in German and English, with the right wording and headers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from anmeldung.compose import LANGUAGES, MAIL_KINDS, Composer, Person
from anmeldung.errors import TemplateError
from test_compose import EVENT, MUELLER, REPO, bodies, make_config, reply, roundtrip

NEW_KINDS = ("promotion", "cancellation", "already_registered", "acknowledgement")

SUBJECTS = {
    ("promotion", "de"): f"Platz frei – Anmeldebestätigung: {EVENT}",
    ("promotion", "en"): f"A place is free – registration confirmed: {EVENT}",
    ("cancellation", "de"): f"Abmeldung bestätigt: {EVENT}",
    ("cancellation", "en"): f"Cancellation confirmed: {EVENT}",
    ("already_registered", "de"): f"Bereits angemeldet: {EVENT}",
    ("already_registered", "en"): f"Already registered: {EVENT}",
    ("acknowledgement", "de"): f"Ihre Nachricht ist eingegangen: {EVENT}",
    ("acknowledgement", "en"): f"We have received your message: {EVENT}",
}

PHRASES = {
    ("promotion", "de"): ["Es ist ein Platz frei geworden", "von der Warteliste nachgerückt"],
    ("promotion", "en"): ["a place has become free", "moved up from the waiting list"],
    ("cancellation", "de"): ["bestätigen wir die Abmeldung", "Schade, dass Sie nicht dabei"],
    ("cancellation", "en"): ["has been cancelled", "sorry you cannot join us"],
    ("already_registered", "de"): ["bereits angemeldet", "Teilnahme bestätigt"],
    ("already_registered", "en"): ["already registered", "place confirmed"],
    ("acknowledgement", "de"): [
        "nicht automatisch verarbeiten",
        "sieht sich Ihre Nachricht persönlich an",
    ],
    ("acknowledgement", "en"): ["could not process your registration", "in person"],
}


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(make_config())


def test_every_new_kind_is_registered() -> None:
    for kind in NEW_KINDS:
        assert kind in MAIL_KINDS
    for kind in MAIL_KINDS:
        for lang in LANGUAGES:
            for part in ("subject", "txt", "html"):
                assert (REPO / "templates" / lang / f"{kind}.{part}.j2").is_file()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", MAIL_KINDS)
def test_every_kind_renders_with_headers(composer: Composer, kind: str, lang: str) -> None:
    msg = roundtrip(composer.compose(reply(kind=kind, language=lang)))
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Content-Language"] == lang
    assert msg["In-Reply-To"] == "<CAF0x1@mail.koeln.example>"
    assert msg["To"].addresses[0].addr_spec == MUELLER.email
    text, html = bodies(msg)
    greeting = "Sehr geehrter Herr Dr. Müller," if lang == "de" else "Dear Mr Dr. Müller,"
    for body in (text, html):
        assert greeting in body
        assert EVENT in body
        assert "Altes Rathaus, Markt 2, 53111 Bonn" in body
        assert "Ã" not in body  # no mojibake
    assert f'<html lang="{lang}">' in html
    assert "Mit freundlichen Grüßen" in text if lang == "de" else "Kind regards" in text


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_new_kinds_wording(composer: Composer, kind: str, lang: str) -> None:
    msg = roundtrip(composer.compose(reply(kind=kind, language=lang)))
    assert msg["Subject"] == SUBJECTS[(kind, lang)]
    text, html = bodies(msg)
    for phrase in PHRASES[(kind, lang)]:
        assert phrase in text
        assert phrase in html
    if lang == "de":
        for body in (text, html):
            assert "Sie" in body  # formal address
            for informal in (" du ", " dich ", " dein"):
                assert informal not in body
            assert "Dear" not in body
    else:
        assert "Sehr geehrte" not in text
        assert "Uhr" not in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_already_registered_shows_each_status(composer: Composer, lang: str) -> None:
    waiting = Person(email="anna.schmidt@koeln.example", name="Anna Schmidt", status="waitlisted")
    msg = roundtrip(
        composer.compose(reply(kind="already_registered", language=lang, people=(MUELLER, waiting)))
    )
    text, html = bodies(msg)
    waiting_word = "auf der Warteliste" if lang == "de" else "on the waiting list"
    confirmed_word = "Teilnahme bestätigt" if lang == "de" else "place confirmed"
    for body in (text, html):
        assert waiting_word in body
        assert confirmed_word in body
        assert "anna.schmidt@koeln.example" in body


def test_cancellation_names_the_person(composer: Composer) -> None:
    text, html = bodies(roundtrip(composer.compose(reply(kind="cancellation"))))
    assert "Herr Dr. Jürgen Müller (Stadtkämmerei Köln)" in text
    assert "Stadtkämmerei Köln" in html


def test_acknowledgement_without_a_known_person(composer: Composer) -> None:
    stranger = Person(email="someone@example.org")
    text, _ = bodies(
        roundtrip(composer.compose(reply(kind="acknowledgement", people=(stranger,), to_name=None)))
    )
    assert text.startswith("Sehr geehrte Damen und Herren,")


@pytest.mark.parametrize(
    "name",
    [
        "de/promotion.txt.j2",
        "en/cancellation.txt.j2",
        "de/already_registered.subject.j2",
        "en/acknowledgement.txt.j2",
    ],
)
def test_undefined_variable_in_a_new_kind_fails_at_construction(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    path = folder / name
    path.write_text(path.read_text(encoding="utf-8") + "{{ nope }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="nope"):
        Composer(make_config(), templates=folder)


def test_undefined_variable_in_a_group_branch_fails_at_construction(tmp_path: Path) -> None:
    # Only the group branch (several people) uses the bad name: the check renders groups too.
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    path = folder / "de" / "promotion.txt.j2"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("Folgende Personen sind", "{{ nope_group }} Personen sind", 1),
        encoding="utf-8",
    )
    with pytest.raises(TemplateError, match="nope_group"):
        Composer(make_config(), templates=folder)


def test_missing_new_template_fails_at_construction(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    (folder / "en" / "already_registered.html.j2").unlink()
    with pytest.raises(TemplateError, match=r"en/already_registered\.html\.j2"):
        Composer(make_config(), templates=folder)
