"""A bounce of our confirmation, end to end: Dovecot, the real CLI, SQLite, the SMTP sink.

The confirmation goes out over SMTP; the remote MTA's bounce arrives in our mailbox from
MAILER-DAEMON with a null envelope sender (delivered over LMTP with ``MAIL FROM:<>``); the next
poll marks the registration unreachable, shows it in `export` and `list`, and answers nothing.
A delay notice changes nothing.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path
from typing import Any

from anmeldung.devservers import append
from conftest import EXAMPLES, MAILBOX_USER, MailServers, db_rows, run_cli, write_config

MUELLER = "j.mueller@stadt-bonn.example"
YILDIZ = "ayse.yildiz@city-of-leeds.example"


_rows = db_rows


def _export(config: Path) -> dict[str, dict[str, Any]]:
    return {r["email"]: r for r in json.loads(run_cli(config, "export", "--format", "json").out)}


def _confirmed(servers: MailServers, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Two people register and are confirmed; returns the config and our Message-IDs by address."""
    config = write_config(tmp_path / "anmeldung.toml", servers)
    run_cli(config, "init")
    client = servers.dovecot.imap(MAILBOX_USER)
    for name in ("01-mueller-kaemmerei.eml", "05-yildiz-english.eml"):
        append(client, "INBOX", (EXAMPLES / name).read_bytes())
    client.logout()
    poll = run_cli(config, "poll")
    assert "2 recorded (registration 2)" in poll.out, poll.out
    assert "outbox: 2 sent" in poll.out, poll.out
    ids: dict[str, str] = {}
    for mail in servers.smtp.wait_for(2):
        msg = email.message_from_bytes(mail.data, policy=email.policy.default)
        ids[mail.rcpt_tos[0]] = str(msg["Message-ID"])
    assert set(ids) == {MUELLER, YILDIZ}
    assert all(i.startswith("<") and i.endswith("@stadt.example>") for i in ids.values())
    return config, ids


def _dsn(
    message_id: str,
    recipient: str,
    *,
    action: str,
    status: str,
    subject: str,
    notice: str,
    dsn_id: str,
    extra: str = "",
) -> bytes:
    """A Postfix-style RFC 3464 report, returning the headers of our original message."""
    boundary = "4Xyz1Q2w3e.1764064800/mx.stadt-bonn.example"
    return (
        "Return-Path: <>\r\n"
        "Received: by mx.stadt-bonn.example (Postfix) id 4Xyz1Q2w3e; "
        "Wed, 25 Nov 2026 11:00:00 +0100 (CET)\r\n"
        "Date: Wed, 25 Nov 2026 11:00:00 +0100 (CET)\r\n"
        "From: MAILER-DAEMON@mx.stadt-bonn.example (Mail Delivery System)\r\n"
        f"Subject: {subject}\r\n"
        f"To: {MAILBOX_USER}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n"
        f"Message-Id: <{dsn_id}@mx.stadt-bonn.example>\r\n"
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.stadt-bonn.example.\r\n"
        "\r\n"
        f"{notice}\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.stadt-bonn.example\r\n"
        "X-Postfix-Queue-ID: 4Xyz1Q2w3e\r\n"
        "X-Postfix-Sender: rfc822; anmeldung@stadt.example\r\n"
        "Arrival-Date: Wed, 25 Nov 2026 10:59:58 +0100 (CET)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"{extra}"
        "Remote-MTA: dns; mailstore.stadt-bonn.example\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "Return-Path: <anmeldung@stadt.example>\r\n"
        "From: =?utf-8?q?Stadt_Bonn_=E2=80=93_Anmeldung?= <anmeldung@stadt.example>\r\n"
        f"To: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <{recipient}>\r\n"
        "Subject: =?utf-8?q?Anmeldebest=C3=A4tigung=3A_Symposium_Kommunale_Finanzen_2027?=\r\n"
        "Auto-Submitted: auto-replied\r\n"
        f"Message-ID: {message_id}\r\n"
        "In-Reply-To: <5f1c2a9e-1b7d-4c1e-9a55-0c1d2e3f4a51@stadt-bonn.example>\r\n"
        "\r\n"
        f"--{boundary}--\r\n"
    ).encode("ascii")


