"""Unit tests for the pure extraction functions, and the accuracy figures on tests/labelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from anmeldung.accuracy import format_report, measure
from anmeldung.extract import (
    REVIEW_BELOW,
    Mention,
    _dedupe,
    extract_attendees,
    key_values,
    mentions,
    organisation_of,
    own_text,
    read_signature,
    sender_address,
    split_signature,
)
from anmeldung.names import (
    PersonName,
    parse_display_name,
    parse_person,
    same_person,
    split_name,
)
from anmeldung.parse import parse_message

LABELLED = Path(__file__).parent / "labelled"


def mail(body: str, frm: str = "j.mueller@stadt-bonn.example", *, html: bool = False) -> bytes:
    ctype = "text/html" if html else "text/plain"
    head = (
        f"From: {frm}\r\nTo: anmeldung@symposium.example\r\nSubject: Anmeldung\r\n"
        f"Message-ID: <t@x.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: {ctype}; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    )
    return head.encode() + body.encode()


def attendees(body: str, frm: str = "j.mueller@stadt-bonn.example", **kw: bool) -> list[tuple]:
    found = extract_attendees(parse_message(mail(body, frm, **kw)))
    return [(a.email, a.name, a.title, a.organisation) for a in found]


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title", "name"),
    [
        ("Dr. Jürgen Müller", "Dr.", "Jürgen Müller"),
        ("Prof. Dr. Maria Winter", "Prof. Dr.", "Maria Winter"),
        ("Dr.-Ing. Ralf Kübler", "Dr.-Ing.", "Ralf Kübler"),
        (
            "Prof. Dr. rer. pol. Hans-Peter von der Heide",
            "Prof. Dr. rer. pol.",
            "Hans-Peter von der Heide",
        ),
        ("Dr. phil. Zoë Hoffmann", "Dr. phil.", "Zoë Hoffmann"),
        ("Dr. Dr. Kurt Seifert", "Dr. Dr.", "Kurt Seifert"),
        ("Herr Dr. med. Jan Roloff", "Dr. med.", "Jan Roloff"),
        ("Dipl.-Ing. (FH) Monika Schäfer", None, "Monika Schäfer"),
        ("Dipl.-Verwaltungswirtin (FH) Monika Schäfer", None, "Monika Schäfer"),
        ("Anna-Lena Schulte-Brinkmann, M.A.", None, "Anna-Lena Schulte-Brinkmann"),
        ("Dr.-Ing. Ralf Kübler, MBA", "Dr.-Ing.", "Ralf Kübler"),
        ("Lukas Brunner, LL.M.", None, "Lukas Brunner"),
        ("Maria Rossi, PhD", "PhD", "Maria Rossi"),
        ("Frau Ayşe Yıldız", None, "Ayşe Yıldız"),
        ("Małgorzata Wójcik", None, "Małgorzata Wójcik"),
        ("Sean O'Brien", None, "Sean O'Brien"),
        ("Dr Ana Sousa", "Dr", "Ana Sousa"),
    ],
)
def test_split_name(text: str, title: str | None, name: str) -> None:
    assert split_name(text) == (title, name)


def test_salutation_and_office_never_in_the_name() -> None:
    person = parse_person("Herrn Oberbürgermeister Dr. Christian Schuchardt")
    assert person is not None
    assert (person.salutation, person.function, person.title, person.name) == (
        "Herr", "Oberbürgermeister", "Dr.", "Christian Schuchardt"
    )  # fmt: skip
    assert parse_person("i. A. Frau Nicole Franke") == parse_person("Frau Nicole Franke")


@pytest.mark.parametrize(
    "text", ["Stadt Bonn", "Vorzimmer Oberbürgermeister", "Office of the Mayor", "k.schneider",
             "Mail Delivery System", "Z" * 300, "Eve Bcc: x@evil.example"],
)  # fmt: skip
def test_not_a_person(text: str) -> None:
    assert parse_person(text) is None


@pytest.mark.parametrize(
    ("display", "name", "title", "hint"),
    [
        ("Müller, Jürgen (Stadtkämmerei)", "Jürgen Müller", None, "Stadtkämmerei"),
        ("Weiß, Dr. Christiane", "Christiane Weiß", "Dr.", None),
        ("Stefan Ortmann | Stadt Münster", "Stefan Ortmann", None, "Stadt Münster"),
        ("Herr Klaus Dietrich", "Klaus Dietrich", None, None),
        ("O'Brien, Sean", "Sean O'Brien", None, None),
    ],
)
def test_display_names(display: str, name: str, title: str | None, hint: str | None) -> None:
    person, org_hint = parse_display_name(display)
    assert person is not None
    assert (person.name, person.title, org_hint) == (name, title, hint)


@pytest.mark.parametrize(
    "display", ["Sekretariat Landrat", "k.ahrens@x.example", "Amt 20 - Finanzen"]
)
def test_mailbox_display_names_are_nobody(display: str) -> None:
    assert parse_display_name(display)[0] is None


# --- key-value lines, signatures, organisations -----------------------------------------------


def test_key_values_text() -> None:
    records = key_values(
        "Vorname: Katrin\nNachname: Schneider\nTitel: Dr.\nBehörde: Gemeinde Lindlar\n"
        "Funktion: Beigeordnete\nName:\n"
    )
    assert records == [
        {"given": "Katrin", "family": "Schneider", "title": "Dr.",
         "organisation": "Gemeinde Lindlar", "function": "Beigeordnete"}
    ]  # fmt: skip


def test_key_values_two_people_and_shared_organisation() -> None:
    records = key_values(
        "Name: Ute Lehmann\nE-Mail: ute@x.example\n\nName: Prof. Dr. Dieter Schwarz\n"
        "Organisation jeweils: Landeshauptstadt Erfurt\n"
    )
    assert [r.get("name") for r in records] == ["Ute Lehmann", "Prof. Dr. Dieter Schwarz", None]
    assert records[2] == {"organisation": "Landeshauptstadt Erfurt"}


def test_key_values_in_outlook_html_table() -> None:
    html = (
        "<p>Anmeldung:</p><table><tr><td><p class=MsoNormal><b>Name</b></p></td>"
        "<td><p class=MsoNormal>Dr. Christiane Weiß</p></td></tr><tr><td><p>Organisation</p></td>"
        "<td><p>Landkreis Harz</p></td></tr></table>"
    )
    assert attendees(html, "c.weiss@harz.example", html=True) == [
        ("c.weiss@harz.example", "Christiane Weiß", "Dr.", "Landkreis Harz")
    ]


def test_signature_with_function_address_phone_and_disclaimer() -> None:
    main, lines = split_signature(
        "ich melde mich an.\n\nViele Grüße\nSabine Hartmann\n\n--\nSabine Hartmann\n"
        "Sachgebietsleiterin Haushaltsplanung\nStadt Leipzig\nStadtkämmerei\n"
        "Martin-Luther-Ring 4-6\n04109 Leipzig\nTel.: +49 341 123-4567\n\n"
        "Diese E-Mail enthält vertrauliche Informationen. Stadt Irgendwo\n"
    )
    assert main.strip() == "ich melde mich an."
    sig = read_signature(lines)
    assert sig.person is not None
    assert sig.person.name == "Sabine Hartmann"
    assert (sig.organisation, sig.function) == (
        "Stadt Leipzig",
        "Sachgebietsleiterin Haushaltsplanung",
    )


def test_signature_on_the_closing_line() -> None:
    main, lines = split_signature(
        "Hiermit melde ich mich verbindlich an. Mit freundlichen Grüßen, Dr. Jürgen Müller, "
        "Stadtkämmerei Bonn"
    )
    assert main.strip() == "Hiermit melde ich mich verbindlich an."
    sig = read_signature(lines)
    assert sig.person is not None
    assert (sig.person.title, sig.person.name) == (
        "Dr.",
        "Jürgen Müller",
    )
    assert sig.organisation == "Stadtkämmerei Bonn"


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Stadt Göttingen – Fachbereich Finanzen", "Stadt Göttingen"),
        ("Department of Economics, University of Bologna", "University of Bologna"),
        ("Stadt Frankfurt (Oder)", "Stadt Frankfurt (Oder)"),
        ("Kreis Lippe – Der Landrat", "Kreis Lippe"),
        ("Stadtkämmerei Bonn", "Stadtkämmerei Bonn"),
        ("Tel. 0228 77-1234", None),
    ],
)
def test_organisation_of(line: str, org: str | None) -> None:
    assert organisation_of(line)[0] == org


def test_no_organisation_from_the_domain() -> None:
    assert attendees(
        "Bitte melden Sie mich an.", "Friedrich Wagner <f.wagner@stadt-trier.example>"
    ) == [("f.wagner@stadt-trier.example", "Friedrich Wagner", None, None)]


# --- quotes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quote",
    [
        "Am 12.01.26 um 09:14 schrieb Anmeldung Finanzsymposium:\n> Name: Dr. Claudia Weber\n",
        "-----Ursprüngliche Nachricht-----\nVon: Anmeldung <a@x.example>\nGesendet: Montag\n"
        "An: Verteiler\nBetreff: Einladung\n\nName: Dr. Claudia Weber\nMit freundlichen Grüßen\n"
        "Dr. Claudia Weber\nStadt Musterstadt\n",
        "Von: Anmeldung <a@x.example>\nGesendet: Montag, 12. Januar 2026 09:14\nAn: Verteiler\n"
        "Betreff: Einladung\n\nDr. Claudia Weber, Stadt Musterstadt\n",
        "On Mon, 12 Jan 2026 at 09:14, Anmeldung <a@x.example>\nwrote:\n\nDr. Claudia Weber\n",
    ],
)
def test_nothing_from_the_quoted_part(quote: str) -> None:
    body = f"Ich melde mich an.\n\nGruß\nCarsten Lindner\n\n{quote}"
    assert "Weber" not in own_text(body)
    assert attendees(body, "lindner@jena.example") == [
        ("lindner@jena.example", "Carsten Lindner", None, None)
    ]


def test_mobile_footer_is_cut() -> None:
    assert (
        own_text("Ich komme.\n\nVon meinem iPhone gesendet\n\nAm 1.1. schrieb X:") == "Ich komme."
    )


# --- several people, secretaries, cancellations -------------------------------------------------


def test_numbered_list() -> None:
    body = (
        "hiermit melde ich folgende Personen an:\n\n1. Frau Dr. Maria Winter, Stadtkämmerin\n"
        "2. Herr Jan Peters (j.peters@kassel.example)\n\n"
        "Bitte senden Sie die Bestätigungen an mich.\n\n"
        "Mit freundlichen Grüßen\nOliver Brandt\nStadt Kassel, Kämmerei\n"
    )
    assert attendees(body, "o.brandt@kassel.example") == [
        ("o.brandt@kassel.example", "Maria Winter", "Dr.", "Stadt Kassel"),
        ("j.peters@kassel.example", "Jan Peters", None, "Stadt Kassel"),
    ]


def test_colleague_with_own_address_and_me() -> None:
    body = (
        "meine Kollegin Frau Dr. Heike Franke (heike.franke@halle.example) und ich möchten uns\n"
        "für das Symposium anmelden.\n\nViele Grüße\nMarkus Seidel\nStadt Halle (Saale)\n"
    )
    assert attendees(body, "Markus Seidel <m.seidel@halle.example>") == [
        ("heike.franke@halle.example", "Heike Franke", "Dr.", "Stadt Halle (Saale)"),
        ("m.seidel@halle.example", "Markus Seidel", None, "Stadt Halle (Saale)"),
    ]


def test_secretary_registers_the_oberbuergermeister() -> None:
    body = (
        "hiermit möchte ich Herrn Oberbürgermeister Ingo Meyer zum Finanzsymposium anmelden.\n"
        "Herr Meyer wird gegen 10 Uhr eintreffen.\n\nMit freundlichen Grüßen\nPetra Lorenz\n"
        "Büro des Oberbürgermeisters\nStadt Hildesheim\n"
    )
    found = extract_attendees(
        parse_message(mail(body, "Petra Lorenz <p.lorenz@hildesheim.example>"))
    )
    assert [(a.email, a.name, a.function, a.organisation) for a in found] == [
        ("p.lorenz@hildesheim.example", "Ingo Meyer", "Oberbürgermeister", "Stadt Hildesheim")
    ]


def test_cancellation_for_a_colleague_keeps_the_sender_out() -> None:
    body = (
        "Frau Dr. Heike Franke muss ihre Teilnahme leider absagen; ich komme wie angemeldet.\n\n"
        "Viele Grüße\nMarkus Seidel\n"
    )
    assert [m.person.name for m in mentions(body.split("\n\n")[0], cancelling=True)] == [
        "Heike Franke"
    ]
    assert attendees(body, "Markus Seidel <m.seidel@halle.example>") == [
        ("m.seidel@halle.example", "Heike Franke", "Dr.", None)
    ]


# --- safety ---------------------------------------------------------------------------------


def test_injection_in_a_display_name() -> None:
    raw = (
        b'From: "Eve\r\nBcc: x@evil.example" <eve@example.org>\r\nSubject: Anmeldung\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHiermit melde ich mich an.\r\n"
    )
    msg = parse_message(raw)
    found = extract_attendees(msg)
    for a in found:
        for value in (a.email, a.name, a.title, a.organisation, a.function, a.salutation):
            assert value is None or ("\r" not in value and "\n" not in value)
        assert "evil" not in a.email
        assert "Bcc" not in (a.name or "")


def test_rfc2047_encoded_crlf_in_a_name() -> None:
    raw = (
        b"From: =?utf-8?Q?Eve=0D=0ABcc=3A_x=40evil=2Eexample?= <eve@example.org>\r\n"
        b"Subject: Anmeldung\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Hiermit melde ich mich an.\r\n"
    )
    msg = parse_message(raw)
    assert sender_address(msg) == "eve@example.org"  # not the address hidden in the name
    (a,) = extract_attendees(msg)
    assert a.email == "eve@example.org"
    assert a.name is None
    assert a.confidence < REVIEW_BELOW


def test_markup_and_length_are_cleaned() -> None:
    html = "<table><tr><td>Name:</td><td>Trudy <b>Test</b><script>x()</script></td></tr></table>"
    assert attendees(html, "trudy@example.com", html=True)[0][1] == "Trudy Test"
    (a,) = extract_attendees(
        parse_message(mail("Ich melde mich an.", f'"{"Z" * 300}" <z@x.example>'))
    )
    assert a.name is None
    assert a.confidence < REVIEW_BELOW


def test_no_name_goes_to_review() -> None:
    (a,) = extract_attendees(parse_message(mail("Wir melden uns an.", "kaemmerei@hude.example")))
    assert (a.email, a.name, a.organisation) == ("kaemmerei@hude.example", None, None)
    assert a.needs_review


# --- the labelled corpus ------------------------------------------------------------------


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return measure(LABELLED)


def test_corpus_is_big_enough(report) -> None:  # type: ignore[no-untyped-def]
    assert report.messages >= 80


def test_extraction_figures(report) -> None:  # type: ignore[no-untyped-def]
    assert report.injected == 0, format_report(report)
    assert report.alone_ratio("email") >= 0.98, format_report(report)
    assert report.alone_ratio("name") >= 0.95, format_report(report)
    assert report.alone_ratio("organisation") >= 0.90, format_report(report)


def test_pipeline_figures(report) -> None:  # type: ignore[no-untyped-def]
    """The whole pipeline (classify, then extract) on the labelled corpus."""
    assert report.ratio("kind") >= 0.97, format_report(report)
    assert report.ratio("email") >= 0.98, format_report(report)
    assert report.ratio("name") >= 0.95, format_report(report)
    assert report.ratio("organisation") >= 0.90, format_report(report)


# --- the held-out corpora: each written blind, its first run recorded in its README, then tuned
# on and kept here as a regression set (a new blind set replaces it as the honest measure) -----

HELDOUT_SETS = (
    "heldout",
    "heldout2",
    "heldout3",
    "heldout4",
    "heldout5",
    "heldout6",
    "heldout7",
    "heldout8",
    "heldout9",
    "heldout10",
    "heldout11",
    "heldout12",
    "heldout13",
    "heldout14",
    "heldout15",
    "heldout16",
    "heldout17",
    "heldout19",
    "heldout20",
    "heldout21",
    "heldout22",
    "heldout23",
    "heldout24",
    "heldout25",
    "heldout26",
    "heldout27",
    "heldout28",
    "heldout29",
    "heldout30",
    "heldout31",
    "heldout32",
    "heldout33",
    "heldout34",
    "heldout36",
)


@pytest.fixture(scope="module", params=HELDOUT_SETS)
def heldout(request):  # type: ignore[no-untyped-def]
    return measure(Path(__file__).parent / request.param)


def test_heldout_never_injects(heldout) -> None:  # type: ignore[no-untyped-def]
    assert heldout.messages >= 30
    assert heldout.injected == 0, format_report(heldout)


def test_heldout_figures(heldout) -> None:  # type: ignore[no-untyped-def]
    """The issue's targets on every held-out set."""
    assert heldout.ratio("kind") >= 0.97, format_report(heldout)
    assert heldout.ratio("email") >= 0.98, format_report(heldout)
    assert heldout.ratio("name") >= 0.95, format_report(heldout)
    assert heldout.ratio("organisation") >= 0.90, format_report(heldout)


