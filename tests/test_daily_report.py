"""The organisers' daily report through the real CLI, Dovecot and the SMTP sink.

A seeded mix of mail (registrations, a waiting list that moves, a cancellation, an auto
reply, a bounce, a question for review, a reply held back by the loop fuse, a send failure
and a refused login) must add up: every inbound message of the period is counted once by kind
and once by status, and the report names what the organisers must act on. `--send` mails it
once per date and recipient, as multipart/alternative with the chart as a related PNG.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import sqlite3
import struct
import zlib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from anmeldung.config import load_config
from anmeldung.daily import build
from anmeldung.db import Database
from anmeldung.models import Registration
from anmeldung.report_mail import LIST_LIMIT, ReportRenderer, queue_daily
from conftest import (
    MAILBOX_USER,
    MailServers,
    db_rows,
    make_mail,
    registration_mail,
    run_cli,
    write_config,
)
from test_bounce_unreachable import _dsn

ORGANISER = "team@stadt.example"
# Report at midnight UTC for "tomorrow": the period is the whole of today, so everything the
# test does falls into it (unless the test runs across midnight UTC).
SCHEDULE = f"""
[schedule]
daily_report = "00:00"
timezone = "UTC"

[report]
recipients = ["Organisationsteam <{ORGANISER}>"]

