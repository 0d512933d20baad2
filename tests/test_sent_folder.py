"""[mailbox] sent_folder: every sent reply is appended, byte for byte and flagged \\Seen, to a
folder of the mailbox, against the real Dovecot and SMTP sink. A failed copy is retried on a
later poll; the sending never is.
"""

from __future__ import annotations

import email
import email.policy
import logging
from pathlib import Path

import imapclient
import pytest
from sqlalchemy import select

from anmeldung.config import Config, load_config
from anmeldung.db import Database
from anmeldung.devservers import ReceivedMail, append
from anmeldung.errors import ConfigError, MailboxError
from anmeldung.mailbox import ImapMailbox
from anmeldung.models import OutboxMessage
from anmeldung.pipeline import Worker
from conftest import EXAMPLES, MAILBOX_USER, MailServers, run_cli, write_config
from test_config import write

SENT = "Gesendet"
EXAMPLE_MAILS = ("01-mueller-kaemmerei.eml", "02-schmidt-exchange.eml")


def _setup(servers: MailServers, tmp_path: Path) -> Path:
    config = write_config(tmp_path / "anmeldung.toml", servers)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[mailbox]\n", f'[mailbox]\nsent_folder = "{SENT}"\n'), encoding="utf-8"
    )
    run_cli(config, "init")
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        for name in EXAMPLE_MAILS:
            append(client, "INBOX", (EXAMPLES / name).read_bytes())
    finally:
        client.logout()
    return config


def _mid(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return str(msg["Message-ID"]).strip().strip("<>")


def _sent_folder(servers: MailServers) -> list[tuple[bytes, tuple[bytes, ...]]]:
    """(raw bytes, flags) of every message in the sent folder; [] when it does not exist."""
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        if not client.folder_exists(SENT):
            return []
        client.select_folder(SENT, readonly=True)
        uids = client.search(["ALL"])
        data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
        return [(bytes(data[u][b"BODY[]"]), tuple(data[u][b"FLAGS"])) for u in sorted(data)]
    finally:
        client.logout()


def _rows(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _sink_ids(mails: list[ReceivedMail]) -> list[str]:
    return sorted(_mid(m.data) for m in mails)


def test_sent_replies_are_appended_once_flagged_seen(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path)
    out = run_cli(config, "poll").out
    assert "outbox: 2 sent" in out
    received = servers.smtp.wait_for(2)
    copies = _sent_folder(servers)
    assert len(copies) == 2
    assert sorted(_mid(raw) for raw, _ in copies) == _sink_ids(received)
    assert all(imapclient.SEEN in flags for _, flags in copies)

    db = Database(f"sqlite:///{tmp_path / 'anmeldung.db'}")
    try:
        rows = _rows(db)
        assert [r.status for r in rows] == ["sent", "sent"]
        assert all(r.sent_copy_at is not None for r in rows)
        # Byte for byte what was sent (Dovecot may only normalise line endings).
        by_id = {r.message_id: r.body for r in rows}
        for raw, _ in copies:
            assert raw.replace(b"\r\n", b"\n") == by_id[_mid(raw)].replace(b"\r\n", b"\n")
    finally:
        db.dispose()

    run_cli(config, "poll")
    assert len(_sent_folder(servers)) == 2
    assert len(servers.smtp.messages) == 2


def _worker(config_path: Path, **kwargs: object) -> tuple[Config, Database, Worker]:
    cfg = load_config(config_path)
    db = Database(cfg.database.url)
    return cfg, db, Worker(cfg, db, **kwargs)  # type: ignore[arg-type]


def test_dovecot_down_during_the_copy_step_sends_once_and_copies_later(
    servers: MailServers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _setup(servers, tmp_path)
    _, db, worker = _worker(config)
    try:
        assert worker.process_inbox_once().recorded == 2
        # The SMTP sink no longer forwards into Dovecot, so sending works while it is down.
        servers.smtp.forward_to = None
        servers.dovecot.stop()
        with caplog.at_level(logging.DEBUG, logger="anmeldung"):
            stats = worker.flush_outbox_once()
        assert (stats.sent, stats.copied, stats.copy_failed) == (2, 0, True)
        rows = _rows(db)
        assert [(r.status, r.sent_copy_at) for r in rows] == [("sent", None), ("sent", None)]
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("sent folder" in r.getMessage() for r in warnings)
        # No personal data above DEBUG: neither addresses nor subjects.
        for record in (r for r in caplog.records if r.levelno > logging.DEBUG):
            text = record.getMessage()
            for row in rows:
                assert row.recipient not in text
                assert row.subject not in text

        servers.dovecot.start()
        again = worker.flush_outbox_once()
        assert (again.claimed, again.sent, again.copied, again.copy_failed) == (0, 0, 2, False)
        assert len(servers.smtp.messages) == 2  # sent exactly once
        copies = _sent_folder(servers)
        assert sorted(_mid(raw) for raw, _ in copies) == _sink_ids(servers.smtp.messages)
        assert all(imapclient.SEEN in flags for _, flags in copies)
        assert all(r.sent_copy_at is not None for r in _rows(db))
        assert worker.flush_outbox_once().copied == 0
        assert len(_sent_folder(servers)) == 2
    finally:
        db.dispose()


class _AppendFailsOnce(ImapMailbox):
    """The second APPEND of the first session fails, as a broken connection would."""

    calls = 0

    def append_seen(self, folder: str, raw: bytes) -> None:
        type(self).calls += 1
        if type(self).calls == 2:
            raise MailboxError("appending failed: connection reset (simulated)")
        super().append_seen(folder, raw)


def test_a_failed_append_is_retried_alone_and_nothing_is_resent(
    servers: MailServers, tmp_path: Path
) -> None:
    config = _setup(servers, tmp_path)
    cfg = load_config(config)
    _, db, worker = _worker(config, mailbox_factory=lambda: _AppendFailsOnce(cfg.mailbox))
    try:
        stats = worker.poll_once()
        assert (stats.outbox.sent, stats.outbox.copied, stats.outbox.copy_failed) == (2, 1, True)
        rows = _rows(db)
        assert [r.status for r in rows] == ["sent", "sent"]
        assert [r.sent_copy_at is not None for r in rows] == [True, False]
        assert len(_sent_folder(servers)) == 1

        again = worker.poll_once()
        assert (again.outbox.claimed, again.outbox.copied) == (0, 1)
        assert len(servers.smtp.wait_for(2)) == 2
        assert len(servers.smtp.messages) == 2
        copies = _sent_folder(servers)
        assert sorted(_mid(raw) for raw, _ in copies) == sorted(r.message_id for r in rows)
    finally:
        db.dispose()


def test_sent_folder_config_is_optional_and_checked(tmp_path: Path) -> None:
    assert load_config(write(tmp_path)).mailbox.sent_folder is None
    cfg = load_config(write(tmp_path, {"mailbox": {"sent_folder": '"Gesendet"'}}))
    assert cfg.mailbox.sent_folder == "Gesendet"
    for bad, why in (('""', "must not be empty"), ('"INBOX"', "must differ"), ("3", "string")):
        with pytest.raises(ConfigError, match=why) as info:
            load_config(write(tmp_path, {"mailbox": {"sent_folder": bad}}))
        assert "sent_folder" in str(info.value)