# --- cases the held-out corpora taught (general rules, tested on new wording) -------------------


def test_colleague_named_in_prose_and_me() -> None:
    found = attendees(
        "Guten Tag,\n\nwir kommen zu zweit: meine Kollegin Ayşe Demir (a.demir@stadt-bonn.example)"
        " und ich.\n\nViele Grüße\nJürgen Müller\nStadt Bonn"
    )
    assert [(e, n) for e, n, _t, _o in found] == [
        ("a.demir@stadt-bonn.example", "Ayşe Demir"),
        ("j.mueller@stadt-bonn.example", "Jürgen Müller"),
    ]


def test_english_elliptic_second_seat() -> None:
    found = attendees(
        "Hi,\n\nCould you book two seats for the symposium? One for me and one for my colleague"
        " Dr Ann Lee (ann.lee@leeds.example).\n\nThanks,\nTom Hart\nLeeds City Council",
        frm="tom.hart@leeds.example",
    )
    assert {(e, n, t) for e, n, t, _o in found} == {
        ("tom.hart@leeds.example", "Tom Hart", None),
        ("ann.lee@leeds.example", "Ann Lee", "Dr"),
    }
    assert all(o == "Leeds City Council" for *_x, o in found)


def test_the_bosses_address_given_in_prose() -> None:
    found = attendees(
        "Guten Morgen,\n\nHerr Landrat Dr. Peter Vogel nimmt am Symposium teil. Die Bestätigung"
        " senden Sie bitte direkt an ihn:\npeter.vogel@kreis-lippe.example\n\nMit freundlichen"
        " Grüßen\ni. A. Sandra Held\nKreis Lippe",
        frm="Vorzimmer Landrat <vorzimmer@kreis-lippe.example>",
    )
    assert found == [("peter.vogel@kreis-lippe.example", "Peter Vogel", "Dr.", "Kreis Lippe")]


def test_office_we_cancelling_for_the_boss_is_not_the_writer() -> None:
    raw = mail(
        "Sehr geehrte Damen und Herren,\n\nHerr Oberbürgermeister Dr. Jens Kallmann kann den"
        " Termin leider nicht wahrnehmen. Wir bitten, seine Anmeldung zu stornieren.\n\nMit"
        " freundlichen Grüßen\ni. A. Ute Maurer\nStadt Trier",
        frm="Büro OB <ob-buero@trier.example>",
    )
    found = extract_attendees(parse_message(raw), "cancellation")
    assert [(a.name, a.title, a.email) for a in found] == [
        ("Jens Kallmann", "Dr.", "ob-buero@trier.example")
    ]


def test_office_adjectives_are_not_names() -> None:
    person = parse_person("Herrn Ersten Beigeordneten Dr. Wolfgang Brück")
    assert person is not None
    assert (person.name, person.title, person.salutation) == ("Wolfgang Brück", "Dr.", "Herr")
    assert person.function == "Ersten Beigeordneten"


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Ratsfrau, Rat der Stadt Celle", "Rat der Stadt Celle"),
        ("Aarhus Kommune, Borgmesterens Afdeling", "Aarhus Kommune"),
        ("Malmö stad, City Office", "Malmö stad"),
        ("Landkreis Harburg – Finanzmanagement", "Landkreis Harburg"),
        ("Stadt Emden · Fachdienst Finanzen", "Stadt Emden"),
        ("Landratsamt Görlitz – Kämmerei", "Landratsamt Görlitz"),
        ("Financial Controller | Gemeente Enschede", "Gemeente Enschede"),
        ("Freie und Hansestadt Hamburg, Finanzbehörde", "Freie und Hansestadt Hamburg"),
    ],
)
def test_organisation_without_department(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_header_row_table_is_read_by_columns() -> None:
    html = (
        "<p>Wir melden uns an:</p><table><tr><th>Name</th><th>Funktion</th><th>E-Mail</th></tr>"
        "<tr><td>Jana Roth</td><td>Controlling</td><td>j.roth@wue.example</td></tr>"
        "<tr><td>Dr. Uwe Kern</td><td>Kämmerer</td><td>u.kern@wue.example</td></tr></table>"
    )
    found = attendees(html, frm="j.roth@wue.example", html=True)
    assert [(e, n, t) for e, n, t, _o in found] == [
        ("j.roth@wue.example", "Jana Roth", None),
        ("u.kern@wue.example", "Uwe Kern", "Dr."),
    ]


@pytest.mark.parametrize(
    "form",
    [
        "Name: Brandauer\nVorname: Lisa-Marie\nDienststelle: Landkreis Cochem-Zell\n",
        "Vorname: Lisa-Marie\nName: Brandauer\nDienststelle: Landkreis Cochem-Zell\n",
    ],
)
def test_name_with_vorname_is_the_family_name(form: str) -> None:
    body = f"Guten Tag,\n\nanbei die Anmeldung:\n\n{form}\nGruß\nTom Kaiser\n"
    assert attendees(body, frm="kaiser@cochem-zell.example") == [
        ("kaiser@cochem-zell.example", "Lisa-Marie Brandauer", None, "Landkreis Cochem-Zell")
    ]


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Mitglied im Rat der Stadt Hürth", "Rat der Stadt Hürth"),
        ("Magistrat Linz – Finanzdirektion", "Magistrat Linz"),
    ],
)
def test_council_membership_and_magistrat(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_colleagues_registered_but_not_the_writer() -> None:
    body = (
        "Hallo,\n\nzum Symposium melde ich Frau Inga Pohl (i.pohl@kreis-neuss.example) und "
        "Herrn Malte Esser an. Ich selbst kann leider nicht teilnehmen.\n\nGrüße\nRita Vogt\n"
        "Rhein-Kreis Neuss\n"
    )
    found = attendees(body, frm="r.vogt@kreis-neuss.example")
    assert [(e, n) for e, n, _t, _o in found] == [
        ("i.pohl@kreis-neuss.example", "Inga Pohl"),
        ("r.vogt@kreis-neuss.example", "Malte Esser"),
    ]


def test_unbulleted_list_after_an_intro_line_keeps_the_mail_order() -> None:
    body = (
        "Guten Tag,\n\nvom Zweckverband Ostholstein kommen:\n"
        "Frau Wiebke Sander, Verbandsvorsteherin\n"
        "Herr Jonas Kurt (j.kurt@zv-oh.example), Controlling\n"
        "Frau Derya Aksoy\n\nViele Grüße\nWiebke Sander\n"
    )
    found = attendees(body, frm="sander@zv-oh.example")
    assert [(e, n) for e, n, _t, _o in found] == [
        ("sander@zv-oh.example", "Wiebke Sander"),
        ("j.kurt@zv-oh.example", "Jonas Kurt"),
        ("sander@zv-oh.example", "Derya Aksoy"),
    ]


def test_ressort_is_a_department() -> None:
    assert organisation_of("Stadt Solingen, Ressort Finanzen")[0] == "Stadt Solingen"


def test_signature_below_a_casual_yes_spans_its_blocks() -> None:
    body = (
        "Komme gern!\n\nTobias Brenner\nBereichsleiter Finanzen\n\nStadtwerke Lohmar GmbH\n"
        "Hauptstraße 3 · 53797 Lohmar\n\nStadtwerke Lohmar GmbH · Sitz Lohmar · Amtsgericht "
        "Siegburg HRB 1\nGeschäftsführung: Dipl.-Kfm. Udo Penz\n"
    )
    assert attendees(body, frm="t.brenner@sw-lohmar.example") == [
        ("t.brenner@sw-lohmar.example", "Tobias Brenner", None, "Stadtwerke Lohmar GmbH")
    ]


def test_form_name_written_family_first_with_title_line() -> None:
    body = (
        "Hiermit melde ich mich an:\n\nName: Kleinschmidt-Öztürk, Mira\nTitel: Dr.\n"
        "Institution: Landesanstalt für Finanzen Sachsen\nAbteilung: Prüfung\n"
    )
    assert attendees(body, frm="m.kleinschmidt@laf.example") == [
        ("m.kleinschmidt@laf.example", "Mira Kleinschmidt-Öztürk", "Dr.",
         "Landesanstalt für Finanzen Sachsen")
    ]  # fmt: skip


def test_display_name_family_first_without_comma_follows_the_signature() -> None:
    raw = mail(
        "I will attend the symposium.\n\nBest regards\nJana Nováková\nCity of Brno\n",
        frm="=?utf-8?q?Nov=C3=A1kov=C3=A1_Jana?= <novakova@brno.example>",
    )
    found = extract_attendees(parse_message(raw))
    assert [a.name for a in found] == ["Jana Nováková"]


def test_office_registering_others_is_not_among_them() -> None:
    body = (
        "Sehr geehrte Damen und Herren,\n\nfür das Symposium melden wir aus dem Büro des "
        "Landrats an:\n\n1. Herrn Landrat Olaf Quast\n2. Frau Pia Lenz (p.lenz@kreis-ol.example)\n"
        "\nMit freundlichen Grüßen\nim Auftrag\nJonas Beck\nKreis Oldenburg\n"
    )
    found = attendees(body, frm="buero.landrat@kreis-ol.example")
    assert [(e, n) for e, n, _t, _o in found] == [
        ("buero.landrat@kreis-ol.example", "Olaf Quast"),
        ("p.lenz@kreis-ol.example", "Pia Lenz"),
    ]


def test_writer_who_says_she_stays_home_is_not_registered() -> None:
    body = (
        "Hallo,\n\nich melde für die Fraktion zwei Mitglieder an:\n\n"
        "- Uwe Sandmann – u.sandmann@web.example\n- Dr. Gül Aydın – g.aydin@web.example\n\n"
        "Ich persönlich organisiere nur und fahre nicht mit.\n\nGruß\nEva Rams\n"
    )
    found = attendees(body, frm="fraktion@kreistag.example")
    assert [n for _e, n, _t, _o in found] == ["Uwe Sandmann", "Gül Aydın"]


def test_colleague_who_stays_registered_is_not_cancelled() -> None:
    raw = mail(
        "Guten Tag,\n\nich muss meine Teilnahme leider absagen. Frau Lea Kühn aus meinem Team "
        "bleibt aber angemeldet.\n\nGrüße\nDr. Horst Wendel\nStadt Velbert\n",
        frm="h.wendel@velbert.example",
    )
    found = extract_attendees(parse_message(raw), kind="cancellation")
    assert [(a.name, a.title) for a in found] == [("Horst Wendel", "Dr.")]


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Université de Lille – Faculté de droit", "Université de Lille"),
        ("Gemeente Venlo, Treasury and Risk Management", "Gemeente Venlo"),
        ("Kreistag des Rhein-Sieg-Kreises", "Kreistag des Rhein-Sieg-Kreises"),
    ],
)
def test_more_organisations(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_university_named_below_its_institute() -> None:
    lines = ["Prof. Dr. Ole Brandt", "Institut für Public Management", "Hochschule Harz"]
    assert read_signature(lines).organisation == "Hochschule Harz"


def test_text_table_with_empty_cells() -> None:
    body = (
        "Wir melden an:\n\nAnrede | Titel | Vorname | Nachname | E-Mail\n"
        "Frau |  | Lina | Maas | l.maas@kreis-kleve.example\n"
        "Herr | Dr. | Ömer | Kaya | o.kaya@kreis-kleve.example\n\nGruß\nUte Sell\nKreis Kleve\n"
    )
    found = attendees(body, frm="u.sell@kreis-kleve.example")
    assert found == [
        ("l.maas@kreis-kleve.example", "Lina Maas", None, "Kreis Kleve"),
        ("o.kaya@kreis-kleve.example", "Ömer Kaya", "Dr.", "Kreis Kleve"),
    ]


def test_substitute_registers_only_the_newcomer() -> None:
    body = (
        "Guten Tag,\n\nHerr Lutz Hanke kann am 9. Juni leider nicht teilnehmen. Stattdessen "
        "kommt Frau Ida Wenz (i.wenz@stadt-peine.example).\n\nGrüße\nBernd Kolb\nStadt Peine\n"
    )
    raw = mail(body, frm="b.kolb@stadt-peine.example")
    found = extract_attendees(parse_message(raw), kind="registration")
    assert [(a.email, a.name) for a in found] == [("i.wenz@stadt-peine.example", "Ida Wenz")]


def test_cancelling_my_place_and_a_colleagues() -> None:
    raw = mail(
        "ich muss meine Anmeldung leider stornieren, ebenso die von Herrn Pavel Novak "
        "(p.novak@sw-unna.example).\n\nGruß\nRita Blom\nStadtwerke Unna GmbH\n",
        frm="r.blom@sw-unna.example",
    )
    found = extract_attendees(parse_message(raw), kind="cancellation")
    assert [a.name for a in found] == ["Rita Blom", "Pavel Novak"]


def test_a_request_to_stop_sending_is_not_me_attending() -> None:
    body = (
        "bitte streichen Sie Frau Dr. Vera Lind von der Liste, sie ist erkrankt. Einen Ersatz "
        "schicken wir nicht.\n\nGrüße\nTim Roth\nKreis Coesfeld\n"
    )
    raw = mail(body, frm="t.roth@kreis-coesfeld.example")
    found = extract_attendees(parse_message(raw), kind="cancellation")
    assert [a.name for a in found] == ["Vera Lind"]


@pytest.mark.parametrize(
    ("lines", "org"),
    [
        (["Kämmerer der Stadt", "Bad Oeynhausen"], None),
        (["Kämmerin der Stadt", "Lippetal"], "Stadt Lippetal"),
        (["Ratsherr", "Fraktion Freie Wähler im Rat der Stadt Werl"], "Rat der Stadt Werl"),
    ],
)
def test_body_named_inside_a_function_line(lines: list[str], org: str | None) -> None:
    sig = read_signature(["Ole Kamp", *lines])
    if org is not None:
        assert sig.organisation == org


def test_person_key_tells_the_owner_from_people_under_their_address() -> None:
    from anmeldung.extract import Attendee
    from anmeldung.registrations import person_key

    boss = Attendee(email="office@stadt.example", name="Uwe Richrath")
    assert person_key(boss, "office@stadt.example", "Vorzimmer OB") == "uwe richrath"
    me = Attendee(email="j.mueller@stadt.example", name="Jürgen Müller")
    assert person_key(me, "j.mueller@stadt.example", "") == ""
    assert person_key(me, "j.mueller@stadt.example", "Müller, Jürgen (Kämmerei)") == ""
    own = Attendee(email="a.roth@stadt.example", name="Anke Roth")
    assert person_key(own, "office@stadt.example", "Büro") == ""


def test_headerless_html_table_one_person_per_row() -> None:
    html = (
        "<p>Wir melden uns an:</p><table><tr><td>Dr. Ines Brück</td><td>Kämmerin</td>"
        "<td>i.brueck@celle.example</td></tr><tr><td>Lars Ohm</td><td>Controlling</td>"
        "<td>l.ohm@celle.example</td></tr></table><p>Gruß<br>Ines Brück<br>Stadt Celle</p>"
    )
    found = attendees(html, frm="i.brueck@celle.example", html=True)
    assert found == [
        ("i.brueck@celle.example", "Ines Brück", "Dr.", "Stadt Celle"),
        ("l.ohm@celle.example", "Lars Ohm", None, "Stadt Celle"),
    ]


def test_tab_table_with_an_empty_first_cell_and_an_unknown_column() -> None:
    body = (
        "Es nehmen teil:\n\nTitel\tNachname\tVorname\tRaum\tE-Mail\n"
        "\tSousa\tRita\t2.14\tr.sousa@mi.example\nDr.\tKeller\tJan\t3.01\tj.keller@mi.example\n"
        "\nGrüße\nJan Keller\nNiedersächsisches Innenministerium\n"
    )
    found = attendees(body, frm="j.keller@mi.example")
    assert [(e, n, t, o) for e, n, t, o in found] == [
        ("r.sousa@mi.example", "Rita Sousa", None, "Niedersächsisches Innenministerium"),
        ("j.keller@mi.example", "Jan Keller", "Dr.", "Niedersächsisches Innenministerium"),
    ]


def test_office_announcing_the_mayor_and_a_companion_with_a_degree() -> None:
    body = (
        "der Bürgermeister, Herr Dr. h. c. Olaf Wendt, nimmt die Einladung gern an. Begleitet "
        "wird er von Frau Dipl.-Ing. Mia Roth. Frau Roth erreichen Sie unter m.roth@buxte.example."
        "\n\nIm Auftrag\nEva Pohl\nHansestadt Buxtehude\n"
    )
    found = attendees(body, frm="buergermeister@buxte.example")
    assert [(e, n, t) for e, n, t, _o in found] == [
        ("buergermeister@buxte.example", "Olaf Wendt", "Dr. h. c."),
        ("m.roth@buxte.example", "Mia Roth", None),
    ]


def test_names_compare_across_scripts_and_letters() -> None:
    raw = mail(
        "Count me in.\n\nBest\nDr. Nikos Georgiou\nCity of Patras\n",
        frm="=?utf-8?b?zp3Or866zr/PgiDOk861z4nPgc6vzr/PhQ==?= <n.georgiou@patras.example>",
    )
    assert [a.name for a in extract_attendees(parse_message(raw))] == ["Nikos Georgiou"]
    assert same_person("Ingrid Sæther", "Ingrid Saether")


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Holding Graz – Kommunale Dienstleistungen GmbH", None),
        ("Region Hannover", "Region Hannover"),
        ("Local Government Audit Service", "Local Government Audit Service"),
    ],
)
def test_bodies_named_in_other_words(line: str, org: str | None) -> None:
    assert organisation_of(line)[0] == (org or line)