def test_dsn_bounce_of_the_confirmation_marks_the_registration_unreachable(
    servers: MailServers, tmp_path: Path
) -> None:
    config, ids = _confirmed(servers, tmp_path)
    sent = len(servers.smtp.messages)
    before = _export(config)
    assert before[MUELLER]["unreachable_at"] is None
    assert before[MUELLER]["bounce_reason"] is None

    # 1. A delay notice (4.4.1, still retrying) is recorded as a bounce and changes nothing.
    delayed = _dsn(
        ids[MUELLER],
        MUELLER,
        action="delayed",
        status="4.4.1",
        subject="Delayed Mail (still being retried)",
        notice="####################################################################\r\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
        "####################################################################\r\n\r\n"
        "Your message could not be delivered for more than 4 hour(s).\r\n"
        "It will be retried until it is 5 day(s) old.",
        dsn_id="20261125100000.4Xyz1Q2w3e-delay",
        extra="Will-Retry-Until: Mon, 30 Nov 2026 10:59:58 +0100 (CET)\r\n"
        "Diagnostic-Code: X-Postfix; connect to mailstore.stadt-bonn.example[10.0.0.5]:25:"
        " Connection timed out\r\n",
    )
    servers.dovecot.deliver(MAILBOX_USER, delayed, mail_from="")
    poll = run_cli(config, "poll")
    assert "1 recorded (bounce 1)" in poll.out, poll.out
    assert "0 to review" in poll.out, poll.out
    assert "outbox: 0 sent" in poll.out, poll.out
    after_delay = _export(config)
    assert after_delay[MUELLER]["unreachable_at"] is None
    assert after_delay[MUELLER]["bounce_reason"] is None
    assert after_delay[MUELLER]["status"] == "confirmed"
    assert "(unreachable)" not in run_cli(config, "list").out

    # 2. The permanent failure (5.1.1 user unknown) marks exactly this registration.
    failed = _dsn(
        ids[MUELLER],
        MUELLER,
        action="failed",
        status="5.1.1",
        subject="Undelivered Mail Returned to Sender",
        notice="I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients. It's attached below.\r\n\r\n"
        f"<{MUELLER}>: host mailstore.stadt-bonn.example[10.0.0.5] said: 550 5.1.1\r\n"
        f"    <{MUELLER}>: Recipient address rejected: User unknown in virtual\r\n"
        "    mailbox table (in reply to RCPT TO command)",
        dsn_id="20261125110000.4Xyz1Q2w3e",
        extra=f"Diagnostic-Code: smtp; 550 5.1.1 <{MUELLER}>: Recipient address rejected:"
        " User unknown in virtual mailbox table\r\n",
    )
    servers.dovecot.deliver(MAILBOX_USER, failed, mail_from="")
    poll = run_cli(config, "poll")
    assert "1 recorded (bounce 1)" in poll.out, poll.out
    assert "0 to review" in poll.out, poll.out
    assert "outbox: 0 sent" in poll.out, poll.out

    exported = _export(config)
    hit = exported[MUELLER]
    assert hit["unreachable_at"], hit
    assert hit["unreachable_at"].endswith("Z"), hit
    assert hit["bounce_reason"] == f"bounce_dsn_failed: {MUELLER}", hit
    assert hit["status"] == "confirmed"  # still registered: a person decides what to do
    assert exported[YILDIZ]["unreachable_at"] is None  # the other confirmation was not bounced
    assert exported[YILDIZ]["bounce_reason"] is None
    listed = run_cli(config, "list", "--json").out
    assert {r["email"]: r["unreachable_at"] is not None for r in json.loads(listed)} == {
        MUELLER: True,
        YILDIZ: False,
    }
    table = run_cli(config, "list").out
    assert table.count("(unreachable)") == 1, table
    csv_text = run_cli(config, "export", "--format", "csv").out
    assert "unreachable_at" in csv_text.splitlines()[0]

    # Our outbox row notes the bounce; nobody was answered (not MAILER-DAEMON, not <>).
    assert _rows(
        tmp_path, "SELECT last_error FROM outbox WHERE message_id = ?", ids[MUELLER].strip("<>")
    ) == [(f"bounced: {MUELLER}",)]
    assert len(servers.smtp.messages) == sent
    bounces = _rows(
        tmp_path,
        "SELECT m.kind, m.reason, m.status, (SELECT count(*) FROM outbox o "
        "WHERE o.inbound_id = m.id) FROM messages m WHERE m.kind = 'bounce' ORDER BY m.id",
    )
    assert [(b[0], b[2], b[3]) for b in bounces] == [("bounce", "ignored", 0)] * 2, bounces
    assert [b[1] for b in bounces] == ["bounce_dsn_delayed", "bounce_dsn_failed"], bounces

    # A repeat of the same bounce (the MTA retried its notice) changes nothing further.
    servers.dovecot.deliver(MAILBOX_USER, failed, mail_from="")
    poll = run_cli(config, "poll")
    assert "1 already known" in poll.out, poll.out
    assert _export(config)[MUELLER]["unreachable_at"] == hit["unreachable_at"]
    assert len(servers.smtp.messages) == sent


