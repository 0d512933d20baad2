"""`anmeldung import` through the real CLI: .eml folders, Maildirs and mboxes into SQLite and out
over SMTP, the same as mail read from IMAP; importing twice records and sends nothing new."""

from __future__ import annotations

import mailbox
import shutil
from pathlib import Path

from conftest import EXAMPLES, MAILBOX_USER, MailServers, db_rows, run_cli, write_config


def _mail(sender: str, name: str, message_id: str, body: str) -> bytes:
    text = (
        f"From: {name} <{sender}>\n"
        f"To: {MAILBOX_USER}\n"
        "Subject: Anmeldung zum Symposium Kommunale Finanzen\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0100\n"
        f"Message-ID: <{message_id}>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        f"{body}"
    )
    return text.encode("utf-8")


_rows = db_rows


def _registrations(tmp_path: Path) -> dict[str, str]:
    return dict(_rows(tmp_path, "SELECT email, name FROM registrations"))  # type: ignore[arg-type]


def _setup(servers: MailServers, tmp_path: Path) -> Path:
    config = write_config(tmp_path / "anmeldung.toml", servers)
    run_cli(config, "init")
    return config


def test_import_folder_of_eml_files_with_a_broken_and_an_empty_file(
    servers: MailServers, tmp_path: Path
) -> None:
    config = _setup(servers, tmp_path)
    folder = tmp_path / "backlog"
    (folder / "sub").mkdir(parents=True)
    examples = sorted(EXAMPLES.glob("*.eml"))
    for path in examples[:3]:
        shutil.copy(path, folder / path.name)
    for path in examples[3:]:
        shutil.copy(path, folder / "sub" / path.name)  # folders are walked recursively
    (folder / "zz-garbage.eml").write_bytes(bytes(range(256)) * 8 + b"\x00\xff\xfe" * 100)
    (folder / "zz-empty.eml").write_bytes(b"")
    (folder / ".hidden.eml").write_bytes(examples[0].read_bytes())  # dotfiles are skipped

    first = run_cli(config, "import", str(folder))
    assert first.code == 0
    n = len(examples)
    assert f"imported {n + 2} message(s): {n + 2} recorded" in first.out, first.out
    assert "registration 5" in first.out, first.out
    assert "2 to review" in first.out, first.out
    assert f"outbox: {n} sent, 0 to retry, 0 failed" in first.out, first.out

    regs = _registrations(tmp_path)
    assert len(regs) == n
    assert "j.mueller@stadt-bonn.example" in regs
    assert "ayse.yildiz@city-of-leeds.example" in regs
    got = servers.smtp.wait_for(n)
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(regs)
    assert all(m.mail_from == MAILBOX_USER for m in got)

    # The broken files are recorded for review with a reason; the label names the file.
    review = _rows(
        tmp_path,
        "SELECT mailbox, reason, status, raw FROM messages WHERE status = 'review' "
        "ORDER BY mailbox",
    )
    assert [Path(r[0].removeprefix("import:")).name for r in review] == [
        "zz-empty.eml",
        "zz-garbage.eml",
    ]
    assert all(r[1] for r in review), review  # a reason, never empty
    listed = run_cli(config, "review").out
    assert "2 message(s) to review" in listed, listed

    # Again: everything is known, nothing recorded, nothing sent.
    second = run_cli(config, "import", str(folder))
    assert f"imported {n + 2} message(s): 0 recorded (none), {n + 2} already known" in (
        second.out
    ), second.out
    assert "outbox: 0 sent" in second.out
    assert len(servers.smtp.messages) == n
    assert _rows(tmp_path, "SELECT count(*) FROM messages")[0][0] == n + 2


def test_import_maildir_with_no_send_then_poll_sends(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path)
    md = mailbox.Maildir(tmp_path / "Maildir", create=True)
    examples = sorted(EXAMPLES.glob("*.eml"))
    for path in examples[:2]:
        md.add(path.read_bytes())  # one in new/
    seen = mailbox.MaildirMessage(examples[2].read_bytes())
    seen.set_subdir("cur")
    seen.add_flag("S")
    md.add(seen)  # one already read, in cur/ with flags in its name
    md.close()

    first = run_cli(config, "import", "--no-send", str(tmp_path / "Maildir"))
    assert "imported 3 message(s): 3 recorded (registration 3)" in first.out, first.out
    assert "outbox" not in first.out  # --no-send: queued only
    assert len(_registrations(tmp_path)) == 3
    assert _rows(tmp_path, "SELECT count(*) FROM outbox WHERE status = 'queued'")[0][0] == 3
    assert servers.smtp.messages == []
    assert {r[0] for r in _rows(tmp_path, "SELECT mailbox FROM messages")} >= {
        f"import:{tmp_path / 'Maildir'}#{key}" for key in md.iterkeys()
    }

    # The next poll (an empty INBOX) flushes the queue.
    poll = run_cli(config, "poll")
    assert "mailbox: 0 waiting" in poll.out, poll.out
    assert "outbox: 3 sent" in poll.out, poll.out
    assert len(servers.smtp.wait_for(3)) == 3

    again = run_cli(config, "import", str(tmp_path / "Maildir"))
    assert "3 message(s): 0 recorded (none), 3 already known" in again.out, again.out
    assert "outbox: 0 sent" in again.out
    assert len(servers.smtp.messages) == 3