def test_em_dash_bullets_and_slash_separated_table() -> None:
    dash = (
        "Wir kommen zu zweit:\n\n— Lea Brandt, Kämmerin, l.brandt@hemer.example\n"
        "— Tim Kuhl, Trainee\n\nGruß\nLea Brandt\nStadt Hemer\n"
    )
    assert [(e, n) for e, n, _t, _o in attendees(dash, frm="l.brandt@hemer.example")] == [
        ("l.brandt@hemer.example", "Lea Brandt"),
        ("l.brandt@hemer.example", "Tim Kuhl"),
    ]
    slash = (
        "Es nehmen teil:\n\nName / Funktion / E-Mail\nUte Ries / Prüferin / u.ries@gpa.example\n"
        "Dr. Jan Alt / Referent / j.alt@gpa.example\n\nGrüße\nUte Ries\nGemeindeprüfungsanstalt\n"
    )
    assert [(e, n, t) for e, n, t, _o in attendees(slash, frm="u.ries@gpa.example")] == [
        ("u.ries@gpa.example", "Ute Ries", None),
        ("j.alt@gpa.example", "Jan Alt", "Dr."),
    ]


def test_writer_kept_away_sends_a_colleague_reachable_by_pronoun() -> None:
    body = (
        "Ich selbst bin leider verhindert, aber unser Kämmerer, Herr Paul Wirtz, wird uns "
        "vertreten. Bitte melden Sie ihn an; er ist unter p.wirtz@balve.example erreichbar.\n\n"
        "Gruß\nAnke Voss\nBürgermeisterin\nStadt Balve\n"
    )
    found = attendees(body, frm="buergermeisterin@balve.example")
    assert [(e, n) for e, n, _t, _o in found] == [("p.wirtz@balve.example", "Paul Wirtz")]


def test_colleague_who_does_not_come_along_is_not_registered() -> None:
    body = (
        "ich würde gern teilnehmen. Frau Dr. Sommer aus meinem Team kommt nicht mit.\n\n"
        "Grüße\nKai Lenz\nKreis Olpe\n"
    )
    raw = mail(body, "k.lenz@kreis-olpe.example")
    found = extract_attendees(parse_message(raw), kind="registration")
    assert [a.name for a in found] == ["Kai Lenz"]


def test_myself_and_a_colleague_after_a_colon() -> None:
    body = (
        "für die Stadt Plettenberg melden sich an: ich selbst und mein Kollege Ali Ünal.\n\n"
        "Gruß\nEva Hahn\n"
    )
    found = attendees(body, frm="e.hahn@plettenberg.example")
    assert [n for _e, n, _t, _o in found] == ["Eva Hahn", "Ali Ünal"]


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Fachhochschule Dortmund, Fachbereich Wirtschaft", "Fachhochschule Dortmund"),
        ("Skarbnik Gminy / Urząd Gminy Ełk", "Urząd Gminy Ełk"),
        ("Communauté de communes du Pays de Gex", "Communauté de communes du Pays de Gex"),
        (
            "Bayerisches Staatsministerium der Finanzen",
            "Bayerisches Staatsministerium der Finanzen",
        ),
    ],
)
def test_foreign_and_compound_bodies(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_names_with_addresses_on_the_next_line_after_an_intro() -> None:
    body = (
        "aus dem Institut melden sich an:\n\nDr. Jonas Wulf\nj.wulf@uni-ol.example\n\n"
        "Mara Sell, M.Sc.\nm.sell@uni-ol.example\n\nViele Grüße\nJonas Wulf\n"
    )
    found = attendees(body, frm="j.wulf@uni-ol.example")
    assert [(e, n, t) for e, n, t, _o in found] == [
        ("j.wulf@uni-ol.example", "Jonas Wulf", "Dr."),
        ("m.sell@uni-ol.example", "Mara Sell", None),
    ]


def test_semicolon_table_and_stays_registered_as_planned() -> None:
    body = (
        "anbei unsere Anmeldungen:\n\nNachname;Vorname;E-Mail\nHorvat;Ivana;i.horvat@zv.example\n"
        "Novák;Petr;p.novak@zv.example\n\nDanke und Gruß\nIvana Horvat\nZweckverband Isar\n"
    )
    found = attendees(body, frm="i.horvat@zv.example")
    assert [(e, n, o) for e, n, _t, o in found] == [
        ("i.horvat@zv.example", "Ivana Horvat", "Zweckverband Isar"),
        ("p.novak@zv.example", "Petr Novák", "Zweckverband Isar"),
    ]
    raw = mail(
        "Frau Eva Rau kann leider doch nicht teilnehmen, bitte streichen Sie sie. Herr Tom "
        "Stadtländer und ich kommen wie angemeldet.\n\nGruß\nOle Harms\n",
        frm="o.harms@hs.example",
    )
    found2 = extract_attendees(parse_message(raw), kind="cancellation")
    assert [a.name for a in found2] == ["Eva Rau"]


def test_replaced_person_and_office_only_mentions_are_not_registered() -> None:
    body = (
        "statt Herrn Kai Ott, der für uns angemeldet war, wird Frau Lena Rieck "
        "(l.rieck@ub.example) teilnehmen.\n\nGruß\ni. A. Petra Kuhn\nUmweltbetrieb Bremen\n"
    )
    found = attendees(body, frm="p.kuhn@ub.example")
    assert [(e, n, o) for e, n, _t, o in found] == [
        ("l.rieck@ub.example", "Lena Rieck", "Umweltbetrieb Bremen")
    ]
    assert parse_person("Frau Staatsrätin", min_tokens=1) is None
    assert parse_person("Kaufmännischer Geschäftsführer") is None
    assert parse_person("Leopold Freiherr von und zu Thannhausen") is not None


@pytest.mark.parametrize(
    ("line", "org"),
    [
        (
            "Der Senator für Umwelt, Klima und Wissenschaft",
            "Der Senator für Umwelt, Klima und Wissenschaft",
        ),
        ("Mitglied der Bremischen Bürgerschaft", "Bremische Bürgerschaft"),
        ("Stadträtin, Stadtrat Fürth", "Stadtrat Fürth"),
        ("Hochschule Emden – University of Applied Sciences", "Hochschule Emden"),
        ("Fjernvarme Aarhus A/S", "Fjernvarme Aarhus A/S"),
        ("Bayerischer Städtetag", "Bayerischer Städtetag"),
        ("Markt Oberstdorf", "Markt Oberstdorf"),
    ],
)
def test_bodies_of_bremen_bavaria_and_abroad(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_mailbox_display_name_names_the_body() -> None:
    raw = mail(
        "Herr Landrat Erwin Kolb wird am Kämmerertag teilnehmen.\n\nMit freundlichen Grüßen\n"
        "i. A. Tina Ried\nBüro des Landrats\n",
        frm="Landratsamt Cham - Poststelle <poststelle@lra-cham.example>",
    )
    found = extract_attendees(parse_message(raw), kind="registration")
    assert [(a.name, a.organisation) for a in found] == [("Erwin Kolb", "Landratsamt Cham")]


def test_family_first_list_items_and_prose_addresses() -> None:
    body = (
        "wir melden an:\n\n1. Brandt, Ole – Kämmerer\n2. Sauer, Dr. Ina – Controlling\n\n"
        "E-Mail: ole.brandt@kreis-a.example bzw. ina.sauer@kreis-a.example\n\nGruß\nTim Ruf\n"
        "Landkreis Anhalt\n"
    )
    found = attendees(body, frm="t.ruf@kreis-a.example")
    assert [(e, n, t) for e, n, t, _o in found] == [
        ("ole.brandt@kreis-a.example", "Ole Brandt", None),
        ("ina.sauer@kreis-a.example", "Ina Sauer", "Dr."),
    ]


def test_ranks_degrees_and_an_address_after_a_postnominal() -> None:
    body = (
        "aus dem Ministerium werden Herr MinR Dr. Jan Vogt (j.vogt@fm.example) und Frau Ute "
        "Lenz, LL.M. (u.lenz@fm.example) teilnehmen.\n\nIm Auftrag\nUte Lenz\n"
        "Sächsisches Staatsministerium der Finanzen\n"
    )
    found = attendees(body, frm="u.lenz@fm.example")
    assert [(e, n, t) for e, n, t, _o in found] == [
        ("j.vogt@fm.example", "Jan Vogt", "Dr."),
        ("u.lenz@fm.example", "Ute Lenz", None),
    ]
    assert parse_person("Mgr. Petr Kos") is not None
    assert parse_person("Mgr. Petr Kos").title is None  # type: ignore[union-attr]


def test_signature_lines_that_are_bodies_or_the_sender_abbreviated() -> None:
    sig = read_signature(["Referat Finanzen", "Landkreistag Sachsen", "Markt 1, 01067 Dresden"])
    assert (sig.person, sig.organisation) == (None, "Landkreistag Sachsen")
    hint = parse_person("Stefan Ickstadt")
    sig2 = read_signature(["St. Ickstadt", "Kreiskämmerer, Rhein-Erft-Kreis"], hint)
    assert sig2.organisation == "Rhein-Erft-Kreis"


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Mitglied im Stadtrat Chemnitz (Fraktion Y)", "Stadtrat Chemnitz"),
        (
            "Ministerium für Heimat, Kommunales, Bau und Digitalisierung des Landes NRW",
            "Ministerium für Heimat, Kommunales, Bau und Digitalisierung des Landes NRW",
        ),
        ("Statutární město Liberec", "Statutární město Liberec"),
        ("TU Chemnitz, Professur für Finanzwissenschaft", "TU Chemnitz"),
        ("Landesdirektion Sachsen", "Landesdirektion Sachsen"),
    ],
)
def test_saxon_and_czech_bodies(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_who_had_registered_is_not_who_cancels() -> None:
    raw = mail(
        "wir hatten uns zu zweit angemeldet, Frau Ida Kern und ich. Frau Kern bleibt angemeldet;"
        " ich selbst muss leider absagen.\n\nGruß\nOtto Wiese\nStadt Zwickau\n",
        frm="o.wiese@zwickau.example",
    )
    found = extract_attendees(parse_message(raw), kind="cancellation")
    assert [a.name for a in found] == ["Otto Wiese"]


def test_list_items_with_function_in_parentheses_and_angle_addresses() -> None:
    body = (
        "für die Hansestadt Stade nehmen teil:\n\n"
        "- Dipl.-Kfm. Uwe Rahn (Stadtkämmerer) <u.rahn@stade.example>\n"
        "- Dr. Lea Voss (Controlling) <l.voss@stade.example>\n\nGruß\nLea Voss\nHansestadt Stade\n"
    )
    found = attendees(body, frm="l.voss@stade.example")
    assert [(e, n, t) for e, n, t, _o in found] == [
        ("u.rahn@stade.example", "Uwe Rahn", None),
        ("l.voss@stade.example", "Lea Voss", "Dr."),
    ]


def test_family_first_numbered_items_with_a_title() -> None:
    body = (
        "ich melde folgende Teilnehmende an:\n\n1. Kern, Ina (Kämmerin)\n2. Dr. Lutz, Bernd "
        "(Beigeordneter)\n\nBestätigungen bitte an mich.\n\nGruß\nIna Kern\nLandkreis Rostock\n"
    )
    found = attendees(body, frm="i.kern@lk-rostock.example")
    assert [(n, t) for _e, n, t, _o in found] == [("Ina Kern", None), ("Bernd Lutz", "Dr.")]


def test_person_lines_over_address_lines_after_prose() -> None:
    body = (
        "ich melde mich und meinen Kollegen an.\n\nDr. Eva Rau, Kreiskämmerin\n"
        "e.rau@kreis-pl.example\n\nJan op de Beek, Sachgebietsleiter\nj.opdebeek@kreis-pl.example\n"
        "\nGruß\nEva Rau\nKreis Plön\n"
    )
    found = attendees(body, frm="e.rau@kreis-pl.example")
    assert [(e, n) for e, n, _t, _o in found] == [
        ("e.rau@kreis-pl.example", "Eva Rau"),
        ("j.opdebeek@kreis-pl.example", "Jan op de Beek"),
    ]


def test_doctorate_with_faculty_does_not_end_the_sentence() -> None:
    body = "gern melde ich mich und Herrn Dr. jur. Ole Saß an.\n\nGruß\nTina Berg\nL-Bank\n"
    found = attendees(body, frm="t.berg@l-bank.example")
    assert [(n, t, o) for _e, n, t, o in found] == [
        ("Tina Berg", None, "L-Bank"),
        ("Ole Saß", "Dr. jur.", "L-Bank"),
    ]


# --- the newest blind sets: measured blind (README), not tuned on, kept from regressing --------

NEWEST = {
    # Blind, never tuned on: floors at their last blind run (README); raise them once tuned on.
    "heldout18": {
        "kind": 0.975,
        "count": 0.925,
        "email": 0.921,
        "name": 0.921,
        "organisation": 0.862,
    },
    "heldout37": {
        "kind": 1.0,
        "count": 1.0,
        "email": 1.0,
        "name": 1.0,
        "organisation": 0.92,
    },
    "heldout38": {
        "kind": 1.0,
        "count": 1.0,
        "email": 1.0,
        "name": 0.959,
        "organisation": 0.897,
    },
    "heldout39": {
        "kind": 1.0,
        "count": 1.0,
        "email": 1.0,
        "name": 0.979,
        "organisation": 0.979,
    },
    # Tuned on, still below the issue's email target (README "Tuned on since").
    "heldout35": {
        "kind": 0.975,
        "count": 0.975,
        "email": 0.961,
        "name": 0.961,
        "organisation": 0.961,
    },
}


@pytest.mark.parametrize("folder", sorted(NEWEST))
def test_newest_heldout_sets_do_not_regress(folder: str) -> None:
    report = measure(Path(__file__).parent / folder)
    assert report.injected == 0
    for fieldname, floor in NEWEST[folder].items():
        assert report.ratio(fieldname) >= floor, format_report(report)


def test_whom_a_substitute_replaces() -> None:
    from anmeldung.extract import replaced_attendees

    raw = mail(
        "Guten Tag,\n\nHerr Lutz Hanke kann am 9. Juni leider nicht teilnehmen. Stattdessen "
        "kommt Frau Ida Wenz (i.wenz@stadt-peine.example).\n\nGrüße\nBernd Kolb\nStadt Peine\n",
        frm="Bernd Kolb <b.kolb@stadt-peine.example>",
    )
    msg = parse_message(raw)
    new = extract_attendees(msg, kind="registration")
    assert [(a.email, a.name) for a in replaced_attendees(msg, new)] == [
        ("b.kolb@stadt-peine.example", "Lutz Hanke")
    ]
    mine = mail(
        "leider kann ich doch nicht kommen. An meiner Stelle kommt Herr Sven Ott "
        "(s.ott@stadt-peine.example).\n\nGruß\nBernd Kolb\n",
        frm="Bernd Kolb <b.kolb@stadt-peine.example>",
    )
    msg2 = parse_message(mine)
    new2 = extract_attendees(msg2, kind="registration")
    assert [a.name for a in new2] == ["Sven Ott"]
    assert [(a.email, a.name) for a in replaced_attendees(msg2, new2)] == [
        ("b.kolb@stadt-peine.example", "Bernd Kolb")
    ]


# --- organisations and several people (tuned on heldout13 with general rules) ---------------


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Thüringer Klimaschutzagentur", "Thüringer Klimaschutzagentur"),
        ("Verbraucherzentrale Thüringen e. V.", "Verbraucherzentrale Thüringen e. V."),
        ("Wasserwerke Gera GmbH", "Wasserwerke Gera GmbH"),
        (
            "Wohnungsbaugenossenschaft Aufbau Plauen eG",
            "Wohnungsbaugenossenschaft Aufbau Plauen eG",
        ),
        ("Solargenossenschaft Saaletal eG", "Solargenossenschaft Saaletal eG"),
        ("Ingenieurkammer Sachsen", "Ingenieurkammer Sachsen"),
        ("Thüringer Landesverwaltungsamt", "Thüringer Landesverwaltungsamt"),
        (
            "Mitteldeutsche Landesenergieagentur – MILEA GmbH",
            "Mitteldeutsche Landesenergieagentur – MILEA GmbH",
        ),
        ("Sachgebietsleiterin Stadt Annaberg-Buchholz", "Stadt Annaberg-Buchholz"),
        ("Klimaschutzmanager Landkreis Greiz", "Landkreis Greiz"),
        ("Raum 0.14, EG", None),
    ],
)
def test_more_kinds_of_bodies(line: str, org: str | None) -> None:
    assert organisation_of(line)[0] == org