def test_exchange_ndr_without_dsn_marks_the_registration_unreachable(
    servers: MailServers, tmp_path: Path
) -> None:
    """Exchange/Office 365 non-delivery report: plain text, our Message-ID in quoted headers."""
    config, ids = _confirmed(servers, tmp_path)
    sent = len(servers.smtp.messages)
    ndr = (
        "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"
        "@stadt-bonn.example>\r\n"
        f"To: {MAILBOX_USER}\r\n"
        "Subject: =?utf-8?q?Unzustellbar=3A_Anmeldebest=C3=A4tigung=3A_Symposium_Kommunale_"
        "Finanzen_2027?=\r\n"
        "Date: Wed, 25 Nov 2026 10:00:05 +0000\r\n"
        "Message-ID: <ndr-7c1a2b30@EXCH01.stadt-bonn.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "Delivery has failed to these recipients or groups:\r\n"
        "\r\n"
        f"{MUELLER} ({MUELLER})\r\n"
        "The e-mail address you entered couldn't be found. Please check the recipient's\r\n"
        "e-mail address and try to resend the message. If the problem continues, please\r\n"
        "contact your helpdesk.\r\n"
        "\r\n"
        "Diagnostic information for administrators:\r\n"
        "\r\n"
        "Generating server: EXCH01.stadt-bonn.example\r\n"
        "\r\n"
        f"{MUELLER}\r\n"
        "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\r\n"
        "\r\n"
        "Original message headers:\r\n"
        "\r\n"
        "Received: from mail.stadt.example (192.0.2.10) by EXCH01.stadt-bonn.example\r\n"
        " with Microsoft SMTP Server id 15.1.2507.39; Wed, 25 Nov 2026 10:00:04 +0000\r\n"
        "From: anmeldung@stadt.example\r\n"
        f"To: {MUELLER}\r\n"
        "Subject: Anmeldebestaetigung: Symposium Kommunale Finanzen 2027\r\n"
        f"Message-ID: {ids[MUELLER]}\r\n"
        "Auto-Submitted: auto-replied\r\n"
    ).encode("ascii")
    servers.dovecot.deliver(MAILBOX_USER, ndr, mail_from="")
    poll = run_cli(config, "poll")
    assert "1 recorded (bounce 1)" in poll.out, poll.out
    assert "outbox: 0 sent" in poll.out, poll.out
    exported = _export(config)
    assert exported[MUELLER]["unreachable_at"] is not None
    assert MUELLER in exported[MUELLER]["bounce_reason"]
    assert exported[YILDIZ]["unreachable_at"] is None
    assert _rows(
        tmp_path, "SELECT last_error FROM outbox WHERE message_id = ?", ids[MUELLER].strip("<>")
    ) == [(f"bounced: {MUELLER}",)]
    assert len(servers.smtp.messages) == sent
