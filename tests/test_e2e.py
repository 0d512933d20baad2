"""The registration loop end to end: Dovecot, the real CLI, SQLite or PostgreSQL, SMTP, the
attendee's mailbox."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

from anmeldung.devservers import append
from conftest import EXAMPLES, MAILBOX_USER, MailServers, db_rows, run_cli, write_config


def _folder_uids(servers: MailServers, folder: str) -> list[int]:
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        return list(client.search(["ALL"]))
    finally:
        client.logout()


def test_registration_loop(servers: MailServers, tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path / "anmeldung.toml", servers, db_url=db_url)
    examples = sorted(EXAMPLES.glob("*.eml"))
    assert len(examples) >= 5
    client = servers.dovecot.imap(MAILBOX_USER)
    for path in examples:
        append(client, "INBOX", path.read_bytes())
    client.logout()

    assert "database upgraded" in run_cli(config, "init").out
    assert "up to date" in run_cli(config, "init").out  # safe to run twice

    first = run_cli(config, "poll")
    assert f"{len(examples)} recorded" in first.out, first.out
    assert f"{len(examples)} sent" in first.out, first.out

    # Database: every message recorded with its raw bytes, one registration each.
    rows = db_rows(
        db_url, "SELECT mailbox, uidvalidity, uid, message_id, raw, status FROM messages"
    )
    assert len(rows) == len(examples)
    assert all(r[1] and r[2] and r[4] for r in rows)
    assert {r[5] for r in rows} == {"processed"}
    regs = dict(db_rows(db_url, "SELECT email, name FROM registrations"))
    assert regs["j.mueller@stadt-bonn.example"]
    assert "ayse.yildiz@city-of-leeds.example" in regs
    sent = db_rows(db_url, "SELECT count(*) FROM outbox WHERE status = 'sent'")
    assert sent[0][0] == len(examples)

    # Mailbox: the watched folder is empty, everything is in the processed folder.
    assert _folder_uids(servers, "INBOX") == []
    assert len(_folder_uids(servers, "Erledigt")) == len(examples)

    # The attendee's own mailbox holds the confirmation, delivered over SMTP -> LMTP.
    attendee = "j.mueller@stadt-bonn.example"
    client = servers.dovecot.imap(attendee)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    assert len(uids) == 1
    raw = client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
    client.logout()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Anmeldebestätigung: Symposium Kommunale Finanzen 2027"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<5f1c2a9e-1b7d-4c1e-9a55-0c1d2e3f4a51@stadt-bonn.example>"
    assert str(msg["Message-ID"]).endswith("@stadt.example>")
    text = msg.get_body(("plain",)).get_content()
    assert "vielen Dank für Ihre Anmeldung" in text
    assert "Donnerstag, 18. März 2027" in text
    assert msg.get_body(("html",)) is not None

    # A second poll handles nothing and sends nothing.
    sent_before = len(servers.smtp.messages)
    second = run_cli(config, "poll")
    assert "0 waiting, 0 recorded" in second.out, second.out
    assert "0 sent" in second.out
    assert len(servers.smtp.messages) == sent_before

    # Exports carry the contract fields.
    exported = json.loads(run_cli(config, "export", "--format", "json").out)
    assert len(exported) == len(examples)
    for field in (
        "id",
        "email",
        "name",
        "title",
        "organisation",
        "status",
        "registered_at",
        "confirmation_sent_at",
        "message_id",
    ):
        assert field in exported[0]
    assert {r["status"] for r in exported} == {"confirmed"}
    assert all(r["confirmation_sent_at"] for r in exported)
    listing = run_cli(config, "list").out
    assert "5 confirmed" in listing


def test_poll_fails_clearly_when_mailbox_is_unreachable(
    servers: MailServers, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "anmeldung.toml", servers)
    run_cli(config, "init")
    servers.dovecot.stop()
    result = run_cli(config, "poll", check=False)
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.startswith("anmeldung: error:")]
    assert len(lines) == 1, result.err
    assert "IMAP server 127.0.0.1" in lines[0]
    assert "Traceback" not in result.err


def test_poll_fails_clearly_on_wrong_password(servers: MailServers, tmp_path: Path) -> None:
    config = write_config(tmp_path / "anmeldung.toml", servers)
    text = config.read_text().replace(
        f'password = "{servers.dovecot.password}"', 'password = "wrong"'
    )
    config.write_text(text)
    run_cli(config, "init")
    result = run_cli(config, "poll", check=False)
    assert result.code != 0
    assert "refused the login" in result.err
    assert "wrong" not in result.err  # the password never shows


def test_smtp_down_keeps_confirmation_queued(
    servers: MailServers, tmp_path: Path, db_url: str
) -> None:
    config = write_config(tmp_path / "anmeldung.toml", servers, db_url=db_url)
    run_cli(config, "init")
    client = servers.dovecot.imap(MAILBOX_USER)
    append(client, "INBOX", (EXAMPLES / "01-mueller-kaemmerei.eml").read_bytes())
    client.logout()
    servers.smtp.stop()
    result = run_cli(config, "poll", check=False)
    assert result.code != 0
    assert "SMTP server" in result.err
    servers.smtp.start()
    run_cli(config, "poll")
    got = servers.smtp.wait_for(1)
    assert len(got) == 1
    assert got[0].rcpt_tos == ["j.mueller@stadt-bonn.example"]
