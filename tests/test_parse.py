"""parse.py: raw bytes -> a cleaned ParsedMessage (no surrogates, no control characters)."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import textwrap
from pathlib import Path

import pytest

from anmeldung.parse import (
    MAX_BODY_CHARS,
    MAX_HEADER_CHARS,
    MAX_NAME_CHARS,
    ParsedMessage,
    html_to_text,
    parse_message,
)

CORPUS = Path("/work/shared/corpus")
UMLAUT_WORDS = ("Grüße", "Müller", "Straße", "Tür")
BAD_CHARS = frozenset("\r\n\x00\x07\x1b\x7f\u200b\u202e\ufeff")


def raw_mail(headers: str, body: bytes = b"Hallo\r\n") -> bytes:
    """Headers as ASCII-only text (one per line), then the body bytes as given."""
    lines = textwrap.dedent(headers).strip("\n").splitlines()
    head = "\r\n".join(line.rstrip() for line in lines if line.strip())
    return head.encode("ascii") + b"\r\n\r\n" + body


def assert_clean_line(value: str) -> None:
    assert not (set(value) & BAD_CHARS), repr(value)
    value.encode("utf-8")  # no lone surrogates


# -- the issue: 8-bit UTF-8 bodies ----------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def test_mail_parser_release_has_the_utf8_fix() -> None:
    assert _version(importlib.metadata.version("mail-parser")) >= (4, 8, 0)


@pytest.mark.parametrize("cte", [None, "8bit"])
def test_raw_8bit_utf8_body_is_read_as_utf8(cte: str | None) -> None:
    body = "Grüße, Müller, Straße, Tür\r\n\r\nMit freundlichen Grüßen\r\nHans Müller\r\n"
    raw = raw_mail(
        f"""
        From: Hans Mueller <hans.mueller@bonn.example>
        To: anmeldung@stadt.example
        Subject: Anmeldung
        Message-ID: <8bit-body@bonn.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset="utf-8"
        {f"Content-Transfer-Encoding: {cte}" if cte else ""}
        """,
        body.encode("utf-8"),
    )
    parsed = parse_message(raw)
    assert "fallback-parser" not in parsed.defects  # mail-parser itself read it
    assert parsed.text.splitlines()[0] == "Grüße, Müller, Straße, Tür"
    for word in UMLAUT_WORDS:
        assert word in parsed.text
    # The Latin-1 mojibake of the old mail-parser releases.
    assert "GrÃ¼ÃŸe" not in parsed.text
    assert "Ã" not in parsed.text


def test_raw_8bit_utf8_body_without_charset_is_read_as_utf8() -> None:
    raw = raw_mail(
        """
        From: hans@bonn.example
        Subject: Anmeldung
        MIME-Version: 1.0
        Content-Type: text/plain
        Content-Transfer-Encoding: 8bit
        """,
        "Grüße, Müller, Straße, Tür\r\n".encode(),
    )
    text = parse_message(raw).text
    assert text.strip() == "Grüße, Müller, Straße, Tür"


# -- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_header", "name", "address"),
    [
        (
            "=?iso-8859-1?q?J=FCrgen_M=FCller?= <J.Mueller@Koeln.Example>",
            "Jürgen Müller",
            "j.mueller@koeln.example",
        ),
        (
            "=?UTF-8?Q?Bj=C3=B6rn_K=C3=A4mmerer?= <bk@bonn.example>",
            "Björn Kämmerer",
            "bk@bonn.example",
        ),
        (
            "=?UTF-8?B?TWHFgmdvcnphdGEgV8OzamNpaw==?= <m.wojcik@essen.example>",
            "Małgorzata Wójcik",
            "m.wojcik@essen.example",
        ),
        (
            "=?utf-8?b?RnJhdSBEci4gWcSxbGTEsXo=?= <y@duisburg.example>",
            "Frau Dr. Yıldız",
            "y@duisburg.example",
        ),
        ("Plain Name <plain@example.org>", "Plain Name", "plain@example.org"),
        ("bare@Example.ORG", "", "bare@example.org"),
    ],
)
def test_from_display_name_and_address(from_header: str, name: str, address: str) -> None:
    parsed = parse_message(raw_mail(f"From: {from_header}\nSubject: x"))
    assert parsed.sender_name == name
    assert parsed.sender == address


def test_encoded_subject_is_decoded() -> None:
    parsed = parse_message(raw_mail("Subject: =?utf-8?q?Anmeldung_f=C3=BCr_2_Personen?="))
    assert parsed.subject == "Anmeldung für 2 Personen"


def _flanker(name: str) -> bytes:
    path = CORPUS / "flanker" / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


def test_raw_latin1_header_from_corpus_has_no_surrogates() -> None:
    parsed = parse_message(_flanker("from-encoding.eml"))
    assert parsed.sender == "ingo@blank.pages.de"
    assert parsed.sender_name.startswith("Ingo L")
    assert parsed.sender_name.endswith("tkebohle")
    parsed.sender_name.encode("utf-8")
    for values in parsed.headers.values():
        for value in values:
            value.encode("utf-8")


def test_raw_latin1_header_has_no_surrogates() -> None:
    raw = b"From: Ingo L\xfctkebohle <ingo@x.example>\r\nSubject: T\xfcr zu\r\n\r\nhallo\r\n"
    parsed = parse_message(raw)
    parsed.sender_name.encode("utf-8")
    parsed.subject.encode("utf-8")
    assert parsed.sender == "ingo@x.example"


def test_raw_latin1_header_is_repaired_to_the_right_letters() -> None:
    raw = b"From: Ingo L\xfctkebohle <ingo@x.example>\r\nSubject: T\xfcr zu\r\n\r\nhallo\r\n"
    parsed = parse_message(raw)
    assert parsed.sender_name == "Ingo Lütkebohle"
    assert parsed.subject == "Tür zu"


def test_raw_utf8_header_keeps_its_letters() -> None:
    # RFC 6532 (SMTPUTF8) allows UTF-8 in headers; Outlook and GMX send it.
    raw = "From: Ayşe Yıldız <ayse@duisburg.example>\r\nSubject: Grüße\r\n\r\nhallo\r\n"
    parsed = parse_message(raw.encode("utf-8"))
    assert parsed.sender_name == "Ayşe Yıldız"
    assert parsed.subject == "Grüße"


def test_encoded_crlf_never_reaches_single_line_fields() -> None:
    raw = raw_mail(
        """
        From: =?utf-8?q?Eve=0D=0ABcc=3A_x=40evil=2Eexample?= <eve@example.org>
        Subject: =?utf-8?q?Hallo=0D=0ABcc=3A_x=40evil=2Eexample?=
        """
    )
    parsed = parse_message(raw)
    assert_clean_line(parsed.sender_name)
    assert_clean_line(parsed.subject)
    assert parsed.subject == "Hallo Bcc: x@evil.example"
    for values in parsed.headers.values():
        for value in values:
            assert_clean_line(value)


def test_encoded_crlf_in_plain_display_name() -> None:
    parsed = parse_message(raw_mail("From: =?utf-8?q?Eve=0D=0A_Adams?= <eve@example.org>"))
    assert parsed.sender_name == "Eve Adams"
    assert parsed.sender == "eve@example.org"


def test_encoded_display_name_cannot_change_the_sender_address() -> None:
    raw = raw_mail("From: =?utf-8?q?Eve=0D=0ABcc=3A_x=40evil=2Eexample?= <eve@example.org>")
    parsed = parse_message(raw)
    assert parsed.sender == "eve@example.org"
    assert parsed.sender_name == "Eve Bcc: x@evil.example"


def test_control_characters_are_stripped() -> None:
    raw = raw_mail(
        """
        From: =?utf-8?q?Hans=07_M=C3=BCller=E2=80=8B=1B?= <hans@bonn.example>
        Subject: =?utf-8?q?Anmel=00dung=E2=80=AE=EF=BB=BF_Symposium?=
        Content-Type: text/plain; charset=utf-8
        """,
        "Zeile eins\x00\x1b[31m\r\nZeile\tzwei\u202e\r\n".encode(),
    )
    parsed = parse_message(raw)
    assert_clean_line(parsed.sender_name)
    assert_clean_line(parsed.subject)
    assert parsed.sender_name.replace(" ", "") == "HansMüller"
    assert parsed.subject.replace(" ", "") == "AnmeldungSymposium"
    assert "\x00" not in parsed.text
    assert "\x1b" not in parsed.text
    assert "\u202e" not in parsed.text
    assert "\r" not in parsed.text
    assert "Zeile\tzwei" in parsed.text  # tab and newline stay in bodies
    assert parsed.text.count("\n") >= 1


# -- Message-ID, threading, Return-Path -----------------------------------------------------------


def test_message_id_is_normalised() -> None:
    parsed = parse_message(raw_mail("Message-ID:   <Abc@x>  "))
    assert parsed.message_id == "Abc@x"
    assert parsed.message_key == "Abc@x"


def test_message_id_without_brackets_is_accepted() -> None:
    parsed = parse_message(raw_mail("Message-ID: Abc@x"))
    assert parsed.message_key == "Abc@x"


@pytest.mark.parametrize("header", ["", "Message-ID:", "Message-ID: <>", "Message-ID: nonsense"])
def test_missing_message_id_uses_the_content_hash(header: str) -> None:
    raw = raw_mail(f"From: a@b.example\n{header}\nSubject: ohne ID")
    parsed = parse_message(raw)
    digest = hashlib.sha256(raw).hexdigest()
    assert parsed.message_id is None
    assert parsed.content_hash == digest
    assert parsed.message_key == f"sha256:{digest}"


def test_same_content_gives_same_key_other_content_another() -> None:
    a = raw_mail("Subject: eins")
    b = raw_mail("Subject: zwei")
    assert parse_message(a).message_key == parse_message(a).message_key
    assert parse_message(a).message_key != parse_message(b).message_key


def test_in_reply_to_and_references() -> None:
    raw = raw_mail(
        """
        In-Reply-To: <Orig@Stadt.Example> (the confirmation)
        References: <r1@x.example>
         <r2@x.example>	junk <r3@x.example>
        """
    )
    parsed = parse_message(raw)
    assert parsed.in_reply_to == ("Orig@Stadt.Example",)
    assert parsed.references == ("r1@x.example", "r2@x.example", "r3@x.example")


def test_no_threading_headers() -> None:
    parsed = parse_message(raw_mail("Subject: x"))
    assert parsed.in_reply_to == ()
    assert parsed.references == ()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Return-Path: <>", ""),
        ("Return-Path:   < >", ""),
        ("Return-Path: <Bounces@Stadt.Example>", "bounces@stadt.example"),
        ("", None),
    ],
)
def test_return_path(header: str, expected: str | None) -> None:
    parsed = parse_message(raw_mail(f"{header}\nSubject: x"))
    assert parsed.return_path == expected


# -- bodies -------------------------------------------------------------------------------------


def test_html_only_windows_1252() -> None:
    html = (
        "<html><head><style>p { color: red }</style></head><body>"
        "<p>Sehr geehrte Damen und Herren,</p>"
        "<p>hiermit melde ich mich an. Gebühr: 20 €</p>"
        "<p>Mit freundlichen Grüßen<br>„Jürgen“ Müller</p></body></html>"
    )
    raw = raw_mail(
        """
        From: juergen@koeln.example
        Subject: Anmeldung
        MIME-Version: 1.0
        Content-Type: text/html; charset="windows-1252"
        Content-Transfer-Encoding: 8bit
        """,
        html.encode("cp1252"),
    )
    parsed = parse_message(raw)
    for word in ("Gebühr", "20 €", "Grüßen", "„Jürgen“ Müller", "hiermit melde ich mich an"):
        assert word in parsed.text
    assert "<" not in parsed.text
    assert ">" not in parsed.text
    assert "color" not in parsed.text
    assert "Grüßen\n„Jürgen“" in parsed.text  # <br> is a line break
    assert "Gebühr" in parsed.html


def test_plain_part_wins_over_html_part() -> None:
    raw = raw_mail(
        """
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary="b"
        """,
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nnur Text\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>als HTML</p>\r\n--b--\r\n",
    )
    parsed = parse_message(raw)
    assert parsed.text.strip() == "nur Text"
    assert "als HTML" in parsed.html
    assert parsed.content_type == "multipart/alternative"


def test_html_to_text_tables_breaks_and_hidden_parts() -> None:
    markup = (
        "<html><head><title>Titel</title><style>td { color: red }</style>"
        "<script>alert('x')</script></head><body>"
        "<p>Hallo<br>Welt &amp; Co</p>"
        "<table><tr><th>Name</th><th>Ort</th></tr>"
        "<tr><td>Müller</td><td>Bonn</td></tr></table>"
        "<script type='text/javascript'>var a = 1;</script>"
        "<div>Ende</div></body></html>"
    )
    text = html_to_text(markup)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "Hallo"
    assert lines[1] == "Welt & Co"
    assert lines[2].split("\t") == ["Name", "Ort"]
    assert lines[3].split("\t") == ["Müller", "Bonn"]
    assert lines[-1] == "Ende"
    for hidden in ("Titel", "color", "alert", "var a"):
        assert hidden not in text


def test_html_to_text_empty_and_collapsed_whitespace() -> None:
    assert html_to_text("") == ""
    assert html_to_text("<p>a</p>\n\n\n\n<p>b</p><p></p><p></p><p>c</p>") == "a\n\nb\n\nc"
    assert html_to_text("<span>viel    \n  Platz</span>") == "viel Platz"


# -- dates --------------------------------------------------------------------------------------


def test_date_with_zone() -> None:
    parsed = parse_message(raw_mail("Date: Thu, 18 Mar 2027 09:15:00 +0100"))
    assert parsed.date == dt.datetime(2027, 3, 18, 8, 15, tzinfo=dt.UTC)
    assert parsed.date is not None
    assert parsed.date.utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize("value", ["Thu, 18 Mar 2027 09:15:00", "Thu, 18 Mar 2027 09:15:00 -0000"])
def test_date_without_zone_is_utc(value: str) -> None:
    parsed = parse_message(raw_mail(f"Date: {value}"))
    assert parsed.date == dt.datetime(2027, 3, 18, 9, 15, tzinfo=dt.UTC)
    assert parsed.date is not None
    assert parsed.date.tzinfo is not None


@pytest.mark.parametrize("header", ["Date: gestern", "Date: 99 Foo 2027 99:99", ""])
def test_bad_or_missing_date_is_none(header: str) -> None:
    assert parse_message(raw_mail(f"{header}\nSubject: x")).date is None


# -- broken input and limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage\x00\xff",
        b"\xff\xfe\xfd",
        b"From: <<<>>>@@\r\nSubject: =?utf-8?q?unterminated\r\n\r\n",
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/pla',
        b"Content-Type: text/plain; charset=does-not-exist\r\n\r\nGr\xfc\xdfe\r\n",
        b"Subject: =?x-unknown?q?abc?=\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not b64",
    ],
)
def test_broken_input_does_not_raise(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)
    assert parsed.size == len(raw)
    assert parsed.message_key.startswith("sha256:")
    for value in (parsed.subject, parsed.sender_name, parsed.text, parsed.html):
        value.encode("utf-8")
    assert_clean_line(parsed.subject)


def test_lengths_are_capped() -> None:
    long_name = "N" * (MAX_NAME_CHARS * 3)
    raw = raw_mail(
        f"""
        From: {long_name} <long@example.org>
        Subject: {"S" * (MAX_HEADER_CHARS * 3)}
        Content-Type: text/plain; charset=utf-8
        """,
        b"x" * (MAX_BODY_CHARS + 5000),
    )
    parsed = parse_message(raw)
    assert len(parsed.sender_name) == MAX_NAME_CHARS
    assert len(parsed.subject) == MAX_HEADER_CHARS
    assert len(parsed.text) == MAX_BODY_CHARS
    assert parsed.sender == "long@example.org"
    assert parsed.size == len(raw)


def test_headers_are_keyed_lower_case() -> None:
    parsed = parse_message(raw_mail("X-Mailer: Outlook 16\nRECEIVED: a\nReceived: b"))
    assert parsed.header("x-mailer") == "Outlook 16"
    assert parsed.header("X-MAILER") == "Outlook 16"
    assert parsed.headers["received"] == ("a", "b")
    assert parsed.header("x-missing") is None
