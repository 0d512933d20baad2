"""A sample daily report as it arrives in the organisers' mailbox, from a seeded event.

Throwaway Dovecot + SMTP sink on loopback (as in the demo). Two weeks of earlier registrations
are written straight into the database (for the chart: only their dates matter); the day of
the report goes through the real pipeline with `anmeldung poll`: the example mails, a send
failure, a waiting list that moves up, an out-of-office reply, a question for review, a
bounce, a reply held back by the loop fuse and a refused login. Then every time stamp of that
day is moved back to just before the latest report time (so the report covers a complete
period), `anmeldung report daily --send` mails the report, and the message is read back from
the organisers' mailbox over IMAP. Written to OUT (default /tmp/report-sample):

  daily.eml   the whole message as received      daily.html  its HTML part, as received
  daily.txt   its plain-text part                 daily.json  `report daily --json`
  daily.png   the chart                           daily-browser.html  the HTML with the chart
                                                                      file, for a browser
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import os
import shutil
import subprocess
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from anmeldung.config import load_config
from anmeldung.daily import latest_report_date, report_period
from anmeldung.db import Database
from anmeldung.devservers import DovecotServer, SmtpSink, find_dovecot
from anmeldung.models import InboundMessage, MailboxState, OutboxMessage, PollRun, Registration

REPO = Path(__file__).resolve().parents[1]
MAILBOX = "anmeldung@stadt.example"
ORGANISER = "team@stadt.example"
CAPACITY = 34

FIRST = "Katrin Thomas Sabine Michael Julia Stefan Monika Andreas Petra Frank Claudia Jens".split()
LAST = (
    "Albers Brandt Engel Fuchs Graf Haas Jansen Kaiser Lorenz Möller Otto Pohl Roth Seidel".split()
)
PLACES = "Siegburg Troisdorf Königswinter Meckenheim Rheinbach Hennef Brühl Euskirchen".split()
# Registrations per day, the last one two days before the report day (the chart's history).
HISTORY = (0, 1, 3, 2, 0, 0, 4, 6, 5, 3, 0, 1, 8)


def cli(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "anmeldung", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"$ anmeldung {' '.join(args)}\n{proc.stdout[:400]}{proc.stderr[:400]}", flush=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"`anmeldung {' '.join(args)}` failed with exit {proc.returncode}")
    return proc


def mail(sender: str, name: str, subject: str, body: str, mid: str, headers: str = "") -> bytes:
    text = (
        f"From: {name} <{sender}>\nTo: {MAILBOX}\nSubject: {subject}\n"
        f"Date: Thu, 03 Dec 2026 10:00:00 +0100\nMessage-ID: <{mid}>\n{headers}"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: 8bit\n\n{body}"
    )
    return text.replace("\n", "\r\n").encode()


def dsn(original_id: str, recipient: str) -> bytes:
    """A Postfix-style RFC 3464 bounce of one of our confirmations."""
    b = "B0UNDARY.mx.kreis-rhein-sieg.example"
    return (
        "From: MAILER-DAEMON@mx.kreis-rhein-sieg.example (Mail Delivery System)\r\n"
        f"To: {MAILBOX}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Date: Thu, 03 Dec 2026 11:00:00 +0100\r\nAuto-Submitted: auto-replied\r\n"
        "Message-Id: <sample-dsn-1@mx.kreis-rhein-sieg.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"\r\n\r\n'
        f"--{b}\r\nContent-Type: text/plain\r\n\r\n"
        f"<{recipient}>: host mx said: 550 5.1.1 User unknown\r\n\r\n"
        f"--{b}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.kreis-rhein-sieg.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: User unknown\r\n\r\n"
        f"--{b}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {MAILBOX}\r\nTo: {recipient}\r\nMessage-ID: {original_id}\r\n\r\n--{b}--\r\n"
    ).encode()


def write_config(path: Path, dovecot: DovecotServer, sink: SmtpSink, password: str) -> Path:
    path.write_text(
        f"""