def test_import_mbox_with_from_lines_in_bodies_and_8bit_utf8(
    servers: MailServers, tmp_path: Path
) -> None:
    config = _setup(servers, tmp_path)
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(path, create=True)
    box.add(
        _mail(
            "k.oezdemir@stadt-koeln.example",
            "Kübra Özdemir",
            "mbox-1@stadt-koeln.example",
            "Sehr geehrte Damen und Herren,\n\n"
            "hiermit melde ich mich zum Symposium an.\n"
            "From the city of Köln we will be two, but only I attend.\n"
            "\n"
            "From Köln: Kübra Özdemir, Kämmerei, Stadt Köln\n\n"
            "Mit freundlichen Grüßen\nKübra Özdemir\n",
        )
    )
    box.add(
        _mail(
            "g.weiss@kreis-euskirchen.example",
            "Gerd Weiß",
            "mbox-2@kreis-euskirchen.example",
            "Guten Tag,\n\nich möchte mich verbindlich anmelden.\n\n"
            "Gerd Weiß\nKreis Euskirchen, Kämmerei\n",
        )
    )
    # The whole point of this mail is on a line that starts with "From ".
    box.add(
        _mail(
            "g.weiss@kreis-euskirchen.example",
            "Gerd Weiß",
            "mbox-3@kreis-euskirchen.example",
            "Hello,\n\n"
            "From next week on I can no longer attend, please cancel my registration.\n\n"
            "Gerd Weiß\n",
        ).replace(b"Subject: Anmeldung", b"Subject: Re: Anmeldung")
    )
    box.close()
    data = path.read_bytes()
    assert data.count(b"\nFrom ") == 2  # only the separators; the body lines are quoted
    assert b"\n>From the city" in data
    assert b"\n>From K\xc3\xb6ln" in data
    assert "Özdemir".encode() in data  # 8-bit UTF-8, not encoded

    first = run_cli(config, "import", str(path))
    # Three messages, not six: a "From " line in a body does not start a new message.
    assert "imported 3 message(s): 3 recorded (cancellation 1, registration 2)" in first.out, (
        first.out
    )
    assert "0 to review" in first.out, first.out
    assert "outbox: 3 sent" in first.out, first.out
    regs = dict(_rows(tmp_path, "SELECT email, status FROM registrations"))
    assert regs == {
        "k.oezdemir@stadt-koeln.example": "confirmed",
        # Read as the mbox wrote it (">From next week..."), the line looked like a quoted
        # reply and the cancellation went to review; the import undoes the From-quoting.
        "g.weiss@kreis-euskirchen.example": "cancelled",
    }
    assert _registrations(tmp_path)["k.oezdemir@stadt-koeln.example"] == "Kübra Özdemir"
    labels = [r[0] for r in _rows(tmp_path, "SELECT mailbox FROM messages ORDER BY id")]
    assert labels == [f"import:{path}#{i}" for i in (1, 2, 3)]
    # The stored bytes are the message as sent: 8-bit text kept, From-quoting undone.
    raw = _rows(
        tmp_path, "SELECT raw FROM messages WHERE message_id LIKE ?", "%mbox-1@stadt-koeln%"
    )[0][0]
    assert "\nFrom Köln: Kübra Özdemir, Kämmerei".encode() in raw
    assert b">From" not in raw
    got = servers.smtp.wait_for(3)
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(
        ["k.oezdemir@stadt-koeln.example"] + ["g.weiss@kreis-euskirchen.example"] * 2
    )

    again = run_cli(config, "import", str(path))
    assert "3 message(s): 0 recorded (none), 3 already known" in again.out, again.out
    assert len(servers.smtp.messages) == 3


def test_import_of_a_missing_path_is_a_usage_error(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path)
    missing = tmp_path / "nowhere.mbox"
    result = run_cli(config, "import", str(missing), check=False)
    assert result.code == 2, result
    assert "does not exist" in result.err, result.err
    assert "nowhere.mbox" in result.err
    assert "Traceback" not in result.err
    assert _rows(tmp_path, "SELECT count(*) FROM messages")[0][0] == 0