def test_table_header_and_bilingual_closing_give_the_signature() -> None:
    body = (
        "Guten Tag,\n\naus der Gemeindeverwaltung kommen:\n\nName\tFunktion\tE-Mail\n"
        "Jana Pohl\tBauamt\tj.pohl@gem-au.example\nOle Witt\tKämmerei\to.witt@gem-au.example\n\n"
        "Srdečné pozdravy / Mit freundlichen Grüßen\n\nJana Pohl\nGemeinde Auental\n"
    )
    found = attendees(body, frm="Jana Pohl <j.pohl@gem-au.example>")
    assert found == [
        ("j.pohl@gem-au.example", "Jana Pohl", None, "Gemeinde Auental"),
        ("o.witt@gem-au.example", "Ole Witt", None, "Gemeinde Auental"),
    ]


def test_colleague_with_an_adjective_and_the_writer_first() -> None:
    body = (
        "Sehr geehrter Herr Dr. Lenk,\n\nich komme gern zum Fachtag und bringe meinen "
        "studentischen Mitarbeiter Jonas Kretzschmar mit.\n\nViele Grüße\nProf. Dr. Ina Voigt\n"
        "Hochschule Mittweida\n"
    )
    found = attendees(body, frm="Ina Voigt <ina.voigt@hs-mittweida.example>")
    assert [(n, o) for _e, n, _t, o in found] == [
        ("Ina Voigt", "Hochschule Mittweida"),
        ("Jonas Kretzschmar", "Hochschule Mittweida"),
    ]


def test_address_with_the_umlaut_dropped_belongs_to_the_person() -> None:
    body = (
        "Guten Tag,\n\nich nehme teil und bringe meine Kollegin Frau Jördis Hübler mit\n"
        "(Mail: joerdis.hubler@kreis-sz.example).\n\nGruß\nKarl Ebert\nLandkreis Saale-Zwergen\n"
    )
    found = attendees(body, frm="Karl Ebert <k.ebert@kreis-sz.example>")
    assert [(e, n) for e, n, _t, _o in found] == [
        ("k.ebert@kreis-sz.example", "Karl Ebert"),
        ("joerdis.hubler@kreis-sz.example", "Jördis Hübler"),
    ]


def test_people_listed_after_a_colon_in_prose() -> None:
    body = (
        "Hallo,\n\nwir sind am Fachtag zu viert dabei: ich selbst, Rieke Fröhlich, Dr. Ansgar "
        "Lohse sowie Milan Hrubý (milan.hruby@zv-elster.example) aus der Geschäftsstelle.\n\n"
        "Gruß\nBirgit Naumann\nZweckverband Elsteraue\n"
    )
    found = attendees(body, frm="Birgit Naumann <b.naumann@zv-elster.example>")
    assert found == [
        ("b.naumann@zv-elster.example", "Birgit Naumann", None, "Zweckverband Elsteraue"),
        ("b.naumann@zv-elster.example", "Rieke Fröhlich", None, "Zweckverband Elsteraue"),
        ("b.naumann@zv-elster.example", "Ansgar Lohse", "Dr.", "Zweckverband Elsteraue"),
        ("milan.hruby@zv-elster.example", "Milan Hrubý", None, "Zweckverband Elsteraue"),
    ]


def test_topics_after_a_colon_are_no_people() -> None:
    body = (
        "Guten Tag,\n\nich melde mich für die Nachmittagsrunden an: Fernwärme Ausbau und "
        "Quartiersspeicher Nord.\n\nBeste Grüße\nTill Gerber\nStadtwerke Aue\n"
    )
    found = attendees(body, frm="Till Gerber <t.gerber@sw-aue.example>")
    assert [n for _e, n, _t, _o in found] == ["Till Gerber"]


@pytest.mark.parametrize(
    ("sentence", "org"),
    [
        (
            "wir vom Abwasserzweckverband Untere Zschopau melden uns an.",
            "Abwasserzweckverband Untere Zschopau",
        ),
        ("hiermit melde ich mich von der Bürgersolar Muldental eG an.", "Bürgersolar Muldental eG"),
        (
            "für das Fraunhofer-Institut für Solare Energiesysteme melde ich mich an.",
            "Fraunhofer-Institut für Solare Energiesysteme",
        ),
        ("ich komme aus der Stadt Lauter/Sa. und melde mich an.", "Stadt Lauter/Sa."),
        ("danke für die Einladung, ich melde mich an.", None),
    ],
)
def test_body_named_in_prose(sentence: str, org: str | None) -> None:
    found = attendees(f"Hallo,\n\n{sentence}\n\nGruß\nEdda Kühn\n", frm="e.kuehn@mail.example")
    assert [(n, o) for _e, n, _t, o in found] == [("Edda Kühn", org)]


