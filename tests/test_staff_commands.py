"""Staff commands through the real CLI: resend, cancel, preview, outbox (Dovecot + SMTP sink)."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path

import icalendar

from anmeldung.devservers import ReceivedMail, append
from conftest import EXAMPLES, MAILBOX_USER, MailServers, run_cli, write_config

MUELLER = "j.mueller@stadt-bonn.example"
SCHMIDT = "anna.schmidt@kreis-rhein-sieg.example"


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _calendar(msg: EmailMessage) -> icalendar.Calendar:
    (part,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_content())


def _inbox(servers: MailServers, user: str) -> list[EmailMessage]:
    client = servers.dovecot.imap(user)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        return [_parse(fetched[u][b"BODY[]"]) for u in sorted(uids)]
    finally:
        client.logout()


def _setup(
    servers: MailServers,
    tmp_path: Path,
    *examples: str,
    capacity: int | None = None,
    db_url: str | None = None,
) -> Path:
    config = write_config(tmp_path / "anmeldung.toml", servers, capacity=capacity, db_url=db_url)
    run_cli(config, "init")
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        for name in examples:
            append(client, "INBOX", (EXAMPLES / name).read_bytes())
    finally:
        client.logout()
    return config


def _to(mail: ReceivedMail) -> str:
    (rcpt,) = mail.rcpt_tos
    return rcpt


# -- resend -------------------------------------------------------------------------------------


def test_resend_twice_sends_twice(servers: MailServers, tmp_path: Path, db_url: str) -> None:
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml", db_url=db_url)
    assert "1 sent" in run_cli(config, "poll").out
    servers.smtp.wait_for(1)

    first = run_cli(config, "resend", MUELLER)
    assert f"{MUELLER}: queued confirmation to {MUELLER}" in first.out, first.out
    assert "outbox: 1 sent" in first.out
    second = run_cli(config, "resend", "1")  # by id this time
    assert "outbox: 1 sent" in second.out, second.out

    mails = servers.smtp.wait_for(3)
    assert [_to(m) for m in mails] == [MUELLER] * 3
    inbox = _inbox(servers, MUELLER)
    assert len(inbox) == 3
    assert len({str(m["Message-ID"]) for m in inbox}) == 3
    for msg in inbox:
        assert msg["Subject"] == "Anmeldebestätigung: Symposium Kommunale Finanzen 2027"
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert msg["Auto-Submitted"] == "auto-replied"
    # The copies carry the same calendar entry as the original.
    uids = {str(_calendar(m).walk("VEVENT")[0]["UID"]) for m in inbox}
    assert len(uids) == 1
    # Nothing left in the outbox, and a poll sends nothing more.
    assert json.loads(run_cli(config, "outbox", "--json").out) == []
    assert "0 sent" in run_cli(config, "poll").out
    assert len(servers.smtp.messages) == 3


def test_resend_unknown_registration_is_one_line(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path)
    result = run_cli(config, "resend", "nobody@example.org", check=False)
    assert result.code == 1
    assert "no registration 'nobody@example.org'" in result.err
    assert "Traceback" not in result.err


def test_resend_all_unsent_picks_up_failed_confirmations(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml", db_url=db_url)
    servers.smtp.fail_next.append((550, "5.7.1 rejected for policy reasons"))
    assert "1 failed" in run_cli(config, "poll").out
    result = run_cli(config, "resend", "--all-unsent")
    assert f"{MUELLER}: queued confirmation" in result.out, result.out
    assert "outbox: 1 sent" in result.out
    assert "nothing to resend" in run_cli(config, "resend", "--all-unsent").out


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_promotes_the_waiting_person(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    config = _setup(
        servers,
        tmp_path,
        "01-mueller-kaemmerei.eml",
        "02-schmidt-exchange.eml",
        capacity=1,
        db_url=db_url,
    )
    assert "2 sent" in run_cli(config, "poll").out
    before = {r["email"]: r["status"] for r in json.loads(run_cli(config, "list", "--json").out)}
    assert before == {MUELLER: "confirmed", SCHMIDT: "waitlisted"}

    result = run_cli(config, "cancel", MUELLER)
    assert f"cancelled #1 {MUELLER}" in result.out, result.out
    assert f"moved up from the waiting list: #2 {SCHMIDT}" in result.out
    assert "outbox: 2 sent" in result.out

    after = {r["email"]: r["status"] for r in json.loads(run_cli(config, "list", "--json").out)}
    assert after == {MUELLER: "cancelled", SCHMIDT: "confirmed"}

    servers.smtp.wait_for(4)
    mueller = _inbox(servers, MUELLER)
    assert [m["Subject"] for m in mueller] == [
        "Anmeldebestätigung: Symposium Kommunale Finanzen 2027",
        "Abmeldung bestätigt: Symposium Kommunale Finanzen 2027",
    ]
    request, cancel = (_calendar(m) for m in mueller)
    assert str(cancel["METHOD"]) == "CANCEL"
    (req_ev,), (can_ev,) = request.walk("VEVENT"), cancel.walk("VEVENT")
    assert str(can_ev["UID"]) == str(req_ev["UID"])
    assert int(can_ev["SEQUENCE"]) > int(req_ev["SEQUENCE"])
    # The cancellation threads to the attendee's own registration mail.
    assert mueller[1]["In-Reply-To"] == "<5f1c2a9e-1b7d-4c1e-9a55-0c1d2e3f4a51@stadt-bonn.example>"

    schmidt = _inbox(servers, SCHMIDT)
    assert [m["Subject"].split(":")[0] for m in schmidt] == [
        "Warteliste",
        "Platz frei – Anmeldebestätigung",
    ]
    promotion = schmidt[1]
    text = promotion.get_body(("plain",))
    assert text is not None
    assert "von der Warteliste nachgerückt" in text.get_content()
    invite = _calendar(promotion)
    assert str(invite["METHOD"]) == "REQUEST"
    (event,) = invite.walk("VEVENT")
    assert str(event["ATTENDEE"]) == f"mailto:{SCHMIDT}"
    assert str(event["ORGANIZER"]) == f"mailto:{MAILBOX_USER}"
    assert str(event["LOCATION"]) == "Altes Rathaus, Markt 2, 53111 Bonn"

    again = run_cli(config, "cancel", MUELLER, check=False)
    assert again.code == 1
    assert "already cancelled" in again.err


def test_cancel_quiet_sends_no_cancellation(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    config = _setup(
        servers,
        tmp_path,
        "01-mueller-kaemmerei.eml",
        "02-schmidt-exchange.eml",
        capacity=1,
        db_url=db_url,
    )
    run_cli(config, "poll")
    servers.smtp.wait_for(2)
    result = run_cli(config, "cancel", "1", "--quiet")
    assert "(no mail)" in result.out
    assert "outbox: 1 sent" in result.out  # only the promotion
    mails = servers.smtp.wait_for(3)
    assert [_to(m) for m in mails[2:]] == [SCHMIDT]
    assert len(_inbox(servers, MUELLER)) == 1


# -- preview ------------------------------------------------------------------------------------


def _offline_config(path: Path) -> Path:
    path.write_text(
        """
