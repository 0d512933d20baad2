"""Robustness against the real Dovecot and SMTP sink: what a mailbox does to a worker in practice.

UIDVALIDITY changes, a server killed in the middle of a batch, the same message delivered twice,
auto-responders that answer every confirmation, and the shared corpus of real-world mail
appended over IMAP. No mocks: the worker talks IMAP to Dovecot and SMTP to the sink, which
delivers every confirmation over LMTP into the recipient's own Dovecot mailbox.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import imapclient
import pytest

from anmeldung.classify import KINDS
from anmeldung.config import Config, load_config
from anmeldung.db import Database
from anmeldung.devservers import append
from anmeldung.errors import MailboxError
from anmeldung.mailbox import ImapMailbox
from anmeldung.parse import parse_message
from anmeldung.pipeline import Worker
from conftest import (
    EXAMPLES,
    MAILBOX_USER,
    MailServers,
    make_mail,
    registration_mail,
    run_cli,
    write_config,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CORPUS_SKIP_NAMES = frozenset({"SOURCES.md", "MANIFEST.tsv"})
PROCESSED, REVIEW = "Erledigt", "Review"  # the folders write_config() sets


# -- helpers ---------------------------------------------------------------------------------


def _config(tmp_path: Path, servers: MailServers, *, mailbox: str = "", extra: str = "") -> Path:
    """write_config() with extra keys in [mailbox] (write_config only appends whole tables)."""
    path = write_config(tmp_path / "anmeldung.toml", servers, extra=extra)
    if mailbox:
        text = path.read_text(encoding="utf-8")
        anchor = f'review_folder = "{REVIEW}"\n'
        assert anchor in text
        path.write_text(text.replace(anchor, anchor + mailbox.strip() + "\n"), encoding="utf-8")
    return path


@contextlib.contextmanager
def _imap(servers: MailServers, user: str = MAILBOX_USER) -> Iterator[imapclient.IMAPClient]:
    client = servers.dovecot.imap(user)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.logout()
        with contextlib.suppress(Exception):
            client.shutdown()


def _uids(servers: MailServers, folder: str, user: str = MAILBOX_USER) -> list[int]:
    with _imap(servers, user) as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        return sorted(int(u) for u in client.search(["ALL"]))


def _append_all(servers: MailServers, folder: str, raws: Iterable[bytes]) -> None:
    with _imap(servers) as client:
        for raw in raws:
            append(client, folder, raw)


@contextlib.contextmanager
def _sql(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(tmp_path / "anmeldung.db")
    try:
        yield db
    finally:
        db.close()


def _scalar(tmp_path: Path, query: str, *args: Any) -> Any:
    with _sql(tmp_path) as db:
        return db.execute(query, args).fetchone()[0]


@contextlib.contextmanager
def _worker(config_path: Path, mailbox_class: type[ImapMailbox] = ImapMailbox) -> Iterator[Worker]:
    """The worker in this process, for hooks at exact points (the CLI runs the same class)."""
    config: Config = load_config(config_path)
    db = Database(config.database.url)
    try:
        yield Worker(config, db, mailbox_factory=lambda: mailbox_class(config.mailbox))
    finally:
        db.dispose()


_mail = make_mail
_registration = registration_mail


def _sink_recipients(servers: MailServers) -> Counter[str]:
    return Counter(r for m in servers.smtp.messages for r in m.rcpt_tos)


def _headers(raw: bytes) -> email.message.Message:
    parser = email.parser.BytesParser(policy=email.policy.compat32)
    return parser.parsebytes(raw, headersonly=True)


# -- 1. UIDVALIDITY --------------------------------------------------------------------------


def test_uidvalidity_change_handles_only_new_mail(servers: MailServers, tmp_path: Path) -> None:
    """RFC 3501 2.3.1.1: a recreated folder has new UIDs; Message-IDs still recognise the mail.

    INBOX cannot be deleted over IMAP, so the watched folder here is "Anmeldungen".
    """
    folder = "Anmeldungen"
    config = _config(tmp_path, servers, mailbox=f'folder = "{folder}"')
    run_cli(config, "init")
    known = [_registration(i) for i in range(3)]
    _append_all(servers, folder, (raw for _a, raw in known))

    first = run_cli(config, "poll")
    assert "3 waiting, 3 recorded" in first.out, first.out
    assert "3 sent" in first.out, first.out
    old_validity = _scalar(tmp_path, "SELECT uidvalidity FROM mailbox_state")
    assert old_validity

    # Someone deletes and recreates the folder (or the server rebuilt its index) and the same
    # mail comes back, plus one new registration.
    new_address, new_raw = _registration(99)
    with _imap(servers) as client:
        client.delete_folder(folder)
        client.create_folder(folder)
        for _a, raw in known:
            client.append(folder, raw)
        client.append(folder, new_raw)
        new_validity = int(client.select_folder(folder, readonly=True)[b"UIDVALIDITY"])
    assert new_validity != old_validity

    second = run_cli(config, "poll")
    assert "4 waiting, 1 recorded (registration 1), 3 already known, 4 moved" in second.out, (
        second.out
    )
    assert "outbox: 1 sent" in second.out, second.out
    # The change is logged (a warning, so it shows without -v) ...
    assert f"UIDVALIDITY of {folder} changed from {old_validity} to {new_validity}" in second.err
    # ... and counted in the database, next to the UIDVALIDITY of every poll run.
    with _sql(tmp_path) as db:
        state = db.execute("SELECT uidvalidity, uidvalidity_changes FROM mailbox_state").fetchall()
        assert state == [(new_validity, 1)]
        runs = [r[0] for r in db.execute("SELECT uidvalidity FROM poll_runs ORDER BY id")]
        assert runs == [old_validity, new_validity]
        assert db.execute("SELECT count(*) FROM registrations").fetchone()[0] == 4
        assert db.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()[0] == 4
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 4

    listed = json.loads(run_cli(config, "messages", "--json").out)
    assert len(listed) == 4
    assert len({m["message_id"] for m in listed}) == 4
    assert {m["kind"] for m in listed} == {"registration"}

    # Nothing was sent twice: one confirmation per person, the new one included.
    assert _sink_recipients(servers) == Counter([a for a, _r in known] + [new_address])
    assert _uids(servers, folder) == []
    assert len(_uids(servers, PROCESSED)) == 3 + 4  # old copies stay where they were moved

    third = run_cli(config, "poll")
    assert "0 waiting, 0 recorded" in third.out, third.out
    assert "outbox: 0 sent" in third.out, third.out
    assert _scalar(tmp_path, "SELECT uidvalidity_changes FROM mailbox_state") == 1


# -- 2. Dovecot killed in the middle of a batch ----------------------------------------------


@pytest.mark.parametrize("crash", ["before_second_move", "after_first_move"])
def test_server_killed_mid_batch_loses_and_repeats_nothing(
    servers: MailServers, tmp_path: Path, crash: str
) -> None:
    """SIGKILL Dovecot at an exact point of the batch loop, then restart and poll again.

    before_second_move: the second batch is recorded (and its confirmations queued) but still
    in the folder: the worst moment, the next run must recognise it and only move it.
    after_first_move: the server dies right after a MOVE; the next FETCH fails.
    """
    batch = 3
    config = _config(tmp_path, servers, mailbox=f"batch_size = {batch}")
    run_cli(config, "init")
    people = [_registration(i) for i in range(10)]
    _append_all(servers, "INBOX", (raw for _a, raw in people))
    dovecot = servers.dovecot

    class DyingServer(ImapMailbox):
        moves = 0

        def move(self, uids: Iterable[int], folder: str) -> None:
            DyingServer.moves += 1
            if crash == "before_second_move" and DyingServer.moves == 2:
                dovecot.kill()
            super().move(uids, folder)
            if crash == "after_first_move" and DyingServer.moves == 1:
                dovecot.kill()

    with _worker(config, DyingServer) as worker, pytest.raises(MailboxError) as failed:
        worker.poll_once()
    assert not dovecot.running
    recorded_before = 2 * batch if crash == "before_second_move" else batch
    assert _scalar(tmp_path, "SELECT count(*) FROM messages") == recorded_before
    # Recorded means queued in the same transaction; nothing went out (inbox failed first).
    assert _scalar(tmp_path, "SELECT count(*) FROM outbox WHERE status='queued'") == (
        recorded_before
    )
    assert servers.smtp.messages == []
    step = "moving messages to" if crash == "before_second_move" else "fetching from"
    assert str(failed.value).startswith(step), failed.value

    # While the server is down, a poll fails with one clear line and exit code 1.
    down = run_cli(config, "poll", check=False)
    assert down.code == 1, down
    errors = [line for line in down.err.splitlines() if line.startswith("anmeldung: error:")]
    assert len(errors) == 1, down.err
    assert "IMAP server 127.0.0.1" in errors[0]
    assert "Traceback" not in down.err

    dovecot.start()
    # The first batch was moved before the crash; everything else still waits.
    assert len(_uids(servers, PROCESSED)) == batch
    assert len(_uids(servers, "INBOX")) == len(people) - batch

    again = run_cli(config, "poll")
    known = recorded_before - batch  # recorded but not moved when the server died
    waiting = len(people) - batch
    assert f"{waiting} waiting, {waiting - known} recorded" in again.out, again.out
    assert f"{known} already known, {waiting} moved, 0 to review" in again.out, again.out
    assert f"outbox: {len(people)} sent" in again.out, again.out

    with _sql(tmp_path) as db:
        ids = [r[0] for r in db.execute("SELECT message_id FROM messages")]
        assert sorted(ids) == sorted(f"r-{i}@kreis{i}.example" for i in range(10))
        regs = [r[0] for r in db.execute("SELECT email FROM registrations")]
        assert sorted(regs) == sorted(a for a, _r in people)
        assert db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall() == [
            ("sent", len(people))
        ]
        errors_logged = db.execute("SELECT count(*) FROM poll_runs WHERE error IS NOT NULL")
        assert errors_logged.fetchone()[0] == 2  # the killed run and the one while down
    # Every attendee got exactly one confirmation, in their own mailbox too.
    assert _sink_recipients(servers) == Counter(a for a, _r in people)
    for address, _raw in people[::batch]:
        assert len(_uids(servers, "INBOX", user=address)) == 1
    assert _uids(servers, "INBOX") == []
    assert len(_uids(servers, PROCESSED)) == len(people)


# -- 3. the same message twice ---------------------------------------------------------------


def test_same_message_twice_is_registered_and_answered_once(
    servers: MailServers, tmp_path: Path
) -> None:
    config = _config(tmp_path, servers)
    run_cli(config, "init")
    address, raw = _registration(7)
    # Two copies in one poll (a client that sent twice, or a copy from a second route) ...
    _append_all(servers, "INBOX", [raw, raw])
    first = run_cli(config, "poll")
    assert "2 waiting, 1 recorded (registration 1), 1 already known, 2 moved" in first.out, (
        first.out
    )
    assert "outbox: 1 sent" in first.out, first.out
    # ... and a third copy later, through LMTP (which adds Return-Path, Delivered-To and a
    # Received line, so the bytes differ; the Message-ID is what makes it the same message).
    servers.dovecot.deliver(MAILBOX_USER, raw, mail_from=address)
    second = run_cli(config, "poll")
    assert "1 waiting, 0 recorded (none), 1 already known, 1 moved" in second.out, second.out
    assert "outbox: 0 sent" in second.out, second.out

    with _sql(tmp_path) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM registrations").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    assert _sink_recipients(servers) == Counter([address])
    assert len(_uids(servers, "INBOX", user=address)) == 1
    # Not lost: every copy left the watched folder for the folder of the first one.
    assert _uids(servers, "INBOX") == []
    assert len(_uids(servers, PROCESSED)) == 3
    assert _uids(servers, REVIEW) == []


# -- 4. auto-responders that answer every confirmation ---------------------------------------

EVENT_SUBJECT = "Anmeldebestätigung: Symposium Kommunale Finanzen 2027"


def _robot_reply(robot: str, style: str, confirmation: bytes, n: int) -> list[bytes]:
    """What each robot sends back for one of our confirmations."""
    ours = _headers(confirmation)
    our_id = str(ours["Message-ID"]).strip()
    quoted = "> Sehr geehrte Damen und Herren,\n> vielen Dank für Ihre Anmeldung.\n"
    domain = robot.split("@")[1]
    if style == "out_of_office":  # no Auto-Submitted: only the subject and text give it away
        return [
            _mail(
                robot,
                f"Automatische Antwort: {EVENT_SUBJECT}",
                "Ich bin bis zum 30.11.2026 nicht im Hause und lese meine E-Mails nicht.\n"
                "In dringenden Fällen wenden Sie sich bitte an das Sekretariat.\n",
                message_id=f"ooo-{n}@{domain}",
                name="Otto Abwesend",
                headers=f"In-Reply-To: {our_id}\n",
            )
        ]
    if style == "rfc3834":
        return [
            _mail(
                robot,
                f"Abwesend: {EVENT_SUBJECT}",
                "Vielen Dank für Ihre Nachricht. Ich bin ab dem 1.12. wieder erreichbar.\n",
                message_id=f"auto-{n}@{domain}",
                name="Anke Automat",
                headers="Auto-Submitted: auto-replied\nX-Autoreply: yes\n",
            )
        ]
    if style == "plain_re":  # no auto headers at all; a "reply" that even sounds like a person
        return [
            _mail(
                robot,
                f"Re: {EVENT_SUBJECT}",
                f"Hiermit melde ich mich verbindlich zum Symposium an.\n\n{quoted}",
                message_id=f"re-{n}@{domain}",
                name="Rita Robot",
                headers=f"In-Reply-To: {our_id}\nReferences: {our_id}\n",
            )
        ]
    # "flip": a broken script that answers every mail by cancelling and registering anew,
    # with fresh Message-IDs and no reference to us; the classifier cannot see a robot here,
    # so only the loop fuse (limits.replies_per_address_per_day) can stop it.
    who = "Fritz Flip"
    sign = f"\n\nMit freundlichen Grüßen\n{who}\nKreisverwaltung Flip\n"
    return [
        _mail(
            robot,
            "Abmeldung Symposium Kommunale Finanzen",
            "Hiermit melde ich mich vom Symposium Kommunale Finanzen ab." + sign,
            message_id=f"flip-cancel-{n}@{domain}",
            name=who,
        ),
        _mail(
            robot,
            "Anmeldung Symposium Kommunale Finanzen",
            "Hiermit melde ich mich verbindlich zum Symposium Kommunale Finanzen an." + sign,
            message_id=f"flip-register-{n}@{domain}",
            name=who,
        ),
    ]


ROBOTS = {
    "otto@abwesend.example": "out_of_office",
    "anke@automat.example": "rfc3834",
    "rita@robot.example": "plain_re",
    "fritz@flip.example": "flip",
}
NAMES = {
    "otto@abwesend.example": "Otto Abwesend",
    "anke@automat.example": "Anke Automat",
    "rita@robot.example": "Rita Robot",
    "fritz@flip.example": "Fritz Flip",
}


def test_auto_responders_cannot_start_a_mail_loop(servers: MailServers, tmp_path: Path) -> None:
    per_day = 3
    config = _config(
        tmp_path, servers, extra=f"[limits]\nreplies_per_address_per_day = {per_day}\n"
    )
    run_cli(config, "init")
    for robot in ROBOTS:
        domain = robot.split("@")[1]
        name = NAMES[robot]
        servers.dovecot.deliver(
            MAILBOX_USER,
            _mail(
                robot,
                "Anmeldung Symposium Kommunale Finanzen",
                "Hiermit melde ich mich verbindlich zum Symposium Kommunale Finanzen an.\n\n"
                f"Mit freundlichen Grüßen\n{name}\n",
                message_id=f"start@{domain}",
                name=name,
            ),
            mail_from=robot,
        )

    answered = 0  # confirmations the robots have already answered
    cycles: list[int] = []
    with _worker(config) as worker:
        for _cycle in range(8):
            stats = worker.poll_once()
            cycles.append(stats.outbox.sent)
            new = servers.smtp.messages[answered:]
            for n, mail in enumerate(new, start=answered):
                for robot in mail.rcpt_tos:
                    for reply in _robot_reply(robot, ROBOTS[robot], mail.data, n):
                        servers.dovecot.deliver(MAILBOX_USER, reply, mail_from=robot)
            answered += len(new)
            if not new and stats.inbox.waiting == 0:
                break
    # The loop died out by itself: the last cycles sent and received nothing.
    assert len(cycles) < 8, cycles
    assert cycles[-1] == 0, cycles

    sent = _sink_recipients(servers)
    # Auto-replies, with or without headers, and a reply to our Message-ID are never answered:
    # each of these robots got exactly the one confirmation of its own registration.
    for robot in ("otto@abwesend.example", "anke@automat.example", "rita@robot.example"):
        assert sent[robot] == 1, sent
    # The robot the classifier cannot see through is stopped by the fuse.
    assert sent["fritz@flip.example"] == per_day, sent

    with _sql(tmp_path) as db:
        rows = db.execute("SELECT sender, kind, reason, status FROM messages ORDER BY id")
        by_robot: dict[str, list[tuple[str, str, str]]] = {}
        for sender, kind, reason, status in rows:
            by_robot.setdefault(sender, []).append((kind, reason, status))
        suppressed = db.execute(
            "SELECT recipient, last_error FROM outbox WHERE status = 'suppressed'"
        ).fetchall()
        live = db.execute(
            "SELECT recipient, count(*) FROM outbox WHERE status != 'suppressed' GROUP BY recipient"
        ).fetchall()
    # Every robot mail is recorded with the reason it was not answered.
    assert all(r[0] for rows_ in by_robot.values() for r in rows_)
    otto = by_robot["otto@abwesend.example"]
    assert otto[0][0] == "registration"
    assert [r[:1] + r[2:] for r in otto[1:]] == [("auto_reply", "ignored")]
    assert otto[1][1].startswith("out_of_office"), otto
    anke = by_robot["anke@automat.example"]
    assert anke[1:] == [("auto_reply", "auto_submitted", "ignored")], anke
    rita = by_robot["rita@robot.example"]
    assert rita[1:] == [("other", "reply_to_own_message", "review")], rita
    # The fuse held back what it stopped, each recorded with its reason: the robot's last round
    # (a cancellation, now confirmed by mail too, and a registration per mail it got), then
    # the robot fell silent.
    assert 1 <= len(suppressed) <= 2 * per_day, suppressed
    assert {r for r, _e in suppressed} == {"fritz@flip.example"}
    assert all(e.startswith("fuse: already 3 replies to this address") for _r, e in suppressed)
    assert dict(live) == dict(sent)  # every reply we did not suppress went out, once
    assert _uids(servers, "INBOX") == []


# -- 5. the shared corpus through Dovecot ----------------------------------------------------


def _corpus_files() -> list[Path]:
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file()
        and p.name not in CORPUS_SKIP_NAMES
        and not any(part.startswith(".") for part in p.relative_to(CORPUS).parts)
    )


def test_corpus_through_dovecot(servers: MailServers, tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS} (it lives outside the repo)")
    files = _corpus_files()
    assert files
    # Control: the five example registrations go in among the corpus, so "nobody but people
    # is answered" is checked against real answers, not against an empty outbox.
    controls = sorted(EXAMPLES.glob("*.eml"))
    control_ids = {str(_headers(p.read_bytes())["Message-ID"]).strip("<> ") for p in controls}
    config = _config(tmp_path, servers)
    run_cli(config, "init")

    # Dovecot may refuse an APPEND of a broken message (one it cannot store as a message);
    # such mail never reaches a mailbox, so it is counted, excluded and must stay rare.
    refused: list[str] = []
    with _imap(servers) as client:
        for path in [*files, *controls]:
            try:
                client.append("INBOX", path.read_bytes())
            except imapclient.exceptions.IMAPClientError as exc:
                refused.append(f"{path}: {exc}")
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        # What the worker sees is what Dovecot gives back (bare LF comes back as CRLF), so the
        # expected identities are computed from these bytes, not from the files.
        fetched = client.fetch(uids, ["BODY.PEEK[]"])
    appended = len(files) + len(controls) - len(refused)
    assert len(refused) <= 3, refused
    assert len(uids) == appended
    raws = [bytes(fetched[u][b"BODY[]"]) for u in uids]
    # Byte-identical files and files sharing a Message-ID (the same mail with other line ends)
    # are one message: recorded once, the other copies only moved.
    expected = {parse_message(raw).message_key for raw in raws}

    started = time.monotonic()
    polls: list[str] = []
    while len(polls) < 3:  # batch_size only paces the moves; one poll should take everything
        polls.append(run_cli(config, "poll", timeout=120).out)  # raises unless exit 0
        if polls[-1].startswith("mailbox: 0 waiting"):
            break
    duration = time.monotonic() - started
    assert polls[-1].startswith("mailbox: 0 waiting, 0 recorded"), polls

    with _sql(tmp_path) as db:
        rows = db.execute(
            "SELECT message_key, message_id, kind, status, reason, raw FROM messages"
        ).fetchall()
        outbox = db.execute(
            "SELECT o.recipient, o.status, m.message_id, m.kind, m.raw FROM outbox o "
            "JOIN messages m ON m.id = o.inbound_id"
        ).fetchall()
    recorded_keys = [r[0] for r in rows]
    assert len(recorded_keys) == len(set(recorded_keys))  # nothing recorded twice
    assert set(recorded_keys) == expected  # ... and nothing lost
    assert all(r[2] in KINDS for r in rows)
    assert _uids(servers, "INBOX") == []
    review = sum(1 for r in rows if r[3] == "review")
    assert len(_uids(servers, PROCESSED)) + len(_uids(servers, REVIEW)) == appended
    assert len(_uids(servers, REVIEW)) >= review  # copies of a reviewed message follow it
    assert f", {review} to review" in polls[0], polls[0]

    # No answer to a robot: auto-replies, bounces, list mail and mail from the null sender.
    for rcpt, status, message_id, kind, raw in outbox:
        head = _headers(raw)
        robot = (
            kind in ("auto_reply", "bounce")
            or head.get("List-Id") is not None
            or head.get("List-Unsubscribe") is not None
            or (head.get("Return-Path") or "").strip() == "<>"
        )
        assert not robot or status == "suppressed", (rcpt, message_id, kind)
        assert kind in ("registration", "cancellation"), (rcpt, message_id, kind)
    answered = {r[2] for r in outbox if r[1] == "sent"}
    assert answered == control_ids, answered ^ control_ids  # exactly the people, once each
    assert len(servers.smtp.messages) == len(controls)

    corpus_rows = [r for r in rows if r[1] not in control_ids]
    heads = [_headers(r[5] or b"") for r in corpus_rows]
    listed = sum(1 for h in heads if h.get("List-Id") or h.get("List-Unsubscribe"))
    null_sender = sum(1 for h in heads if (h.get("Return-Path") or "").strip() == "<>")
    failed = sum(1 for r in corpus_rows if r[4] == "error")
    kinds = Counter(r[2] for r in corpus_rows)
    statuses = Counter(r[3] for r in corpus_rows)
    corpus_appended = appended - len(controls)
    print(
        f"\ncorpus through Dovecot: {len(files)} files, {len(refused)} APPENDs refused, "
        f"{corpus_appended} appended, {len(corpus_rows)} recorded "
        f"({corpus_appended - len(corpus_rows)} copies by Message-ID/content only moved); "
        f"{len(polls)} poll(s) in {duration:.1f} s"
    )
    print("corpus kinds:", ", ".join(f"{k} {kinds.get(k, 0)}" for k in KINDS))
    print("corpus statuses:", ", ".join(f"{k} {n}" for k, n in sorted(statuses.items())))
    print(
        f"corpus: {listed} list mails, {null_sender} from the null sender, "
        f"{failed} that could not be analysed (recorded for review with the error)"
    )
    print(f"controls: {len(controls)} appended, {len(answered)} confirmed; robots answered: 0")
    for line in polls:
        print("poll:", line.strip().replace("\n", " | "))