[limits]
replies_per_address_per_day = 1
"""


def _tomorrow() -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()


def _seed(servers: MailServers, tmp_path: Path, db_url: str | None = None) -> Path:
    """The mix; returns the config. Capacity 3, at most one reply per address a day."""
    config = write_config(
        tmp_path / "anmeldung.toml", servers, capacity=3, extra=SCHEDULE, db_url=db_url
    )
    run_cli(config, "init")
    # Poll 1: four registrations (the fourth waits), an out-of-office reply and a question.
    for n in (1, 2, 3, 4):
        servers.dovecot.deliver(MAILBOX_USER, registration_mail(n)[1])
    servers.dovecot.deliver(
        MAILBOX_USER,
        make_mail(
            "abwesend@amt.example",
            "Abwesenheitsnotiz: Einladung",
            "Ich bin bis zum 7.12. nicht im Büro.\n",
            message_id="ooo-1@amt.example",
            headers="Auto-Submitted: auto-replied\n",
        ),
    )
    servers.dovecot.deliver(
        MAILBOX_USER,
        make_mail(
            "max.muster@gemeinde.example",
            "Frage zum Symposium",
            "Guten Tag,\n\ngibt es vor Ort Parkplätze?\n\nViele Grüße\nMax Muster\n",
            message_id="q-1@gemeinde.example",
            name="Max Muster",
        ),
    )
    # The first confirmation (person 1's) is refused for good by the SMTP server.
    servers.smtp.fail_next.append((550, "5.1.1 mailbox unavailable"))
    poll = run_cli(config, "poll")
    assert "6 recorded" in poll.out, poll.out
    assert "outbox: 3 sent, 0 to retry, 1 failed" in poll.out, poll.out
    ours = {
        m.rcpt_tos[0]: str(
            email.message_from_bytes(m.data, policy=email.policy.default)["Message-ID"]
        )
        for m in servers.smtp.messages
    }

    # Poll 2: person 2 cancels (person 4 moves up; the reply to person 2 is over the fuse's
    # one a day) and person 3's confirmation bounces.
    servers.dovecot.deliver(
        MAILBOX_USER,
        make_mail(
            "person2@kreis2.example",
            "Abmeldung Symposium",
            "Sehr geehrte Damen und Herren,\n\nleider kann ich nicht teilnehmen und muss meine "
            "Anmeldung zum Symposium stornieren.\n\nMit freundlichen Grüßen\nAnna Schulz\n",
            message_id="c-2@kreis2.example",
            name="Anna Schulz",
        ),
    )
    bounced = "person3@kreis3.example"
    servers.dovecot.deliver(
        MAILBOX_USER,
        _dsn(
            ours[bounced],
            bounced,
            action="failed",
            status="5.1.1",
            subject="Undelivered Mail Returned to Sender",
            notice=f"<{bounced}>: host mx said: 550 5.1.1 User unknown",
            dsn_id="20261204110000.4Xyz1Q2w3e",
            extra=f"Diagnostic-Code: smtp; 550 5.1.1 <{bounced}>: User unknown\r\n",
        ),
        mail_from="",
    )
    poll = run_cli(config, "poll")
    assert "2 recorded" in poll.out, poll.out
    assert "outbox: 1 sent" in poll.out, poll.out  # the promotion; the cancellation held back

    # A poll with a wrong password: refused, recorded in poll_runs.
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        config.read_text(encoding="utf-8").replace(
            f'password = "{servers.dovecot.password}"', 'password = "falsch"'
        ),
        encoding="utf-8",
    )
    assert run_cli(wrong, "poll", check=False).code == 1
    return config


# Every time column, for moving a seeded day back into yesterday's (complete) period.
TIMES = {
    "messages": ("received_at",),
    "registrations": ("registered_at", "cancelled_at", "unreachable_at", "confirmation_sent_at"),
    "outbox": ("created_at", "sent_at", "next_attempt_at"),
    "poll_runs": ("started_at", "finished_at"),
    "mailbox_state": ("last_success_at", "last_error_at"),
}


def _a_day_earlier(tmp_path: Path) -> str:
    """Move everything recorded so far back by a day; returns today's date (whose report,
    complete by now, covers yesterday). `--send` refuses a period that has not ended."""
    db = sqlite3.connect(tmp_path / "anmeldung.db")
    try:
        for table, columns in TIMES.items():
            for column in columns:
                db.execute(f"UPDATE {table} SET {column} = datetime({column}, '-1 day')")  # noqa: S608
        db.commit()
    finally:
        db.close()
    return dt.datetime.now(dt.UTC).date().isoformat()


def _report(config: Path, *args: str) -> dict[str, Any]:
    result = json.loads(run_cli(config, "report", "daily", "--json", *args).out)
    assert isinstance(result, dict)
    return result


def test_the_daily_report_accounts_for_every_message(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    config = _seed(servers, tmp_path, db_url)
    report = _report(config, "--date", _tomorrow())

    # Every inbound message recorded in the period, once by kind and once by status.
    recorded = len(json.loads(run_cli(config, "messages", "--json").out))
    assert recorded == 8
    msgs = report["counts"]["messages"]
    assert msgs["total"] == recorded
    assert sum(msgs["by_kind"].values()) == recorded
    assert sum(msgs["by_status"].values()) == recorded
    assert sum(n for row in msgs["by_kind_and_status"].values() for n in row.values()) == recorded
    assert msgs["by_kind"] == {
        "registration": 4,
        "cancellation": 1,
        "auto_reply": 1,
        "bounce": 1,
        "other": 1,
    }
    assert msgs["by_status"] == {"received": 0, "processed": 5, "review": 1, "ignored": 2}
    assert msgs["by_kind_and_status"]["other"] == {"review": 1}

    assert report["counts"]["registrations"] == {
        "new": 4,
        "new_waitlisted": 0,  # person 4 waited, then moved up
        "cancelled": 1,
        "moved_up": 1,
    }
    assert report["totals"] == {
        "confirmed": 3,
        "waitlisted": 0,
        "cancelled": 1,
        "unreachable": 1,
        "capacity": 3,
        "free": 0,
    }
    new = {p["email"]: p for p in report["registrations"]["new"]}
    assert new["person1@kreis1.example"]["name"] == "Anna Hoffmann"
    assert new["person1@kreis1.example"]["organisation"] == "Kreisverwaltung 1"
    assert [p["email"] for p in report["registrations"]["cancelled"]] == ["person2@kreis2.example"]
    assert [p["email"] for p in report["registrations"]["moved_up"]] == ["person4@kreis4.example"]

    [review] = report["review"]
    assert review["from"] == "max.muster@gemeinde.example"
    assert review["reason_code"] == "no_intent"
    assert review["new"] is True
    [unreachable] = report["unreachable"]
    assert unreachable["email"] == "person3@kreis3.example"
    assert "bounce" in unreachable["note"]
    [held] = report["suppressed"]
    assert held["kind"] == "cancellation"
    assert held["to"] == "person2@kreis2.example"
    assert held["reason"].startswith("fuse:")
    [failure] = report["send_failures"]
    assert failure["kind"] == "confirmation"
    assert failure["to"] == "person1@kreis1.example"
    assert "550" in failure["reason"]
    assert report["counts"]["replies"] == {"sent": 4, "suppressed": 1, "failed": 1}

    polls = report["polls"]
    assert polls["runs"] == 3
    assert polls["failed"] == 1
    assert polls["login_failures"] == 1
    assert polls["worker_stopped_polling"] is False
    assert polls["errors"][0]["login"] is True
    assert "refused the login" in polls["errors"][0]["error"]
    assert "falsch" not in json.dumps(report)  # never a password

    assert set(report["problems"]) == {"login_failures", "send_failures", "unreachable", "review"}
    assert report["period"] == {
        "start": f"{dt.date.fromisoformat(_tomorrow()) - dt.timedelta(days=1)}T00:00:00Z",
        "end": f"{_tomorrow()}T00:00:00Z",
        "hours": 24.0,
        "complete": False,
    }
    chart = report["chart"]
    assert len(chart) == 14
    assert (
        chart[-1]["date"] == (dt.date.fromisoformat(_tomorrow()) - dt.timedelta(days=1)).isoformat()
    )
    assert chart[-1] == {"date": chart[-1]["date"], "new": 4, "cancelled": 1, "total": 3}

    # The period before today's holds none of it; it still reports the open review item.
    yesterday = _report(
        config, "--date", (dt.date.fromisoformat(_tomorrow()) - dt.timedelta(days=1)).isoformat()
    )
    assert yesterday["counts"]["messages"]["total"] == 0
    assert yesterday["counts"]["registrations"]["new"] == 0
    assert yesterday["review"] == []  # it arrived after that period


def test_the_text_report_in_german_and_english(servers: MailServers, tmp_path: Path) -> None:
    config = _seed(servers, tmp_path)
    text = run_cli(config, "report", "daily", "--date", _tomorrow()).out
    for expected in (
        "Tagesbericht: Symposium Kommunale Finanzen 2027",
        "Neue Anmeldungen:                4",
        "Abmeldungen:                     1",
        "Von der Warteliste nachgerückt:  1",
        "Belegung:                        3 bestätigt von 3 Plätzen (0 frei)",
        "Anna Hoffmann, Kreisverwaltung 1 <person1@kreis1.example> – bestätigt",
        "Anmeldung am Mailserver fehlgeschlagen (1-mal)",
        "max.muster@gemeinde.example: „Frage zum Symposium“",
        "weder Anmeldung noch Abmeldung (Frage oder sonstige Nachricht)",
        "Abmeldebestätigung an person2@kreis2.example: Schleifenschutz: schon 1 Antwort an "
        "diese Adresse in 24 Stunden (limits.replies_per_address_per_day = 1)",
        "Anna Koch, Kreisverwaltung 3 <person3@kreis3.example>: Unzustellbarkeitsnachricht für "
        "person3@kreis3.example",
        "Bestätigung an person1@kreis1.example",
        "EINGEGANGENE NACHRICHTEN (8)",
        "nach Art:  Anmeldung 4, Abmeldung 1, automatische Antwort 1, Unzustellbarkeit 1, "
        "Sonstiges 1",
        "nach Stand: in Bearbeitung 0, erledigt 5, zur Durchsicht 1, ohne Antwort abgelegt 2",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    english = run_cli(config, "report", "daily", "--date", _tomorrow(), "--lang", "en").out
    assert "Daily report: Symposium Kommunale Finanzen 2027" in english
    assert "neither a registration nor a cancellation" in english
    assert "fuse: already 1 replies to this address in 24 h" in english
    assert "Tagesbericht" not in english

    html_file = tmp_path / "bericht.html"
    run_cli(config, "report", "daily", "--date", _tomorrow(), "--html", str(html_file))
    html = html_file.read_text(encoding="utf-8")
    assert 'src="bericht.html.png"' in html
    assert "Von der Warteliste nachgerückt" in html
    assert _png_size((tmp_path / "bericht.html.png").read_bytes()) == (600, 240)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    assert length == 13
    width, height = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[16 + length : 20 + length])[0]
    assert crc == zlib.crc32(data[12 : 16 + length])
    return width, height


def _parts(msg: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in msg.walk()]


def test_send_mails_the_report_once_with_the_chart(servers: MailServers, tmp_path: Path) -> None:
    config = _seed(servers, tmp_path)
    before = len(servers.smtp.messages)
    # Not before the period has ended: the report of a date is sent once, complete.
    early = run_cli(config, "report", "daily", "--date", _tomorrow(), "--send", check=False)
    assert early.code == 1
    assert "which has not come yet; it is sent once, complete" in early.err, early.err
    assert db_rows(tmp_path, "SELECT count(*) FROM outbox WHERE kind = 'daily_report'") == [(0,)]
    today = _a_day_earlier(tmp_path)
    first = run_cli(config, "report", "daily", "--date", today, "--send")
    assert f"to {ORGANISER}: queued" in first.err, first.err
    assert "outbox: 1 sent" in first.err, first.err
    [mail] = servers.smtp.wait_for(before + 1)[before:]
    assert mail.rcpt_tos == [ORGANISER]

    # Again, and once more in English: this date's report has reached the organisers.
    for extra in ((), ("--lang", "en")):
        again = run_cli(config, "report", "daily", "--send", *extra)  # today's by default
        assert "already queued or sent before, not again" in again.err, again.err
    assert len(servers.smtp.messages) == before + 1
    assert db_rows(tmp_path, "SELECT count(*) FROM outbox WHERE kind = 'daily_report'") == [(1,)]

    # As it arrives in the organisers' mailbox (the sink delivers to Dovecot over LMTP).
    client = servers.dovecot.imap(ORGANISER)
    client.select_folder("INBOX")
    [uid] = client.search("ALL")
    raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    client.logout()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["To"] == f"Organisationsteam <{ORGANISER}>"
    assert msg["Subject"].startswith("Tagesbericht Symposium Kommunale Finanzen 2027")
    assert "4 neue Anmeldungen, 1 Abmeldung – bitte prüfen" in msg["Subject"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert _parts(msg) == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Anna Hoffmann, Kreisverwaltung 1" in text.get_content()
    html_text = html.get_content()
    assert '<img src="cid:tageschart"' in html_text
    assert 'alt="Anmeldungen je Tag vom' in html_text
    [png] = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert png["Content-ID"] == "<tageschart>"
    assert _png_size(png.get_content()) == (600, 240)


def test_send_without_recipients_is_one_line(servers: MailServers, tmp_path: Path) -> None:
    config = write_config(tmp_path / "anmeldung.toml", servers)
    run_cli(config, "init")
    result = run_cli(config, "report", "daily", "--send", check=False)
    assert result.code == 1
    assert result.err.strip() == (
        "anmeldung: error: [report] recipients is empty: nobody to send the report to"
    )
    assert servers.smtp.messages == []


@pytest.mark.parametrize("bad", ["2026-13-01", "gestern"])
def test_a_bad_date_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    config = tmp_path / "anmeldung.toml"
    config.write_text("", encoding="utf-8")
    result = run_cli(config, "report", "daily", "--date", bad, check=False)
    assert result.code == 2
    assert "--date" in result.err


def test_forget_also_erases_the_reports_that_name_the_person(
    servers: MailServers, tmp_path: Path
) -> None:
    config = _seed(servers, tmp_path)
    today = _a_day_earlier(tmp_path)
    run_cli(config, "report", "daily", "--date", today, "--send")
    [(report_id,)] = db_rows(tmp_path, "SELECT id FROM outbox WHERE kind = 'daily_report'")
    erased = json.loads(run_cli(config, "forget", "person4@kreis4.example", "--json").out)
    assert report_id in erased["outbox"], erased
    assert db_rows(
        tmp_path, "SELECT recipient, length(body) FROM outbox WHERE id = ?", report_id
    ) == [("forgotten", 0)]
    # The report of that date still adds up; the person is no longer in it.
    report = _report(config, "--date", today)
    assert report["counts"]["messages"]["total"] == 8
    assert "person4@kreis4.example" not in json.dumps(report)


def test_a_fresh_database_says_the_mailbox_was_never_read(tmp_path: Path) -> None:
    config = tmp_path / "anmeldung.toml"
    config.write_text(
        f"""