@pytest.mark.parametrize(
    ("line", "org"),
    [
        (
            "Kreisrätin, Kreistag des Landkreises Greiz (Fraktion Freie Wähler)",
            "Kreistag des Landkreises Greiz",
        ),
        ("Gemeinderat der Gemeinde Lichtenau (CDU)", "Gemeinderat der Gemeinde Lichtenau"),
        ("Stadt Brandis (Landkreis Leipzig)", "Stadt Brandis (Landkreis Leipzig)"),
        (
            "Thüringer Ministerium für Umwelt, Energie und Naturschutz",
            "Thüringer Ministerium für Umwelt, Energie und Naturschutz",
        ),
        (
            "Landesamt für Denkmalpflege, Archäologie und Geodäsie",
            "Landesamt für Denkmalpflege, Archäologie und Geodäsie",
        ),
        ("Amt für Stadtgrün, Stadt Riesa", "Stadt Riesa"),
        ("Sächsische Aufbaubank – Förderbank", "Sächsische Aufbaubank"),
    ],
)
def test_council_party_notes_and_bodies_with_a_remit(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_unit_after_vom_office_in_the_accusative_and_cancelling_for_others() -> None:
    body = (
        "Guten Tag,\n\nwir melden Herrn Landespräsidenten Dr. Gernot Haase sowie Frau Malin Ost\n"
        "vom Haushaltsreferat an.\n\nGruß\nUta Born\nLandesamt Ostmark\n"
    )
    found = attendees(body, frm="Uta Born <u.born@lao.example>")
    assert [(n, t) for _e, n, t, _o in found] == [("Gernot Haase", "Dr."), ("Malin Ost", None)]
    cancel = (
        "Guten Tag,\n\nleider müssen wir die Anmeldung von Herrn Kai Stoll zurückziehen, er ist "
        "krank.\n\nGruß\nUta Born\nLandesamt Ostmark\n"
    )
    found = extract_attendees(
        parse_message(mail(cancel, "Uta Born <u.born@lao.example>")), kind="cancellation"
    )
    assert [a.name for a in found] == ["Kai Stoll"]


def test_colleague_named_by_role_with_a_degree_before_the_address() -> None:
    body = (
        "Hallo,\n\nfür die Kommunalplan GmbH melde ich mich sowie unsere Junior Beraterin "
        "Svea Lindqvist, M.Sc. (svea.lindqvist@kommunalplan.example) an.\n\nGruß\nOle Brandt\n"
        "Kommunalplan GmbH\n"
    )
    found = attendees(body, frm="Ole Brandt <o.brandt@kommunalplan.example>")
    assert [(e, n) for e, n, _t, _o in found] == [
        ("o.brandt@kommunalplan.example", "Ole Brandt"),
        ("svea.lindqvist@kommunalplan.example", "Svea Lindqvist"),
    ]


def test_state_above_the_authority_and_name_with_unit_in_a_form() -> None:
    sig = read_signature(["Jens Adler", "Freistaat Thüringen", "Thüringer Landesverwaltungsamt"])
    assert sig.organisation == "Thüringer Landesverwaltungsamt"
    body = (
        "Guten Tag,\n\nName: Dr. Mira Sokol, Stabsstelle Digitales\nE-Mail: m.sokol@zv.example\n"
        "Organisation: ZVWS – Zweckverband Wasser Saaletal\n"
    )
    found = attendees(body, frm="Anmeldungen <post@zv.example>")
    assert found == [
        ("m.sokol@zv.example", "Mira Sokol", "Dr.", "ZVWS – Zweckverband Wasser Saaletal")
    ]


def test_a_colleague_who_stays_is_not_cancelled() -> None:
    body = (
        "Guten Tag,\n\nFrau Dr. Imke Vahl und ich sind für den 3. März angemeldet. Ich kann "
        "leider nicht kommen. Frau Dr. Vahl nimmt trotzdem teil.\n\nGruß\nPia Senf\n"
        "Gemeinde Kleinbach\n"
    )
    found = extract_attendees(
        parse_message(mail(body, "Pia Senf <p.senf@kleinbach.example>")), kind="cancellation"
    )
    assert [a.name for a in found] == ["Pia Senf"]


def test_the_replaced_colleague_named_after_statt_unserer() -> None:
    body = (
        "Hallo,\n\nanstelle meines Stellvertreters Herrn Bodo Krumm wird Frau Nadja Linke "
        "(n.linke@amt-elbtal.example) am Forum teilnehmen.\n\nGruß\nRita Sommer\nAmt Elbtal\n"
    )
    found = attendees(body, frm="Rita Sommer <r.sommer@amt-elbtal.example>")
    assert [(e, n) for e, n, _t, _o in found] == [("n.linke@amt-elbtal.example", "Nadja Linke")]


@pytest.mark.parametrize(
    ("sentence", "names"),
    [
        (
            "Neben mir nehmen Herr Falk Riedel sowie Frau Ines Wolter teil.",
            ["Hanna Licht", "Falk Riedel", "Ines Wolter"],
        ),
        ("Wir kommen zu zweit, nämlich Bernd Ahrens und ich.", ["Bernd Ahrens", "Hanna Licht"]),
    ],
)
def test_the_writer_besides_others(sentence: str, names: list[str]) -> None:
    found = attendees(f"Hallo,\n\n{sentence}\n\nGruß\nHanna Licht\n", frm="h.licht@mail.example")
    assert [n for _e, n, _t, _o in found] == names


@pytest.mark.parametrize(
    ("line", "org"),
    [
        ("Mitglied des Kreistages Nordsachsen (Die Linke)", "Kreistag Nordsachsen"),
        ("Mitglied des Stadtrates der Stadt Aue-Bad Schlema", "Stadtrat der Stadt Aue-Bad Schlema"),
        ("IHK Ostthüringen zu Gera", "IHK Ostthüringen zu Gera"),
        ("Metropolregion Mitteldeutschland", "Metropolregion Mitteldeutschland"),
    ],
)
def test_council_in_the_genitive_and_chambers(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_family_name_first_blocks_and_a_title_in_the_name_column() -> None:
    body = (
        "Hallo,\n\nwir melden an:\n\nName: Ohlsen\nVorname: Greta\n"
        "E-Mail: g.ohlsen@amt-nord.example\n\n"
        "Name: Taube\nVorname: Ralf\nE-Mail: r.taube@amt-nord.example\n\nGruß\nGreta Ohlsen\n"
    )
    found = attendees(body, frm="Greta Ohlsen <g.ohlsen@amt-nord.example>")
    assert [n for _e, n, _t, _o in found] == ["Greta Ohlsen", "Ralf Taube"]
    table = (
        "Hallo,\n\nes kommen:\n\nName\tVorname\tE-Mail\n"
        "Prof. Dr. Kühne\tAnselm\ta.kuehne@hs.example\n"
        "Brandt\tLeni\tl.brandt@hs.example\n\nGruß\nLeni Brandt\n"
    )
    found = attendees(table, frm="Leni Brandt <l.brandt@hs.example>")
    assert [(n, t) for _e, n, t, _o in found] == [
        ("Anselm Kühne", "Prof. Dr."),
        ("Leni Brandt", None),
    ]


def test_own_address_written_while_sending_from_a_shared_mailbox() -> None:
    body = (
        "Guten Tag,\n\nFrau Elke Brandes möchte gern teilnehmen (elke.brandes@vg-heide.example)."
        "\n\nGruß\nElke Brandes\nVerwaltungsgemeinschaft Heideland\n"
    )
    found = attendees(body, frm="VG Heideland <poststelle@vg-heide.example>")
    assert [(e, n) for e, n, _t, _o in found] == [("elke.brandes@vg-heide.example", "Elke Brandes")]


def test_mail_label_in_a_key_value_block() -> None:
    assert key_values("Teilnehmer: Ivo Rahn\nMail: ivo.rahn@kreis.example") == [
        {"name": "Ivo Rahn", "email": "ivo.rahn@kreis.example"}
    ]


def test_writer_named_first_in_a_colon_list() -> None:
    body = "Hallo,\n\nwir melden uns zu zweit an: ich und Wenke Saal.\n\nGruß\nBodo Fries\n"
    found = attendees(body, frm="Bodo Fries <b.fries@mail.example>")
    assert [n for _e, n, _t, _o in found] == ["Bodo Fries", "Wenke Saal"]


def test_body_named_after_each_person_and_not_the_host() -> None:
    body = (
        "Hallo,\n\nich melde Herrn Till Marx von den Kreiswerken Delitzsch und Frau Dr. Vera "
        "Ost vom Zweckverband Parthenaue an.\n\nGruß\nIda Renz\nLandratsamt Nordsachsen\n"
    )
    found = attendees(body, frm="Ida Renz <i.renz@lra-nordsachsen.example>")
    assert [(n, o) for _e, n, _t, o in found] == [
        ("Till Marx", "Kreiswerke Delitzsch"),
        ("Vera Ost", "Zweckverband Parthenaue"),
    ]
    guest = (
        "Hallo,\n\ndanke für die Einladung der Stadt Gera, ich melde mich an.\n\nGruß\nIda Renz\n"
    )
    assert attendees(guest, frm="i.renz@mail.example") == [
        ("i.renz@mail.example", "Ida Renz", None, None)
    ]


@pytest.mark.parametrize(
    ("sentence", "names"),
    [
        ("Bitte melden Sie die Damen Alma Reich und Rosa Wendt an.", ["Alma Reich", "Rosa Wendt"]),
        (
            "Es nehmen unsere Referenten Timo Gast, Nils Faber sowie Enno Lutz teil.",
            ["Timo Gast", "Nils Faber", "Enno Lutz"],
        ),
        (
            "Wir melden Frau Alma Reich (a.reich@x.example) und Rosa Wendt an.",
            ["Alma Reich", "Rosa Wendt"],
        ),
        ("Wir melden Frau Alma Reich, Reich Consult GmbH, an.", ["Alma Reich"]),
    ],
)
def test_further_names_in_the_same_list(sentence: str, names: list[str]) -> None:
    found = mentions(sentence)
    assert [m.person.name for m in found] == names


def test_several_names_on_one_form_line_share_the_next_lines() -> None:
    body = (
        "Guten Tag,\n\nTeilnehmende: Lotte Brenner und Dr. Aaron Fisch\n"
        "Organisation: Abwasserzweckverband Pleißetal\n\nGruß\nLotte Brenner\n"
    )
    found = attendees(body, frm="Lotte Brenner <l.brenner@azv.example>")
    assert found == [
        ("l.brenner@azv.example", "Lotte Brenner", None, "Abwasserzweckverband Pleißetal"),
        ("l.brenner@azv.example", "Aaron Fisch", "Dr.", "Abwasserzweckverband Pleißetal"),
    ]
    assert key_values("Name: Ida Roth, Stadt Gera") == [{"name": "Ida Roth, Stadt Gera"}]


def test_body_in_parentheses_or_commas_after_a_named_person() -> None:
    body = (
        "Hallo,\n\nwir melden Frau Gesa Thal (Kommunale Wohnungsgesellschaft Aue mbH) und Herrn "
        "Piet Kranz, Verwaltungsgemeinschaft Elstertal, an.\n\nGruß\nOda Fink\nStadt Aue\n"
    )
    found = attendees(body, frm="Oda Fink <o.fink@aue.example>")
    assert [(n, o) for _e, n, _t, o in found] == [
        ("Gesa Thal", "Kommunale Wohnungsgesellschaft Aue mbH"),
        ("Piet Kranz", "Verwaltungsgemeinschaft Elstertal"),
    ]


def test_we_registering_a_list_of_others_and_the_writer_as_an_item() -> None:
    others = (
        "Hallo,\n\nwir möchten folgende Mitarbeiterinnen anmelden:\n- Jule Harms\n- Greta Voss\n"
        "\nGruß\nMaren Kuhl\nGemeinde Lindholz\n"
    )
    found = attendees(others, frm="Maren Kuhl <m.kuhl@lindholz.example>")
    assert [n for _e, n, _t, _o in found] == ["Jule Harms", "Greta Voss"]
    with_me = others.replace("- Greta Voss\n", "- Greta Voss\n- und ich selbst\n")
    found = attendees(with_me, frm="Maren Kuhl <m.kuhl@lindholz.example>")
    assert [n for _e, n, _t, _o in found] == ["Jule Harms", "Greta Voss", "Maren Kuhl"]


def test_dialect_self_mention_counts_the_writer_in() -> None:
    body = (
        "Grüß Gott,\n\nmia kemma zu zweit: i selber und unsere Kämmerin Frau Rosa Hiller.\n\n"
        "Viele Grüße\nAnton Brandl\nBürgermeister\nGemeinde Tittling\n"
    )
    got = attendees(body, frm="Anton Brandl <rathaus@tittling.example>")
    assert [(a[0], a[1], a[3]) for a in got] == [
        ("rathaus@tittling.example", "Anton Brandl", "Gemeinde Tittling"),
        ("rathaus@tittling.example", "Rosa Hiller", "Gemeinde Tittling"),
    ]


def test_french_cancellation_names_the_writer() -> None:
    raw = mail(
        "Bonjour,\n\nje dois malheureusement annuler ma participation au forum.\n\n"
        "Bien cordialement,\n\nLucien Kieffer\nChargé de mission\nVille de Haguenau\n",
        frm="Lucien Kieffer <l.kieffer@haguenau.example>",
    )
    found = extract_attendees(parse_message(raw), kind="cancellation")
    assert [(a.email, a.name, a.organisation) for a in found] == [
        ("l.kieffer@haguenau.example", "Lucien Kieffer", "Ville de Haguenau")
    ]


def test_colleague_address_labelled_in_parentheses_and_umlaut_plainly_spelt() -> None:
    body = (
        "Sehr geehrte Damen und Herren,\n\nich komme gern und bringe meinen Referenten Herrn "
        "Emre Yücel mit\n(E-Mail: emre.yucel@kreis-soest.example).\n\nViele Grüße\n"
        "Dr. Hella Brandt\nKreis Soest\n"
    )
    got = attendees(body, frm="Hella Brandt <h.brandt@kreis-soest.example>")
    assert [(a[0], a[1]) for a in got] == [
        ("h.brandt@kreis-soest.example", "Hella Brandt"),
        ("emre.yucel@kreis-soest.example", "Emre Yücel"),
    ]


def test_name_before_an_address_in_brackets_after_office_words() -> None:
    body = (
        "Guten Tag,\n\nwir melden Herrn Ole Fink (o.fink@lahn-consult.example) und unseren "
        "Junior Berater Timo\nAydın-Kraus, M.Sc. (timo.aydin@lahn-consult.example) an.\n\n"
        "Gruß\nOle Fink\nLahn Consult GmbH\n"
    )
    got = attendees(body, frm="Ole Fink <o.fink@lahn-consult.example>")
    assert [(a[0], a[1]) for a in got] == [
        ("o.fink@lahn-consult.example", "Ole Fink"),
        ("timo.aydin@lahn-consult.example", "Timo Aydın-Kraus"),
    ]


def test_party_note_after_a_council_is_dropped() -> None:
    from anmeldung.extract import organisation_of

    assert organisation_of("Kreistag des Ostalbkreises (Fraktion FREIE WÄHLER)")[0] == (
        "Kreistag des Ostalbkreises"
    )
    assert organisation_of("Stadtrat Ulm, CDU-Fraktion")[0] == "Stadtrat Ulm"


def test_unit_after_vom_is_not_part_of_the_name() -> None:
    body = (
        "Guten Tag,\n\nes nehmen teil: Herr Malte Sievers von der Kämmerei und Frau Ina Roth "
        "vom Controlling-Team.\n\nGruß\nMalte Sievers\nStadt Husum\n"
    )
    got = attendees(body, frm="Malte Sievers <m.sievers@husum.example>")
    assert [a[1] for a in got] == ["Malte Sievers", "Ina Roth"]


def test_inflected_office_after_herrn_is_no_name() -> None:
    body = (
        "Sehr geehrte Damen und Herren,\n\nich melde Herrn Ersten Kreisdezernenten Dr. Udo Keil "
        "zur Tagung an.\n\nMit freundlichen Grüßen\ni. A. Pia Lorenz\nKreis Lippe\n"
    )
    got = attendees(body, frm="Pia Lorenz <p.lorenz@kreis-lippe.example>")
    assert [(a[1], a[2]) for a in got] == [("Udo Keil", "Dr.")]


def test_we_withdraw_others_registrations_without_ourselves() -> None:
    raw = mail(
        "Guten Tag,\n\nhiermit ziehen wir die Teilnahme von Herrn Kai Brede und Frau Lea Witt "
        "zurück.\n\nGrüße\nJan Moll\nStadt Celle\n",
        frm="Jan Moll <j.moll@celle.example>",
    )
    found = extract_attendees(parse_message(raw), kind="cancellation")
    assert [a.name for a in found] == ["Kai Brede", "Lea Witt"]


def test_key_value_blocks_family_name_first_and_a_bare_mail_label() -> None:
    body = (
        "Guten Tag,\n\nanbei unsere beiden Anmeldungen:\n\nName: Hollmann\nVorname: Greta\n"
        "Mail: g.hollmann@kreis-plön.example\n\nName: Stüber\nVorname: Arne\n"
        "Mail: a.stueber@kreis-plön.example\n\nGrüße\nGreta Hollmann\nKreis Plön\n"
    )
    got = attendees(body, frm="Poststelle <post@kreis-plön.example>")
    assert [(a[0], a[1]) for a in got] == [
        ("g.hollmann@kreis-plön.example", "Greta Hollmann"),
        ("a.stueber@kreis-plön.example", "Arne Stüber"),
    ]


def test_writer_named_with_own_address_from_a_shared_mailbox_keeps_it() -> None:
    body = (
        "Guten Tag,\n\nunsere Bürgermeisterin Frau Eva Kranz ist verhindert. Herr Tom Reiter, "
        "Leiter des Bauamts, kommt an ihrer Stelle\n(tom.reiter@amt-probstei.example).\n\n"
        "Gruß\nTom Reiter\nAmt Probstei\n"
    )
    raw = mail(body, frm="Amt Probstei <zentrale@amt-probstei.example>")
    found = extract_attendees(parse_message(raw), kind="registration")
    assert [(a.email, a.name) for a in found] == [("tom.reiter@amt-probstei.example", "Tom Reiter")]


def test_authority_under_a_state_line_is_the_organisation() -> None:
    from anmeldung.extract import read_signature

    sig = read_signature(
        ["Jens Albers", "Sachgebietsleiter", "Freistaat Thüringen", "Landesverwaltungsamt"]
    )
    assert sig.organisation == "Landesverwaltungsamt"
    sig2 = read_signature(["Kim Otte", "Freie Hansestadt Bremen", "Finanzbehörde – Referat 12"])
    assert sig2.organisation == "Finanzbehörde"


@pytest.mark.parametrize(
    "body_kind", ["Bezirksvertretung Köln-Porz", "Stadtverordnetenversammlung Hanau"]
)
def test_body_named_in_the_intro_sentence_is_everyones_organisation(body_kind: str) -> None:
    body = (
        f"Hallo,\n\naus der {body_kind} melden wir uns zu zweit an:\n\n"
        "Pia Kern, Fraktionsvorsitzende\nMail: pia.kern@mailbox.example\n\n"
        "Uwe Haas, Ausschussvorsitzender\nMail: uwe.haas@web.example\n\nGruß\nPia Kern\n"
    )
    got = attendees(body, frm="Pia Kern <pia.kern@mailbox.example>")
    assert [(a[1], a[3]) for a in got] == [("Pia Kern", body_kind), ("Uwe Haas", body_kind)]


def test_space_aligned_text_table_with_a_rule_under_the_header() -> None:
    body = (
        "Guten Tag,\n\nfür den Zweckverband melden wir an:\n\n"
        "Name            | E-Mail                    | Funktion\n"
        "================+===========================+==========\n"
        "Lina Vogt       | l.vogt@zv-ems.example     | Kasse\n"
        "Bernd Aalders   | b.aalders@zv-ems.example  | Technik\n\n"
        "Gruß\nLina Vogt\nZweckverband Ems\n"
    )
    got = attendees(body, frm="Lina Vogt <l.vogt@zv-ems.example>")
    assert [(a[0], a[1]) for a in got] == [
        ("l.vogt@zv-ems.example", "Lina Vogt"),
        ("b.aalders@zv-ems.example", "Bernd Aalders"),
    ]


def test_family_name_column_with_a_title_and_given_name_column() -> None:
    from anmeldung.extract import _record_person

    person = _record_person({"name": "Prof. Dr. Wendling", "given": "Ute"})
    assert person is not None
    assert (person.name, person.title) == ("Ute Wendling", "Prof. Dr.")


def test_cancelling_oneself_while_a_named_colleague_stays() -> None:
    raw = mail(
        "Moin,\n\nHerr Malik Demir und ich sind zum Forum angemeldet. Ich muss leider "
        "absagen, Herr Demir nimmt aber weiterhin teil.\n\nGruß\nInga Thiele\nStadt Aurich\n",
        frm="Inga Thiele <i.thiele@aurich.example>",
    )
    found = extract_attendees(parse_message(raw), kind="cancellation")
    assert [(a.email, a.name) for a in found] == [("i.thiele@aurich.example", "Inga Thiele")]


def test_body_written_in_capitals_after_fuer_is_the_organisation() -> None:
    body = "Hallo,\n\nhiermit melde ich mich für STADTWERKE EMDEN an.\n\nGruß\nKarl Ites\n"
    got = attendees(body, frm="Karl Ites <k.ites@swe.example>")
    assert [(a[1], a[3]) for a in got] == [("Karl Ites", "STADTWERKE EMDEN")]
    body2 = "Hallo,\n\nich melde mich für den 3. Mai an.\n\nGruß\nKarl Ites\n"
    got2 = attendees(body2, frm="Karl Ites <k.ites@swe.example>")
    assert [(a[1], a[3]) for a in got2] == [("Karl Ites", None)]


def test_polish_lower_case_academic_titles() -> None:
    from anmeldung.names import parse_person

    p1 = parse_person("prof. dr hab. Teresa Wiśniewska")
    p2 = parse_person("dr inż. Marek Zając")
    assert p1 is not None
    assert (p1.name, p1.title) == ("Teresa Wiśniewska", "prof. dr hab.")
    assert p2 is not None
    assert (p2.name, p2.title) == ("Marek Zając", "dr")


def test_person_replaced_after_a_possessive_and_a_noun_is_not_registered() -> None:
    body = (
        "Guten Tag,\n\nanstatt unseres Kämmerers Herrn Bodo Tietz, den ich angemeldet hatte, "
        "nimmt nun Frau Selma Arslan teil (s.arslan@verden.example).\n\nGruß\nRita Heuer\n"
        "Landkreis Verden\n"
    )
    got = attendees(body, frm="Rita Heuer <r.heuer@verden.example>")
    assert [(a[0], a[1]) for a in got] == [("s.arslan@verden.example", "Selma Arslan")]


def test_key_value_name_with_a_unit_after_the_comma_is_not_reversed() -> None:
    body = (
        "Guten Tag,\n\nTeilnehmer: Dr. Arvid Solberg-Maas, Stabsstelle Controlling\n"
        "E-Mail: a.solberg-maas@vkm.example\nOrganisation: VKM - Verband kommunaler Musikschulen\n"
        "\nGruß\nTeam Tagungen\n"
    )
    got = attendees(body, frm="Tagungen <tagungen@vkm.example>")
    assert got == [
        (
            "a.solberg-maas@vkm.example",
            "Arvid Solberg-Maas",
            "Dr.",
            "VKM - Verband kommunaler Musikschulen",
        )
    ]


def test_guards_of_the_bracket_address_and_capitals_rules() -> None:
    body = (
        "Hallo,\n\nich melde mich zur Tagung an. Für Rückfragen zur Anmeldung erreichen Sie "
        "Kai Ott (k.ott@wilster.example).\n\nGruß\nLea Brandt\nStadt Wilster\n"
    )
    got = attendees(body, frm="Lea Brandt <l.brandt@wilster.example>")
    assert [a[1] for a in got] == ["Lea Brandt"]
    body2 = "Hallo,\n\ndie Anmeldung für ALLE Teilnehmer folgt, ich melde mich schon an.\n\nLea\n"
    got2 = attendees(body2, frm="Lea Brandt <l.brandt@wilster.example>")
    assert [a[3] for a in got2] == [None]
    body3 = "Hallo,\n\nes kommt Herr Karl von Jung zur Tagung.\n\nGruß\nLea Brandt\n"
    got3 = attendees(body3, frm="Lea Brandt <l.brandt@wilster.example>")
    assert "Karl von Jung" in [a[1] for a in got3]


@pytest.mark.parametrize("closing", ["Liebe Grüessli", "Grüßle", "Sincères salutations,"])
def test_dialect_and_french_closings_start_the_signature(closing: str) -> None:
    from anmeldung.extract import split_signature

    main, sig = split_signature(f"Hallo,\n\nich komme gern.\n\n{closing}\nUrs Gisler\nKanton Uri\n")
    assert sig == ["Urs Gisler", "Kanton Uri"]
    assert "Urs" not in main


@pytest.mark.parametrize(
    "line",
    [
        "Architektenkammer Niedersachsen",
        "Senatskanzlei Berlin",
        "Landtag Mecklenburg-Vorpommern",
        "Förderbank Saar",
        "Bistum Essen",
        "Raiffeisenbank Wesermarsch eG",
    ],
)
def test_chambers_parliaments_banks_and_churches_are_bodies(line: str) -> None:
    from anmeldung.extract import read_signature

    assert read_signature(["Mia Korte", "Referentin", line]).organisation == line


@pytest.mark.parametrize(
    ("phrase", "org"),
    [
        ("für die Stadtwerke Husum", "Stadtwerke Husum"),
        ("aus dem Landtag Brandenburg", "Landtag Brandenburg"),
        ("für den Zweckverband Ostholstein", "Zweckverband Ostholstein"),
    ],
)
def test_more_bodies_named_in_prose(phrase: str, org: str) -> None:
    body = f"Hallo,\n\n{phrase} melde ich mich zur Tagung an.\n\nGruß\nOle Dahl\n"
    got = attendees(body, frm="Ole Dahl <o.dahl@mail.example>")
    assert [(a[1], a[3]) for a in got] == [("Ole Dahl", org)]


# --- tune6: classes of failure from heldout14-16, each tested on new wording ----------------


@pytest.mark.parametrize(
    ("line", "org"),
    [
        (
            "Kreisausschuss des Landkreises Marburg-Biedenkopf",
            "Kreisausschuss des Landkreises Marburg-Biedenkopf",
        ),
        ("Gemeindevorstand der Gemeinde Biebertal", "Gemeindevorstand der Gemeinde Biebertal"),
        (
            "Ortsbeirat 5 der Stadt Wiesbaden (Biebrich, Amöneburg)",
            "Ortsbeirat 5 der Stadt Wiesbaden",
        ),
        ("Ratsfrau, Fraktion Die Linke im Rat der Stadt Celle", "Rat der Stadt Celle"),
        ("(ehemals Stadt Peine, Ordnungsamt)", "Stadt Peine"),
        ("StädteRegion Aachen", "StädteRegion Aachen"),
    ],
)
def test_organs_notes_and_remarks_around_a_body(line: str, org: str) -> None:
    assert organisation_of(line)[0] == org


def test_acronym_in_parentheses_is_not_part_of_the_organisation() -> None:
    body = (
        "Guten Tag,\n\nich melde mich zur Tagung an.\n\nGruß\nOle Dahl\n\n"
        "Niedersächsisches Studieninstitut für kommunale Verwaltung (NSI)\nWöhlerstraße 1\n"
    )
    got = attendees(body, frm="Ole Dahl <o.dahl@nsi.example>")
    assert [a[3] for a in got] == ["Niedersächsisches Studieninstitut für kommunale Verwaltung"]


def test_unit_column_of_a_table_is_not_the_organisation() -> None:
    body = (
        "Hallo,\n\nfolgende Kollegen melden wir an:\n\n"
        "Name\tAbteilung\tE-Mail\n"
        "Pia Ahrens\tFD Finanzen\tp.ahrens@kreis-celle.example\n"
        "Tom Uhde\tStabsstelle Recht\tt.uhde@kreis-celle.example\n\n"
        "Gruß\nEva Lenz\n\nLandkreis Celle\nTrift 26, 29221 Celle\n"
    )
    got = attendees(body, frm="Eva Lenz <e.lenz@kreis-celle.example>")
    assert [(a[1], a[3]) for a in got] == [
        ("Pia Ahrens", "Landkreis Celle"),
        ("Tom Uhde", "Landkreis Celle"),
    ]


def cancelled(body: str, frm: str) -> list[tuple]:
    found = extract_attendees(parse_message(mail(body, frm)), kind="cancellation")
    return [(a.email, a.name) for a in found]


@pytest.mark.parametrize(
    "stays",
    [
        "Meine eigene Anmeldung bleibt natürlich bestehen.",
        "Ich selbst komme wie vorgesehen.",
        "Meine Teilnahme bleibt davon unberührt.",
    ],
)
def test_writer_whose_registration_stands_is_not_cancelled(stays: str) -> None:
    body = (
        "Guten Tag,\n\nunser Kollege Herr Malte Jessen, den wir beide angemeldet hatten, muss "
        f"leider absagen, er ist krank. {stays}\n\nGrüße\nInga Thiel\nStadt Husum\n"
    )
    got = cancelled(body, "Inga Thiel <i.thiel@husum.example>")
    assert [g[1] for g in got] == ["Malte Jessen"]


def test_colleague_whose_registration_stays_unaffected_is_not_cancelled() -> None:
    body = (
        "Sehr geehrte Damen und Herren,\n\nleider muss Frau Bürgermeisterin Antje Lorenzen "
        "ihre Teilnahme absagen. Die Anmeldung von Herrn Stadtrat Kühl bleibt gültig.\n\n"
        "Im Auftrag\nSilke Brandt\nStadt Schleswig\n"
    )
    got = cancelled(body, "Vorzimmer <vorzimmer@schleswig.example>")
    assert [g[1] for g in got] == ["Antje Lorenzen"]


@pytest.mark.parametrize(
    "aside",
    [
        "Mein Kollege Arne Feddersen meldet sich gegebenenfalls selbst bei Ihnen.",
        "Our treasurer Tom Wilkes might be interested in attending as well.",
        "Frau Jana Holm hätte vielleicht auch Interesse an der Tagung.",
    ],
)
def test_someone_who_may_register_later_is_not_registered(aside: str) -> None:
    body = f"Hallo,\n\nich melde mich zur Tagung an. {aside}\n\nGruß\nOle Dahl\nStadt Kiel\n"
    got = attendees(body, frm="Ole Dahl <o.dahl@kiel.example>")
    assert [a[1] for a in got] == ["Ole Dahl"]


@pytest.mark.parametrize(
    ("text", "name", "title"),
    [
        ("KDO-Direktorin Dr. Wiebke Janssen", "Wiebke Janssen", "Dr."),
        ("Herr Ministerialdirigent Dr. Aldo Brenner", "Aldo Brenner", "Dr."),
        ("Cllr Fiona McKee", "Fiona McKee", None),
        ("Frau Regierungsamtfrau Ute Sander", "Ute Sander", None),
    ],
)
def test_offices_before_a_name_are_not_part_of_it(text: str, name: str, title: str | None) -> None:
    person = parse_person(text)
    assert person is not None
    assert (person.name, person.title) == (name, title)


def test_bullet_with_an_office_and_a_title_before_the_name() -> None:
    body = (
        "Guten Tag,\n\nwir melden folgende Personen an:\n\n"
        "• RVR-Kämmerer Dr. Bernd Austermann\n• Lea Wolters (Controlling)\n\n"
        "Gruß\nLea Wolters\nRegionalverband Ruhr\n"
    )
    got = attendees(body, frm="Lea Wolters <l.wolters@rvr.example>")
    assert [(a[1], a[2]) for a in got] == [("Bernd Austermann", "Dr."), ("Lea Wolters", None)]


@pytest.mark.parametrize(
    "sentence",
    [
        "Bitte notieren Sie außer mir auch meine Kollegin Rieke Harms aus der Kämmerei.",
        "Gerne nehme ich teil, zusammen mit Frau Rieke Harms aus der Kämmerei.",
        "Ich würde gern an der Tagung teilnehmen und Frau Rieke Harms mitbringen.",
    ],
)
def test_writer_and_a_colleague_in_one_sentence(sentence: str) -> None:
    body = f"Hallo,\n\n{sentence}\n\nGruß\nOle Dahl\nStadt Kiel\n"
    got = attendees(body, frm="Ole Dahl <o.dahl@kiel.example>")
    assert sorted(a[1] for a in got) == ["Ole Dahl", "Rieke Harms"]


def test_english_accompanied_by_a_doctor_without_a_dot() -> None:
    body = (
        "Dear colleagues,\n\nI would be glad to attend. I shall be accompanied by Dr Hamish "
        "Baird, our Head of Audit (hamish.baird@fife.example).\n\nBest wishes\nMoira Reid\n"
        "Fife Council\n"
    )
    got = attendees(body, frm="Moira Reid <moira.reid@fife.example>")
    assert [(a[0], a[1], a[2]) for a in got] == [
        ("moira.reid@fife.example", "Moira Reid", None),
        ("hamish.baird@fife.example", "Hamish Baird", "Dr"),
    ]


def test_writer_registered_earlier_is_not_registered_again() -> None:
    body = (
        "Guten Tag,\n\nich hatte mich schon im Januar angemeldet, bin nun aber verhindert. "
        "Stattdessen kommt Herr Pit Oltmanns (p.oltmanns@leer.example).\n\nGruß\nAnke Rust\n"
        "Stadt Leer\n"
    )
    raw = mail(body, "Anke Rust <a.rust@leer.example>")
    got = extract_attendees(parse_message(raw), kind="registration")
    assert [a.name for a in got] == ["Pit Oltmanns"]


@pytest.mark.parametrize(
    "sentence",
    [
        "Anstatt meiner kommt Herr Lars Wendt aus der Kämmerei (l.wendt@aurich.example).",
        "Für Frau Dr. Gesa Thiele kommt Herr Lars Wendt, SGL (l.wendt@aurich.example).",
    ],
)
def test_the_newcomer_of_a_substitution_not_the_one_replaced(sentence: str) -> None:
    body = (
        "Guten Tag,\n\nFrau Dr. Gesa Thiele, die wir angemeldet hatten, ist an dem Tag "
        f"verhindert. {sentence}\n\nGrüße\nMaren Voss\nStadt Aurich\n"
    )
    raw = mail(body, "Maren Voss <m.voss@aurich.example>")
    got = extract_attendees(parse_message(raw), kind="registration")
    assert [(a.name, a.email) for a in got] == [("Lars Wendt", "l.wendt@aurich.example")]


def test_addresses_between_dashes_after_names_in_a_list() -> None:
    body = (
        "Guten Tag,\n\nwir kommen zu dritt: ich selbst, Jonas Wehrmann – j.wehrmann@celle.example "
        "– aus dem Ordnungsamt sowie Dr. Pia Ostrowski – p.ostrowski@celle.example – aus der "
        "IT.\n\nGruß\nEva Lenz\nStadt Celle\n"
    )
    got = attendees(body, frm="Eva Lenz <e.lenz@celle.example>")
    assert [(a[0], a[1]) for a in got] == [
        ("e.lenz@celle.example", "Eva Lenz"),
        ("j.wehrmann@celle.example", "Jonas Wehrmann"),
        ("p.ostrowski@celle.example", "Pia Ostrowski"),
    ]


def test_last_entry_of_a_list_starting_with_und() -> None:
    body = (
        "Guten Tag,\n\nich melde für die Stadt Celle zwei Personen an:\n\n"
        "Frau Bürgermeisterin Ute Rehm – Bestätigung bitte an u.rehm@celle.example –\n"
        "und Herrn Stadtrat Dr. Timo Brandes.\n\nGruß\nEva Lenz\nStadt Celle\n"
    )
    got = attendees(body, frm="Eva Lenz <e.lenz@celle.example>")
    assert [(a[0], a[1], a[2]) for a in got] == [
        ("u.rehm@celle.example", "Ute Rehm", None),
        ("e.lenz@celle.example", "Timo Brandes", "Dr."),
    ]


def test_tab_table_aligned_with_a_varying_number_of_tabs() -> None:
    body = (
        "Hallo,\n\nwir melden zwei Personen an:\n\n"
        "Name\t\t\tAbteilung\t\tE-Mail\n"
        "Ida Brenner\t\tEinkauf\t\t\ti.brenner@hafen-ag.example\n"
        "Konstantin Weller\tRecht\t\tk.weller@hafen-ag.example\n\n"
        "Gruß\nIda Brenner\n\nHafen Emden AG\n"
    )
    got = attendees(body, frm="Ida Brenner <i.brenner@hafen-ag.example>")
    assert [(a[0], a[1]) for a in got] == [
        ("i.brenner@hafen-ag.example", "Ida Brenner"),
        ("k.weller@hafen-ag.example", "Konstantin Weller"),
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Im Büro bin ich unter t.krahn@stade.example erreichbar.",
        "Meine dienstliche Adresse lautet t.krahn@stade.example.",
    ],
)
def test_writer_from_a_private_mailbox_gives_the_office_address(sentence: str) -> None:
    body = (
        f"Hallo,\n\nich (Tobias Krahn, Hansestadt Stade, Bauamt) melde mich zur Tagung an. "
        f"{sentence}\n\nGruß\nTobias\n"
    )
    got = attendees(body, frm="Tobias Krahn <tkrahn77@web.example>")
    assert got == [("t.krahn@stade.example", "Tobias Krahn", None, "Hansestadt Stade")]


def test_inverted_first_person_saying_no_is_not_registered() -> None:
    body = (
        "Hallo,\n\nleider komme ich am Tag selbst nicht, aber Frau Rieke Harms nimmt für uns "
        "teil.\n\nGruß\nOle Dahl\nStadt Kiel\n"
    )
    raw = mail(body, "Ole Dahl <o.dahl@kiel.example>")
    got = extract_attendees(parse_message(raw), kind="registration")
    assert [a.name for a in got] == ["Rieke Harms"]


# --- the organisation by its place in the signature ---------------------------------------------


@pytest.mark.parametrize(
    ("lines", "org"),
    [
        # a body no word list knows, below a unit and above the street
        (
            [
                "Dr. Imke Sörensen",
                "Oberregierungsrätin",
                "Dezernat 23 – Denkmalpflege",
                "Direktion für Landesentwicklung Nord",
                "Am Hafen 12",
                "24103 Kiel",
            ],
            "Direktion für Landesentwicklung Nord",
        ),
        # a body above its unit ("Kämmerei"), which stands above the street
        (
            [
                "Piet Hansen",
                "Landschaftsverband Holstein",
                "Kämmerei",
                "Rendsburger Weg 4",
                "24768 Rendsburg",
            ],
            "Landschaftsverband Holstein",
        ),
        # a firm whose name ends in a legal form, then the office, then the street
        (
            [
                "Dr. Ole Brandt",
                "Rechtsanwalt",
                "BRANDT & FEDDERSEN Rechtsanwälte PartGmbB",
                "Partner",
                "Holstenstraße 3",
                "24103 Kiel",
            ],
            "BRANDT & FEDDERSEN Rechtsanwälte PartGmbB",
        ),
        # abroad: a four-digit postal code with a country prefix, a French office
        (
            [
                "Luc Hoffmann",
                "Bourgmestre",
                "Administration communale de Wiltz",
                "Rue du Château, L-9516 Wiltz",
            ],
            "Administration communale de Wiltz",
        ),
    ],
)
def test_signature_organisation_by_its_place(lines: list[str], org: str) -> None:
    assert read_signature(lines).organisation == org


@pytest.mark.parametrize(
    "lines",
    [
        # an office line above a unit is no body: the unit stays the answer
        [
            "Mag. Petra Huber",
            "Vorstand der Gruppe Haushalt",
            "Amt der Kärntner Landesregierung",
            "Arnulfplatz 1, 9020 Klagenfurt",
        ],
        # a sentence, a phone line or the signer's own name is no body
        ["Jens Ohlsen", "Bei Fragen gern anrufen.", "Am Markt 3", "25813 Husum"],
        ["Jens Ohlsen", "Jens Ohlsen", "Am Markt 3", "25813 Husum"],
    ],
)
def test_signature_lines_that_are_not_a_body_by_place(lines: list[str]) -> None:
    org = read_signature(lines).organisation
    assert org is None or org.startswith("Amt der")


def test_office_of_a_compound_municipality_names_the_body() -> None:
    assert organisation_of("Ortsvorsteherin der Ortsgemeinde Hüffelsheim")[0] == (
        "Ortsgemeinde Hüffelsheim"
    )
    assert organisation_of("Bürgermeister der Kreisstadt Eutin")[0] == "Kreisstadt Eutin"
    assert organisation_of("Stadtverordnetenversammlung der Hansestadt Wismar")[0] == (
        "Stadtverordnetenversammlung der Hansestadt Wismar"
    )


def test_french_office_line_is_no_organisation() -> None:
    sig = read_signature(
        [
            "Chloé Martin",
            "Chargée du service Urbanisme et Voirie",
            "Ville de Thionville",
            "3 place Anne Grommerch, 57100 Thionville",
        ]
    )
    assert sig.organisation == "Ville de Thionville"


def test_amt_of_municipalities_is_a_body_and_amt_of_a_city_a_unit() -> None:
    # Schleswig-Holstein, Mecklenburg-Vorpommern and Brandenburg have "Ämter" of municipalities
    assert organisation_of("Amt Schrevenborn") == ("Amt Schrevenborn", "org")
    assert organisation_of("Amt Mecklenburgische Schweiz") == (
        "Amt Mecklenburgische Schweiz",
        "org",
    )
    assert organisation_of("Amt Oder-Welse") == ("Amt Oder-Welse", "org")
    for unit in ("Amt für Stadtentwicklung", "Amt 61", "Amt Finanzen"):
        assert organisation_of(unit)[1] == "dept", unit
    sig = read_signature(
        [
            "Jonas Thießen",
            "Bauamtsleiter",
            "Amt Schrevenborn",
            "Der Amtsvorsteher",
            "Schulstraße 36, 24226 Heikendorf",
        ]
    )
    assert sig.organisation == "Amt Schrevenborn"


def test_councils_of_the_north_keep_their_name() -> None:
    assert organisation_of("Mitglied der Stadtvertretung Parchim")[0] == "Stadtvertretung Parchim"
    assert organisation_of("Ratsversammlung der Hansestadt Lübeck")[0] == (
        "Ratsversammlung der Hansestadt Lübeck"
    )
    person = parse_person("Ratsherrn Hauke Jessen")
    assert person is not None
    assert (person.name, person.function) == ("Hauke Jessen", "Ratsherrn")
    person = parse_person("Gemeindevertreterin Silke Thode")
    assert person is not None
    assert person.name == "Silke Thode"


def test_one_address_is_one_person_the_name_it_spells() -> None:
    # "die Leiterin unserer Kläranlage Groß Grönau, Frau Dr. Daria Olenko (d.olenko@…)": when
    # two readings of a sentence carry the same address, the name the address spells wins.
    unit = Mention(PersonName("Kläranlage Groß Grönau"), "d.olenko@wv-sued.example")
    person = Mention(PersonName("Daria Olenko", title="Dr."), "d.olenko@wv-sued.example")
    other = Mention(PersonName("Timo Brandes"), "t.brandes@wv-sued.example")
    assert _dedupe([other, unit, person]) == [other, person]
    assert _dedupe([other, person, unit]) == [other, person]


def test_words_after_an_office_before_a_salutation_are_the_unit() -> None:
    found = attendees(
        "hiermit melde ich unseren Abteilungsleiter Strategische Steuerung, Herrn Karl Voss, "
        "zum Infrastrukturtag an.\n\nViele Grüße\nMira Kolb\n",
        frm="mira.kolb@lbm.example",
    )
    assert [name for _, name, *_ in found] == ["Karl Voss"]


def test_a_colleague_already_registered_who_cannot_come_is_not_registered_again() -> None:
    found = attendees(
        "unsere Referatsleiterin, Frau Dr. Ute Kampe, ist bei Ihnen schon angemeldet, hat an "
        "dem Tag aber eine Sitzung und muss leider passen. An ihrer Stelle kommt Herr Nils "
        "Ebert (nils.ebert@sgd.example), der bei uns die Förderprogramme betreut.\n\n"
        "Freundliche Grüße\nPia Lorenz\n",
        frm="pia.lorenz@sgd.example",
    )
    assert [(email, name) for email, name, *_ in found] == [
        ("nils.ebert@sgd.example", "Nils Ebert")
    ]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        # Kölsch-like list after a colon: the writer, an article before a name, an office first
        (
            "Hallo zesamme,\n\nmir kumme zu dritt: isch selwer, de Hannes Pütz vun de "
            "Gemeindewerke Hürth un unsern Kassierer, der Toni Schmitz.\n\nJrööß\nBärbel Kox\n",
            ["Bärbel Kox", "Hannes Pütz", "Toni Schmitz"],
        ),
        # "mei Kollesch": the colleague in dialect spelling, the writer with "isch kumm"
        (
            "Gude,\n\nisch kumm gern, un mei Kollesch Marlene Hoff vom Ordnungsamt kommt aach "
            "mit.\n\nGruß\nBärbel Kox\n",
            ["Bärbel Kox", "Marlene Hoff"],
        ),
        # a remark after the list ("…, der wo …") is no person
        (
            "Servus,\n\nmir kumma zu zweid: i selber und de Sepp Huber, der wo bei uns die "
            "Kasse macht.\n\nPfiat di\nBärbel Kox\n",
            ["Bärbel Kox", "Sepp Huber"],
        ),
    ],
)
def test_dialect_lists_and_colleagues(body: str, names: list[str]) -> None:
    found = attendees(body, frm="Bärbel Kox <b.kox@huerth.example>")
    assert [name for _, name, *_ in found] == names