[event]
name = "Symposium Kommunale Finanzen 2027"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Altes Rathaus, Markt 2, 53111 Bonn"

[mailbox]
host = "127.0.0.1"
port = 1
security = "none"
username = "anmeldung@stadt.example"
password = "x"

[smtp]
host = "127.0.0.1"
port = 1
security = "none"
from = "Stadt Bonn – Anmeldung <anmeldung@stadt.example>"
""",
        encoding="utf-8",
    )
    return path


def test_preview_needs_no_database_or_network(tmp_path: Path) -> None:
    config = _offline_config(tmp_path / "anmeldung.toml")
    html = tmp_path / "preview.html"
    result = run_cli(config, "preview", "cancellation", "--html", str(html))
    assert "Subject: Abmeldung bestätigt: Symposium Kommunale Finanzen 2027" in result.out
    assert "Attachments: cancel.ics" in result.out
    assert "hiermit bestätigen wir die Abmeldung" in result.out
    assert "Sehr geehrte Frau Dr. Mustermann," in result.out
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Abmeldung" in page
    assert not (tmp_path / "anmeldung.db").exists()

    english = run_cli(config, "preview", "already_registered", "--lang", "en")
    assert "Subject: Already registered: Symposium Kommunale Finanzen 2027" in english.out
    assert "Dear Ms Dr. Mustermann," in english.out


def test_preview_without_any_config(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "missing.toml", "preview", "acknowledgement")
    assert "Subject: Ihre Nachricht ist eingegangen: Beispielveranstaltung" in result.out
    assert "nicht automatisch verarbeiten" in result.out


def test_preview_unknown_kind_is_a_usage_error(tmp_path: Path) -> None:
    config = _offline_config(tmp_path / "anmeldung.toml")
    result = run_cli(config, "preview", "reminder", check=False)
    assert result.code == 2
    assert "already_registered" in result.err


def test_preview_of_a_real_registration(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml")
    run_cli(config, "poll")
    result = run_cli(config, "preview", "promotion", "--registration", MUELLER)
    assert "Dr. Jürgen Müller" in result.out.split("\n\n", 1)[1]  # in the greeting
    assert MUELLER in result.out
    assert json.loads(run_cli(config, "outbox", "--json").out) == []  # nothing queued


# -- outbox -------------------------------------------------------------------------------------


def test_outbox_lists_a_failed_row(servers: MailServers, tmp_path: Path, db_url: str) -> None:
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml", db_url=db_url)
    assert "outbox is empty" in run_cli(config, "outbox").out
    servers.smtp.fail_next.append((550, "5.1.1 mailbox unavailable"))
    assert "1 failed" in run_cli(config, "poll").out

    rows = json.loads(run_cli(config, "outbox", "--json").out)
    assert len(rows) == 1
    (row,) = rows
    assert row["status"] == "failed"
    assert row["kind"] == "confirmation"
    assert row["recipient"] == MUELLER
    assert row["attempts"] == 1
    assert row["next_attempt_at"] is None
    assert "550" in row["last_error"]
    assert "mailbox unavailable" in row["last_error"]

    table = run_cli(config, "outbox").out
    assert "failed" in table
    assert "attempts 1" in table
    assert "1 mail(s) not sent" in table


def test_outbox_shows_retry_with_next_try(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path, "01-mueller-kaemmerei.eml")
    servers.smtp.fail_next.append((451, "4.3.0 try again later"))
    assert "1 to retry" in run_cli(config, "poll").out
    (row,) = json.loads(run_cli(config, "outbox", "--json").out)
    assert row["status"] == "retry"
    assert row["next_attempt_at"]
    assert "451" in row["last_error"]


# -- the same through the mailbox ---------------------------------------------------------------


def _mail(sender: str, name: str, subject: str, body: str, message_id: str) -> bytes:
    return (
        f"From: {name} <{sender}>\r\nTo: {MAILBOX_USER}\r\nSubject: {subject}\r\n"
        f"Date: Tue, 24 Nov 2026 10:00:00 +0100\r\nMessage-ID: <{message_id}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


def test_cancellation_and_repeat_by_mail(servers: MailServers, tmp_path: Path, db_url: str) -> None:
    config = _setup(
        servers,
        tmp_path,
        "01-mueller-kaemmerei.eml",
        "02-schmidt-exchange.eml",
        capacity=1,
        db_url=db_url,
    )
    run_cli(config, "poll")
    servers.smtp.wait_for(2)
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        for n in (1, 2):  # the waiting person writes twice more: one "already registered" reply
            append(
                client,
                "INBOX",
                _mail(
                    SCHMIDT,
                    "Anna Schmidt",
                    "Anmeldung Symposium",
                    "Hiermit melde ich mich zum Symposium an.\r\n\r\nGrüße\r\nAnna Schmidt",
                    f"again-{n}@kreis-rhein-sieg.example",
                ),
            )
        append(
            client,
            "INBOX",
            _mail(
                MUELLER,
                "Jürgen Müller",
                "Abmeldung Symposium",
                "Leider kann ich nicht teilnehmen.\r\n\r\nMit freundlichen Grüßen\r\nJürgen Müller",
                "cancel-1@stadt-bonn.example",
            ),
        )
    finally:
        client.logout()
    out = run_cli(config, "poll").out
    assert "3 sent" in out, out  # already registered, cancellation, promotion

    mails = servers.smtp.wait_for(5)
    got = sorted((_to(m), _parse(m.data)["Subject"].split(":")[0]) for m in mails[2:])
    assert got == [
        (SCHMIDT, "Bereits angemeldet"),
        (SCHMIDT, "Platz frei – Anmeldebestätigung"),
        (MUELLER, "Abmeldung bestätigt"),
    ]
    cancellation = next(_parse(m.data) for m in mails[2:] if _to(m) == MUELLER)
    assert cancellation["In-Reply-To"] == "<cancel-1@stadt-bonn.example>"
    assert str(_calendar(cancellation)["METHOD"]) == "CANCEL"
    statuses = {r["email"]: r["status"] for r in json.loads(run_cli(config, "list", "--json").out)}
    assert statuses == {MUELLER: "cancelled", SCHMIDT: "confirmed"}
    # A second poll sends nothing more.
    assert "0 sent" in run_cli(config, "poll").out
    assert len(servers.smtp.messages) == 5