[event]
name = "E"
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
[database]
url = "sqlite:///{tmp_path / "a.db"}"
""",
        encoding="utf-8",
    )
    run_cli(config, "init")
    text = run_cli(config, "report", "daily").out
    assert "Das Postfach wurde noch nie erfolgreich abgerufen." in text
    assert "NEUE ANMELDUNGEN (0)\n  keine\n" in text
    report = _report(config)
    assert report["problems"] == ["stopped_polling"]
    assert report["counts"]["messages"]["total"] == 0
    assert report["period"]["complete"] is True  # the latest report time that has passed
    assert report["totals"]["capacity"] is None
    assert report["totals"]["free"] is None


def _plain_config(tmp_path: Path, recipient: str) -> Path:
    config_path = tmp_path / "anmeldung.toml"
    config_path.write_text(
        f"""
[event]
name = "E"
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
[database]
url = "sqlite:///{tmp_path / "a.db"}"
[report]
recipients = ["{recipient}"]
""",
        encoding="utf-8",
    )
    return config_path


def test_a_long_recipient_address_is_still_sent_once(tmp_path: Path) -> None:
    """Triggers longer than their column are hashed by the outbox; the check must agree."""
    long_address = "organisationsteam@" + ".".join(["abteilung-veranstaltungen"] * 7) + ".example"
    config = load_config(_plain_config(tmp_path, long_address))
    db = Database(config.database.url)
    db.upgrade()
    renderer = ReportRenderer(config)
    date = dt.date(2026, 12, 4)
    try:
        outcomes = []
        for _ in range(2):
            with db.transaction() as s:
                report = build(s, config, date, mailbox_key="k")
                outcomes += [q.outbox_id for q in queue_daily(s, config, renderer, report)]
        assert outcomes[0] is not None
        assert outcomes[1] is None
    finally:
        db.dispose()


def test_long_lists_stop_in_the_mail_but_not_in_the_json(tmp_path: Path) -> None:
    config = load_config(_plain_config(tmp_path, ORGANISER))
    db = Database(config.database.url)
    db.upgrade()
    date = dt.date(2026, 12, 4)
    at = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    try:
        with db.transaction() as s:
            for i in range(LIST_LIMIT + 7):
                address = f"p{i}@kreis.example"
                s.add(Registration(email=address, contact_email=address, registered_at=at))
        with db.session() as s:
            report = build(s, config, date, mailbox_key="k")
    finally:
        db.dispose()
    assert len(report.as_json()["registrations"]["new"]) == LIST_LIMIT + 7
    for lang, line in (
        ("de", "  … und 7 weitere (alle: anmeldung list)\n"),
        ("en", "  … and 7 more (all: anmeldung list)\n"),
    ):
        rendered = ReportRenderer(config).render(report, lang)
        assert rendered.text.count("@kreis.example") == LIST_LIMIT
        assert line in rendered.text
        assert rendered.html.count("@kreis.example") == LIST_LIMIT
        assert line.strip() in rendered.html