def test_dialect_item_keeps_its_own_body() -> None:
    found = attendees(
        "Hallo zesamme,\n\nmir kumme zu dritt: isch selwer, de Hannes Pütz vun de "
        "Gemeindewerke Hürth un unsern Kassierer, der Toni Schmitz.\n\nJrööß\nBärbel Kox\n"
        "Bürgermeisterin Ortsgemeinde Hürth-Efferen\n",
        frm="Bärbel Kox <b.kox@huerth.example>",
    )
    assert [org for *_, org in found] == [
        "Ortsgemeinde Hürth-Efferen",
        "Gemeindewerke Hürth",
        "Ortsgemeinde Hürth-Efferen",
    ]


def test_one_of_two_cancels_and_the_writer_stays_clause_by_clause() -> None:
    body = (
        "Guten Tag,\n\nwir hatten uns zu zweit angemeldet, meine Kollegin Svea Brodersen und "
        "ich. Frau Brodersen kann am Tag der Tagung leider nicht. Bitte streichen Sie nur "
        "sie – ich komme wie geplant.\n\nGruß\nHauke Carstens\n"
    )
    found = extract_attendees(
        parse_message(mail(body, "Hauke Carstens <h.carstens@amt-eider.example>")),
        kind="cancellation",
    )
    assert [(a.email, a.name) for a in found] == [
        ("h.carstens@amt-eider.example", "Svea Brodersen")
    ]


