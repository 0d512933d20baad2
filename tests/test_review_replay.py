"""Review and replay against the real Dovecot and SMTP sink, through the real CLI.

A message whose handling fails is isolated (recorded with its error, moved to the review
folder) while the rest of its batch goes on; `review` and `messages` show it; `replay` handles
it again after the fix, moves it out of the review folder and never registers or sends twice.
An over-size message is recorded unread for review. The only hook is one injected failure in
the handling path of an in-process worker; IMAP, SMTP and LMTP stay real.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imapclient
import pytest

import anmeldung.pipeline
from anmeldung.config import load_config
from anmeldung.db import Database
from anmeldung.devservers import append
from anmeldung.pipeline import Worker
from conftest import (
    MAILBOX_USER,
    MailServers,
    db_rows,
    make_mail,
    registration_mail,
    run_cli,
    write_config,
)

PROCESSED, REVIEW = "Erledigt", "Review"  # the folders write_config() sets
# What `messages --json` promises per row (the review/replay contract).
CONTRACT_FIELDS = {
    "id",
    "uid",
    "message_id",
    "received_at",
    "from",
    "subject",
    "kind",
    "reason",
    "status",
    "error",
}


# -- helpers ---------------------------------------------------------------------------------


def _config(tmp_path: Path, servers: MailServers, *, mailbox: str = "") -> Path:
    """write_config() with extra keys in [mailbox]."""
    path = write_config(tmp_path / "anmeldung.toml", servers)
    if mailbox:
        text = path.read_text(encoding="utf-8")
        anchor = f'review_folder = "{REVIEW}"\n'
        assert anchor in text
        path.write_text(text.replace(anchor, anchor + mailbox.strip() + "\n"), encoding="utf-8")
    return path


def _mail(sender: str, name: str, subject: str, body: str, *, message_id: str) -> bytes:
    return make_mail(sender, subject, body, message_id=message_id, name=name)


_registration = registration_mail


@contextlib.contextmanager
def _imap(servers: MailServers) -> Iterator[imapclient.IMAPClient]:
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def _append_all(servers: MailServers, raws: list[bytes]) -> None:
    with _imap(servers) as client:
        for raw in raws:
            append(client, "INBOX", raw)


def _message_ids(servers: MailServers, folder: str) -> list[str]:
    """The Message-ID headers of the mail in ``folder`` on the server, sorted."""
    with _imap(servers) as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    ids = []
    for item in data.values():
        header = bytes(item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]).decode()
        ids.append(header.split(":", 1)[1].strip().strip("<>"))
    return sorted(ids)


def _sent_to(servers: MailServers) -> Counter[str]:
    return Counter(r for m in servers.smtp.messages for r in m.rcpt_tos)


_rows = db_rows


def _json(config: Path, *args: str) -> Any:
    return json.loads(run_cli(config, *args).out)


# -- 1 + 3. a poison message in a batch, replayed after the fix ------------------------------


def test_poison_message_is_isolated_then_replayed_after_the_fix(
    servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, servers)
    run_cli(config, "init")
    people = [_registration(i) for i in range(4)]
    poison_address = people[2][0]
    _append_all(servers, [raw for _a, raw in people])

    # A bug in handling that trips over exactly one sender; everything else is the real code.
    real_handle = anmeldung.pipeline.handle

    def handle(session: Any, cfg: Any, composer: Any, row: Any, analysis: Any) -> Any:
        if analysis.parsed.sender == poison_address:
            raise RuntimeError("injected: handling bug for this sender")
        return real_handle(session, cfg, composer, row, analysis)

    monkeypatch.setattr(anmeldung.pipeline, "handle", handle)
    loaded = load_config(config)
    db = Database(loaded.database.url)
    try:
        stats = Worker(loaded, db).poll_once()
    finally:
        db.dispose()
    monkeypatch.undo()  # the "fix": from here on only the CLI runs, in fresh interpreters

    assert (stats.inbox.waiting, stats.inbox.recorded, stats.inbox.errors) == (4, 4, 1)
    assert stats.inbox.moved == 4
    assert stats.inbox.statuses == Counter({"processed": 3, "review": 1})
    assert stats.outbox.sent == 3
    # Every other message of the batch was handled and confirmed; the poison one got nothing.
    others = [a for a, _r in people if a != poison_address]
    assert _sent_to(servers) == Counter(others)
    poison_mid = "r-2@kreis2.example"
    assert _message_ids(servers, REVIEW) == [poison_mid]
    assert _message_ids(servers, PROCESSED) == sorted(f"r-{i}@kreis{i}.example" for i in (0, 1, 3))
    assert _message_ids(servers, "INBOX") == []
    assert sorted(r[0] for r in _rows(tmp_path, "SELECT email FROM registrations")) == sorted(
        others
    )

    # `messages --json` has every contract field, and the poison message carries its error.
    listed = _json(config, "messages", "--json")
    assert len(listed) == 4
    for row in listed:
        assert row.keys() >= CONTRACT_FIELDS, CONTRACT_FIELDS - row.keys()
    poison = next(r for r in listed if r["message_id"] == poison_mid)
    assert poison["from"] == poison_address
    assert poison["subject"] == "Anmeldung Symposium Kommunale Finanzen"
    assert poison["kind"] == "registration"  # analysed fine; handling failed
    assert poison["status"] == "review"
    assert poison["error"] == "RuntimeError: injected: handling bug for this sender"
    assert isinstance(poison["uid"], int)
    assert poison["received_at"]
    assert {r["status"] for r in listed if r is not poison} == {"processed"}
    # The full traceback is kept in the database for whoever fixes the bug.
    full = _rows(tmp_path, "SELECT error FROM messages WHERE id = ?", poison["id"])[0][0]
    assert "Traceback" in full
    assert "injected" in full

    # `review --json` lists exactly that message, with its reason and error.
    review = _json(config, "review", "--json")
    assert [(r["id"], r["reason"], r["error"]) for r in review] == [
        (poison["id"], poison["reason"], poison["error"])
    ]
    text = run_cli(config, "review").out
    assert "1 message(s) to review" in text
    assert "error: RuntimeError: injected" in text

    # Replay without the bug: registered, confirmed once, moved from Review to processed.
    replayed = run_cli(config, "replay", str(poison["id"]))
    assert f"#{poison['id']}: registration" in replayed.out, replayed.out
    assert "-> processed, 1 reply queued" in replayed.out, replayed.out
    assert "outbox: 1 sent" in replayed.out, replayed.out
    assert _sent_to(servers) == Counter(a for a, _r in people)
    assert _message_ids(servers, REVIEW) == []
    assert poison_mid in _message_ids(servers, PROCESSED)
    after = next(r for r in _json(config, "messages", "--json") if r["id"] == poison["id"])
    assert (after["status"], after["error"], after["folder"]) == ("processed", None, PROCESSED)
    assert _json(config, "review", "--json") == []

    # A second replay (with and without --no-move) registers and sends nothing new.
    for args in (["--no-move"], []):
        again = run_cli(config, "replay", str(poison["id"]), *args)
        assert "-> processed" in again.out, again.out
        assert "reply queued" not in again.out, again.out
        assert "outbox:" not in again.out, again.out
    assert _sent_to(servers) == Counter(a for a, _r in people)
    assert len(_rows(tmp_path, "SELECT id FROM registrations")) == 4
    assert _rows(tmp_path, "SELECT status, count(*) FROM outbox GROUP BY status") == [("sent", 4)]
    assert _message_ids(servers, REVIEW) == []
    assert len(_message_ids(servers, PROCESSED)) == 4


# -- 2. an over-size message -----------------------------------------------------------------


def test_oversize_message_goes_to_review_unread(servers: MailServers, tmp_path: Path) -> None:
    config = _config(tmp_path, servers, mailbox="max_message_bytes = 2000")
    run_cli(config, "init")
    small_address, small_raw = _registration(1)
    big_raw = _registration(2, padding="Anlage folgt.\n" * 200)[1]
    assert len(small_raw) < 2000 < len(big_raw)
    _append_all(servers, [small_raw, big_raw])

    polled = run_cli(config, "poll")
    assert "2 waiting, 2 recorded" in polled.out, polled.out
    assert "1 to review" in polled.out, polled.out
    assert "outbox: 1 sent" in polled.out, polled.out
    assert _sent_to(servers) == Counter([small_address])  # no reply to the big one

    big = _json(config, "review", "--json")
    assert len(big) == 1, big
    (row,) = big
    # Not downloaded: nothing from inside the message is known, and no content is stored.
    assert (row["kind"], row["reason"], row["status"]) == ("other", "too_large", "review")
    assert (row["from"], row["subject"], row["message_id"]) == ("", "", None)
    assert row["error"] == f"message is {len(big_raw)} bytes, over the limit of 2000"
    stored = _rows(tmp_path, "SELECT raw, size FROM messages WHERE id = ?", row["id"])
    assert stored == [(None, len(big_raw))]
    assert _message_ids(servers, REVIEW) == ["r-2@kreis2.example"]
    assert "error: message is" in run_cli(config, "review").out  # the text form copes too

    # Raising the limit does not make replay possible: the content was never downloaded, and
    # without a Message-ID the mail in the review folder cannot be found again (a gap).
    text = config.read_text(encoding="utf-8").replace(
        "max_message_bytes = 2000", "max_message_bytes = 100000"
    )
    config.write_text(text, encoding="utf-8")
    refused = run_cli(config, "replay", str(row["id"]), check=False)
    assert refused.code == 1, refused
    assert refused.err.strip() == (
        f"anmeldung: error: message #{row['id']} has no stored content (it was over the size "
        "limit or has been erased); handle it by hand"
    )
    assert "Traceback" not in refused.err
    assert _sent_to(servers) == Counter([small_address])
    assert _rows(tmp_path, "SELECT email FROM registrations") == [(small_address,)]
    assert _message_ids(servers, REVIEW) == ["r-2@kreis2.example"]


# -- 3. an unclear message replayed ----------------------------------------------------------


def test_unclear_message_replayed_stays_in_review(servers: MailServers, tmp_path: Path) -> None:
    config = _config(tmp_path, servers)
    run_cli(config, "init")
    question = _mail(
        "karl@amt.example",
        "Karl Frage",
        "Frage",
        "Guten Tag,\n\nwo kann man in der Nähe des Rathauses parken?\n\nGruß\nKarl Frage\n",
        message_id="q-1@amt.example",
    )
    _append_all(servers, [question])
    polled = run_cli(config, "poll")
    assert "1 to review" in polled.out, polled.out
    (row,) = _json(config, "review", "--json")
    assert (row["kind"], row["status"], row["error"]) == ("other", "review", None)
    assert row["reason"]
    assert _message_ids(servers, REVIEW) == ["q-1@amt.example"]

    # Replayed (nothing changed), it is still unclear: it stays in review, in the Review folder,
    # with and without --no-move, and nobody is registered or answered.
    for args in (["--no-move"], []):
        out = run_cli(config, "replay", str(row["id"]), *args).out
        assert out.strip() == f"#{row['id']}: other ({row['reason']}) -> review", out
        assert _message_ids(servers, REVIEW) == ["q-1@amt.example"]
        assert _message_ids(servers, PROCESSED) == []
    assert [r["id"] for r in _json(config, "review", "--json")] == [row["id"]]
    assert servers.smtp.messages == []
    assert _rows(tmp_path, "SELECT count(*) FROM registrations") == [(0,)]
    assert _rows(tmp_path, "SELECT count(*) FROM outbox") == [(0,)]