[event]
name = "Symposium Kommunale Finanzen 2027"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Altes Rathaus, Markt 2, 53111 Bonn"
capacity = {CAPACITY}
[mailbox]
host = "127.0.0.1"
port = {dovecot.imap_port}
security = "none"
username = "{MAILBOX}"
password = "{password}"
idle = false
[smtp]
host = "127.0.0.1"
port = {sink.port}
security = "none"
from = "Stadt Bonn – Anmeldung Symposium <{MAILBOX}>"
[database]
url = "sqlite:///{path.parent / "anmeldung.db"}"
[schedule]
daily_report = "07:30"
timezone = "Europe/Berlin"
[report]
recipients = ["Organisationsteam Symposium <{ORGANISER}>"]
[limits]
replies_per_address_per_day = 1
""",
        encoding="utf-8",
    )
    return path


def seed_history(db: Database, report_day: dt.date, tz: dt.tzinfo) -> None:
    """Earlier registrations, only for the chart; two of them cancelled since."""
    n = 0
    with db.transaction() as s:
        for i, count in enumerate(HISTORY):
            # Ending the day before the period starts, so the report's day is the live one.
            day = report_day - dt.timedelta(days=len(HISTORY) + 1 - i)
            for k in range(count):
                first, last = FIRST[n % len(FIRST)], LAST[(n * 5) % len(LAST)]
                at = dt.datetime.combine(day, dt.time(9 + k % 8, 7 * k % 60), tzinfo=tz)
                address = (
                    f"{first.lower()}.{last.lower()}@{PLACES[n % len(PLACES)].lower()}.example"
                )
                address = address.replace("ö", "oe").replace("ü", "ue")
                s.add(
                    Registration(
                        email=address,
                        contact_email=address,
                        name=f"{first} {last}",
                        title="Dr." if n % 7 == 3 else None,
                        organisation=f"Stadt {PLACES[n % len(PLACES)]}",
                        status="cancelled" if n in (4, 17) else "confirmed",
                        registered_at=at.astimezone(dt.UTC),
                        cancelled_at=(at + dt.timedelta(days=1)).astimezone(dt.UTC)
                        if n in (4, 17)
                        else None,
                    )
                )
                n += 1


def shift_day_back(db: Database, since: dt.datetime, delta: dt.timedelta) -> None:
    """Move every time stamp written since ``since`` back by ``delta`` (into the period)."""
    columns = {
        InboundMessage: ("received_at",),
        Registration: ("registered_at", "cancelled_at", "unreachable_at", "confirmation_sent_at"),
        OutboxMessage: ("created_at", "sent_at", "next_attempt_at"),
        PollRun: ("started_at", "finished_at"),
        MailboxState: ("last_success_at", "last_error_at"),
    }
    with db.transaction() as s:
        for model, names in columns.items():
            for row in s.scalars(select(model)):
                for name in names:
                    value = getattr(row, name)
                    if value is not None and value >= since:
                        setattr(row, name, value - delta)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/report-sample"))  # noqa: S108
    parser.add_argument("--lang", choices=("de", "en"), default="de")
    args = parser.parse_args()
    if find_dovecot() is None:
        print("report_sample: Dovecot is missing; run `make deps`", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="anmeldung-report-"))
    dovecot = DovecotServer(work / "dovecot")
    sink = SmtpSink(forward_to=dovecot)
    try:
        dovecot.start()
        sink.start()
        config = write_config(work / "anmeldung.toml", dovecot, sink, dovecot.password)
        cli(config, "init")
        cfg = load_config(config)
        tz = cfg.schedule.tz
        started = dt.datetime.now(dt.UTC)
        report_day = latest_report_date(started, cfg.schedule.daily_report, tz)
        db = Database(cfg.database.url)
        seed_history(db, report_day, tz)

        ex = REPO / "examples"
        # 1. One registration whose confirmation the SMTP server refuses for good.
        dovecot.deliver(MAILBOX, (ex / "05-yildiz-english.eml").read_bytes())
        sink.fail_next.append(
            (550, "5.1.1 <ayse.yildiz@city-of-leeds.example>: mailbox unavailable")
        )
        cli(config, "poll")
        # 2. Four more (the last places, then the waiting list), an out-of-office reply and a
        #    question for a person.
        for name in ("01-mueller-kaemmerei.eml", "02-schmidt-exchange.eml",
                     "03-professor-8bit.eml", "04-wojcik-outlook-html.eml"):  # fmt: skip
            dovecot.deliver(MAILBOX, (ex / name).read_bytes())
        dovecot.deliver(MAILBOX, mail(
            "b.krause@kreis-euskirchen.example", "Birgit Krause", "Abwesenheitsnotiz: Einladung",
            "Ich bin bis zum 14.12. nicht im Büro. In dringenden Fällen wenden Sie sich an …\n",
            "ooo-krause@kreis-euskirchen.example", "Auto-Submitted: auto-replied\n"))  # fmt: skip
        dovecot.deliver(MAILBOX, mail(
            "m.yilmaz@gemeinde-alfter.example", "Mehmet Yılmaz", "Frage zur Anreise",
            "Guten Tag,\n\ngibt es am Alten Rathaus Parkplätze, oder sollte ich besser mit der "
            "Bahn kommen?\n\nViele Grüße\nMehmet Yılmaz\n",
            "frage-yilmaz@gemeinde-alfter.example"))  # fmt: skip
        cli(config, "poll")
        ours = {}
        for m in sink.messages:
            sent = email.message_from_bytes(m.data, policy=email.policy.default)
            ours[m.rcpt_tos[0]] = str(sent["Message-ID"])
        # 3. Someone from the history cancels (the waiting list moves up), Anna Schmidt's
        #    confirmation bounces, and Dr. Müller registers again (the fuse holds the reply).
        dovecot.deliver(MAILBOX, mail(
            "katrin.albers@siegburg.example", "Katrin Albers", "Abmeldung Symposium",
            "Sehr geehrte Damen und Herren,\n\nleider muss ich meine Anmeldung zum Symposium "
            "stornieren.\n\nMit freundlichen Grüßen\nKatrin Albers\n",
            "abmeldung-albers@siegburg.example"))  # fmt: skip
        schmidt = "anna.schmidt@kreis-rhein-sieg.example"
        dovecot.deliver(MAILBOX, dsn(ours[schmidt], schmidt), mail_from="")
        dovecot.deliver(MAILBOX, mail(
            "j.mueller@stadt-bonn.example", "Jürgen Müller", "Anmeldung Symposium",
            "Sehr geehrte Damen und Herren,\n\nhiermit melde ich mich zum Symposium an.\n\n"
            "Mit freundlichen Grüßen\nDr. Jürgen Müller\nStadtkämmerei Bonn\n",
            "nochmal-mueller@stadt-bonn.example"))  # fmt: skip
        cli(config, "poll")
        # 4. A poll with a wrong password.
        wrong = write_config(work / "wrong.toml", dovecot, sink, "falsch")
        cli(wrong, "poll", check=False)

        # All of that happened "just now"; move it to the minutes before the report time.
        due = report_period(report_day, cfg.schedule.daily_report, tz).end
        now = dt.datetime.now(dt.UTC)
        delta = now - (due - dt.timedelta(minutes=2))
        shift_day_back(db, started - dt.timedelta(seconds=1), delta)
        db.dispose()

        date = report_day.isoformat()
        before = len(sink.messages)
        cli(config, "report", "daily", "--date", date, "--send", "--lang", args.lang)
        sink.wait_for(before + 1)
        report_json = cli(config, "report", "daily", "--date", date, "--json").stdout

        client = dovecot.imap(ORGANISER)
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        raw = client.fetch(uids[-1:], ["BODY.PEEK[]"])[uids[-1]][b"BODY[]"]
        client.logout()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        text, html = msg.get_body(("plain",)), msg.get_body(("html",))
        [png] = [p for p in msg.walk() if p.get_content_type() == "image/png"]
        assert text is not None
        assert html is not None
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
        (out / "daily.eml").write_bytes(raw)
        (out / "daily.txt").write_text(
            f"Subject: {msg['Subject']}\n\n{text.get_content()}", encoding="utf-8"
        )
        (out / "daily.html").write_text(html.get_content(), encoding="utf-8")
        (out / "daily.png").write_bytes(png.get_content())
        (out / "daily-browser.html").write_text(
            html.get_content().replace("cid:tageschart", "daily.png"), encoding="utf-8"
        )
        (out / "daily.json").write_text(report_json, encoding="utf-8")
        print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    finally:
        sink.stop()
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.pop("ANMELDUNG_CONFIG", None)
    sys.exit(main())