def test_the_writer_registered_already_registers_only_the_others() -> None:
    found = attendees(
        "ich selbst bin über den Landkreistag bereits angemeldet. Zusätzlich möchte ich zwei "
        "Studierende anmelden:\n\n- Mia Rehberg (mia.rehberg@hs-bochum.example)\n"
        "- Can Yilmaz (can.yilmaz@hs-bochum.example)\n\nBeste Grüße\nProf. Dr. Ole Hansen\n",
        frm="Ole Hansen <ole.hansen@hs-bochum.example>",
    )
    assert [name for _, name, *_ in found] == ["Mia Rehberg", "Can Yilmaz"]


def test_an_office_cancelling_for_the_boss_without_a_substitute() -> None:
    body = (
        "leider muss Frau Landrätin Anke Poll ihre Teilnahme am Fachtag absagen. Eine "
        "Vertretung können wir leider nicht schicken.\n\nMit freundlichen Grüßen\nIm Auftrag\n"
        "Jens Wagner\nBüro der Landrätin\n"
    )
    found = extract_attendees(
        parse_message(mail(body, "Büro der Landrätin <buero@kreis-olpe.example>")),
        kind="cancellation",
    )
    assert [a.name for a in found] == ["Anke Poll"]


def test_one_cancels_the_other_stays_in_the_next_clause() -> None:
    body = (
        "wir sind zu zweit angemeldet. Herr Timo Lüke muss seine Teilnahme leider absagen, "
        "ich komme aber wie geplant.\n\nViele Grüße\nEva Sand\n"
    )
    found = extract_attendees(
        parse_message(mail(body, "Eva Sand <eva.sand@hamm.example>")), kind="cancellation"
    )
    assert [a.name for a in found] == ["Timo Lüke"]


def test_registered_with_the_boss_and_whoever_asked_is_not_registered() -> None:
    found = attendees(
        "für die Gemeinde Ense nehmen Frau Bürgermeisterin Dr. Rita Busch "
        "(rita.busch@ense.example) sowie ich am Fachtag teil.\n\nGruß\nPaul Kehl\n",
        frm="Paul Kehl <paul.kehl@ense.example>",
    )
    assert [name for _, name, *_ in found] == ["Rita Busch", "Paul Kehl"]
    found = attendees(
        "wie von Herrn Beigeordneten Kai Brandt gewünscht, melde ich mich für den Fachtag an."
        "\n\nGruß\nPaul Kehl\n",
        frm="Paul Kehl <paul.kehl@ense.example>",
    )
    assert [name for _, name, *_ in found] == ["Paul Kehl"]


def test_a_unit_named_last_is_a_department() -> None:
    sig = read_signature(
        [
            "Dr. Lars Timm",
            "KDN Service Abteilung",
            "Kommunaler Datenverarbeitungsverband Nord",
            "Am Turm 2, 24534 Neumünster",
        ]
    )
    assert sig.organisation == "Kommunaler Datenverarbeitungsverband Nord"


def test_text_table_aligned_with_spaces_keeps_empty_cells() -> None:
    found = attendees(
        "anbei unsere Anmeldungen:\n\n"
        "Titel  Vorname  Nachname  Funktion              E-Mail\n"
        "-----  -------  --------  --------------------  ---------------------------\n"
        "       Ina      Storm     Leiterin Stadtkasse   ina.storm@husum.example\n"
        "Dr.    Jan      Brix      Kämmerer              jan.brix@husum.example\n\n"
        "Viele Grüße\nIna Storm\nStadt Husum\n",
        frm="Ina Storm <ina.storm@husum.example>",
    )
    assert [(e, n, t) for e, n, t, _o in found] == [
        ("ina.storm@husum.example", "Ina Storm", None),
        ("jan.brix@husum.example", "Jan Brix", "Dr."),
    ]


def test_students_brought_along_after_a_colon() -> None:
    found = attendees(
        "ich komme gern zum Fachtag und bringe zwei Studierende aus meinem Seminar mit: Mara "
        "Lenz und Emre Aksoy.\n\nGrüße\nProf. Dr. Uwe Rahn\nHochschule Emden/Leer\n",
        frm="Uwe Rahn <uwe.rahn@hs-el.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Uwe Rahn", "Mara Lenz", "Emre Aksoy"]


def test_a_reply_adding_a_colleague_registers_only_her() -> None:
    found = attendees(
        "vielen Dank für die Bestätigung der Anmeldung von Herrn Lührs. Zusätzlich möchten wir "
        "noch unsere Kollegin Frau Tjorven Alt (t.alt@weser-ems.example) anmelden.\n\n"
        "Freundliche Grüße\nBirte Meinen\nAssistenz der Geschäftsführung\n",
        frm="Birte Meinen <b.meinen@weser-ems.example>",
    )
    assert [(e, n) for e, n, _t, _o in found] == [("t.alt@weser-ems.example", "Tjorven Alt")]


def test_the_one_who_had_registered_is_not_registered_again() -> None:
    found = attendees(
        "unser Kämmerer, Herr Focke, hatte sich im Januar angemeldet. Er ist an dem Tag "
        "verhindert. An seiner Stelle nehme ich teil.\n\nGrüße\nGesa Ihnen\nGemeinde Wiefelstede\n",
        frm="Gesa Ihnen <g.ihnen@wiefelstede.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Gesa Ihnen"]


def test_party_group_before_a_county_council_is_dropped() -> None:
    assert organisation_of("SPD-Fraktion im Kreistag des Landkreises Harburg")[0] == (
        "Kreistag des Landkreises Harburg"
    )


def test_a_unit_of_a_unit_in_parentheses_is_no_organisation() -> None:
    found = attendees(
        "bitte melden Sie mich sowie Frau Ilka Roth (Ordnungsamt, Straßenverkehrsbehörde) an."
        "\n\nGrüße\nOle Brandt\n\nStadt Norden\nAm Markt 15\n26506 Norden\n",
        frm="Ole Brandt <ole.brandt@norden.example>",
    )
    assert [o for _e, _n, _t, o in found] == ["Stadt Norden", "Stadt Norden"]


def test_dialect_colleague_with_article_and_relation_word() -> None:
    found = attendees(
        "mir kumme zu zwett: ich selwer un de Kolleg Timo Gräf vum Bauamt.\n\nGrüß\nUte Baum\n"
        "Gemeinde Hatzenbühl\n",
        frm="Ute Baum <ute.baum@hatzenbuehl.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Ute Baum", "Timo Gräf"]


def test_given_names_ending_like_an_office_and_adjectives_that_are_no_names() -> None:
    for name in ("Berat Krasniqi", "Murat Öztürk"):
        person = parse_person(name)
        assert person is not None
        assert person.name == name
    person = parse_person("Kreisrat Ole Bähr")
    assert person is not None
    assert (person.name, person.function) == ("Ole Bähr", "Kreisrat")
    assert parse_person("Regionale Entwicklung") is None
    assert parse_person("Städtische Kliniken") is None


def test_a_list_after_the_paragraph_that_announces_it() -> None:
    found = attendees(
        "für die Stadt Aurich melde ich zum Fachtag an:\n\nHerrn Bürgermeister Horst Feddermann "
        "sowie die Leiterin des Fachdienstes IT, Frau Wiebke Saathoff "
        "(w.saathoff@aurich.example).\n\nIm Auftrag\nAnke Janssen\nStadt Aurich\n",
        frm="Sekretariat Bürgermeister <sekretariat@aurich.example>",
    )
    assert [(e, n) for e, n, _t, _o in found] == [
        ("sekretariat@aurich.example", "Horst Feddermann"),
        ("w.saathoff@aurich.example", "Wiebke Saathoff"),
    ]


def test_a_substitute_for_a_colleague_registered_without_bereits() -> None:
    body = (
        "unsere Kollegin Frau Tanja Weigl ist für den 3. Mai angemeldet, kann aber leider nicht "
        "teilnehmen. An ihrer Stelle komme ich.\n\nGrüße\nMax Ried\nStadtwerke Dachau\n"
    )
    msg = parse_message(mail(body, "Max Ried <max.ried@sw-dachau.example>"))
    assert [a.name for a in extract_attendees(msg, kind="registration")] == ["Max Ried"]


def test_the_writer_who_would_like_to_come_on_a_date_and_brings_someone() -> None:
    found = attendees(
        "ich würde gern am 12. Mai zum Fachtag kommen und meinen Doktoranden Lukas Frey, M.Sc., "
        "mitbringen (lukas.frey@uni-passau.example).\n\nGrüße\nProf. Dr. Eva Stern\n",
        frm="Eva Stern <eva.stern@uni-passau.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Eva Stern", "Lukas Frey"]


def test_writer_first_with_ich_sowie_and_a_deputy_after_the_colon() -> None:
    found = attendees(
        "für die Gemeinde Alpen nehmen ich sowie die Leiterin unseres Fachbereichs Planen, Frau "
        "Dipl.-Ing. Carla Ruhnau, am Fachtag teil.\n\nGrüße\nPeer Ott\nGemeinde Alpen\n",
        frm="Peer Ott <peer.ott@alpen.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Peer Ott", "Carla Ruhnau"]
    found = attendees(
        "wir kommen zu zweit: ich und meine Stellvertreterin Frau Inga Wulf (Mail: "
        "inga.wulf@erbach.example).\n\nGruß\nPeer Ott\nStadt Erbach\n",
        frm="Peer Ott <peer.ott@erbach.example>",
    )
    assert [(e, n) for e, n, _t, _o in found] == [
        ("peer.ott@erbach.example", "Peer Ott"),
        ("inga.wulf@erbach.example", "Inga Wulf"),
    ]


def test_an_office_registering_a_number_of_people_is_not_among_them() -> None:
    found = attendees(
        "für den Fachtag möchten wir aus unserem Team drei Teilnehmer anmelden:\n\n"
        "- Lars Eder, Leiter Finanzen, lars.eder@vb-ulm.example\n"
        "- Pia Roth, pia.roth@vb-ulm.example\n- Ben Kurz, ben.kurz@vb-ulm.example\n\n"
        "Grüße\nMia Sander\nAssistenz\n",
        frm="Mia Sander <mia.sander@vb-ulm.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Lars Eder", "Pia Roth", "Ben Kurz"]


def test_a_lawyer_registered_by_the_office_is_no_profession_name() -> None:
    person = parse_person("Herr Rechtsanwalt Dr. Jörg Sattler")
    assert person is not None
    assert (person.name, person.title) == ("Jörg Sattler", "Dr.")


def test_no_substitute_and_a_colleague_already_registered() -> None:
    body = (
        "meine Kollegin Frau Olga Brenner kann leider nicht teilnehmen, sie ist erkrankt. Bitte "
        "stornieren Sie ihre Anmeldung. Einen Ersatz können wir leider nicht schicken.\n\n"
        "Grüße\nUwe Pahl\n"
    )
    found = extract_attendees(
        parse_message(mail(body, "Uwe Pahl <uwe.pahl@sw-ulm.example>")), kind="cancellation"
    )
    assert [a.name for a in found] == ["Olga Brenner"]
    found = attendees(
        "mein Kollege Jan Lutz hat sich schon angemeldet, ich möchte mich ebenfalls für den "
        "Fachtag anmelden.\n\nGruß\nUwe Pahl\n",
        frm="Uwe Pahl <uwe.pahl@sw-ulm.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Uwe Pahl"]


def test_councils_in_the_genitive_and_with_a_long_place_and_ministries_with_a_comma() -> None:
    assert organisation_of("Mitglied des Gemeinderats der Stadt Ehingen")[0] == (
        "Gemeinderat der Stadt Ehingen"
    )
    found = attendees(
        "ich möchte mich als Mitglied des Gemeinderats der Stadt Ehingen (Bauausschuss) "
        "anmelden.\n\nGrüße\nUwe Pahl\n",
        frm="Uwe Pahl <uwe.pahl@web.example>",
    )
    assert [o for *_, o in found] == ["Gemeinderat der Stadt Ehingen"]
    assert organisation_of("Mitglied der Gemeindevertretung Seebad Heringsdorf")[0] == (
        "Gemeindevertretung Seebad Heringsdorf"
    )
    assert organisation_of("Ministerium des Innern, für Sport und Heimat Hessen")[0] == (
        "Ministerium des Innern, für Sport und Heimat Hessen"
    )


def test_a_nickname_in_from_and_the_full_name_signed() -> None:
    found = attendees(
        "ich melde mich für den Fachtag an.\n\nFreundliche Grüße\nUlrike Brenner-Haas\n",
        frm="Uli Brenner <uli.brenner@gmail.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Ulrike Brenner-Haas"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (
            "Servus,\n\nmir kommet zu zwoit: i selber und unser Kämmerer, dr Toni Keck.\n\n"
            "Pfiat eich\nVroni Huber\n",
            ["Vroni Huber", "Toni Keck"],
        ),
        (
            "aus der Gemeinde Nebra werden drei Personen teilnehmen: ich selbst, unser Kämmerer "
            "Jonas Roth und Frau Ida Weiß aus der Kämmerei.\n\nGrüße\nVroni Huber\n",
            ["Vroni Huber", "Jonas Roth", "Ida Weiß"],
        ),
        (
            "Hallo zosamme,\n\nich ben dobei, un minge Kolleje Hein Pütz kütt och met.\n\n"
            "Jrööß\nVroni Huber\n",
            ["Vroni Huber", "Hein Pütz"],
        ),
    ],
)
def test_more_dialect_and_roles_before_names(body: str, names: list[str]) -> None:
    found = attendees(body, frm="Vroni Huber <vroni.huber@nebra.example>")
    assert [n for _e, n, _t, _o in found] == names


def test_the_office_in_copy_is_not_registered() -> None:
    found = attendees(
        "Herr Kreisdirektor Paul Esch wird am Fachtag teilnehmen. Die Bestätigung senden Sie "
        "bitte direkt an ihn (paul.esch@kreis-dn.example), gern mit uns in Kopie.\n\n"
        "i. A. Jana Lenz\nVorzimmer des Kreisdirektors\n",
        frm="Vorzimmer <vorzimmer@kreis-dn.example>",
    )
    assert [(e, n) for e, n, _t, _o in found] == [("paul.esch@kreis-dn.example", "Paul Esch")]


def test_supervisory_units_and_teaching_areas_are_no_names_or_bodies() -> None:
    assert parse_person("Kommunalaufsicht Harz") is None
    assert organisation_of("Lehrgebiet Baustatik")[1] == "dept"


def test_a_councils_group_in_parentheses_is_dropped_but_a_place_qualifier_kept() -> None:
    found = attendees(
        "als Mitglied des Gemeinderats Wiggensbach (Bürgerliste) melde ich mich an.\n\n"
        "Grüße\nVroni Huber\n",
        frm="Vroni Huber <vroni.huber@web.example>",
    )
    assert [o for *_, o in found] == ["Gemeinderat Wiggensbach"]
    found = attendees(
        "als Mitglied des Kreistags Neustadt (Aisch) melde ich mich an.\n\nGrüße\nVroni Huber\n",
        frm="Vroni Huber <vroni.huber@web.example>",
    )
    assert [o for *_, o in found] == ["Kreistag Neustadt (Aisch)"]


COMMON_FAMILY_NAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer"
    " Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange"
    " Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann König"
    " Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Schubert Vogel"
    " Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht"
    " Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto"
    " Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn Kühn"
    " Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer Ehrlicher Thaler"
).split()


def test_the_hundred_commonest_family_names_are_names() -> None:
    """A rule against offices or adjectives must never eat a common name ("Fischer" looked like
    an adjective ending in "-ischer" to one of them)."""
    given = ("Anna", "Jörg", "Wladimir", "Ayşe", "Murat", "Małgorzata")
    for i, family in enumerate(COMMON_FAMILY_NAMES):
        name = f"{given[i % len(given)]} {family}"
        person = parse_person(name)
        assert person is not None, name
        assert person.name == name


def test_round_five_wording() -> None:
    body = (
        "hiermit melde ich mich zum Fachtag an. Unser Vorstand Dr. Ole Mahn ist an dem Tag leider "
        "auf einer Messe, ich vertrete das Haus.\n\nGrüße\nIda Roos\nWerke Celle GmbH\n"
    )
    msg = parse_message(mail(body, "Ida Roos <ida.roos@werke-celle.example>"))
    assert [a.name for a in extract_attendees(msg, kind="registration")] == ["Ida Roos"]
    found = attendees(
        "wie mit Frau Lena Albers telefonisch vereinbart, melde ich mich für den Fachtag an.\n\n"
        "Grüße\nIda Roos\n",
        frm="Ida Roos <ida.roos@werke-celle.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Ida Roos"]
    found = attendees(
        "für den Fachtag melde ich Herrn Bürgermeister Dr. Jan Eggers an. Bitte senden Sie die "
        "Bestätigung an diese Adresse, Herr Dr. Eggers erhält seine Post über uns.\n\n"
        "im Auftrag\nIda Roos\nVorzimmer\n",
        frm="Vorzimmer <vorzimmer@celle.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Jan Eggers"]
    found = attendees(
        "do simmer debei! Isch kumm mit meim Erschde Beigeordnete, em Paul Roth.\n\nGruß\n"
        "Ida Roos\nOrtsgemeinde Enkenbach\n",
        frm="Ida Roos <ortsbuergermeisterin@enkenbach.example>",
    )
    assert [n for _e, n, _t, _o in found] == ["Ida Roos", "Paul Roth"]
    found = attendees(
        "ich würde gern teilnehmen. Ich bin Mitglied im Rat der Hansestadt Stade.\n\nGrüße\n"
        "Ida Roos\n",
        frm="Ida Roos <ida.roos@gmail.example>",
    )
    assert [o for *_, o in found] == ["Rat der Hansestadt Stade"]
    assert organisation_of("Service des Sports")[1] == "dept"
