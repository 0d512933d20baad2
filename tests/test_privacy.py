"""Data protection through the real CLI (Dovecot + SMTP sink + SQLite): forget, export --person,
purge after the event, file permissions; and the pure parts (cutoff, scheduling)."""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from anmeldung.config import load_config
from anmeldung.db import Database
from anmeldung.devservers import append
from anmeldung.pipeline import Worker
from anmeldung.privacy import purge_cutoff
from anmeldung.scheduler import build_scheduler
from conftest import (
    MAILBOX_USER,
    MailServers,
    db_rows,
    make_mail,
    registration_mail,
    run_cli,
    write_config,
)

SENT = "Gesendet"


def _deliver(servers: MailServers, *raws: bytes) -> None:
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        for raw in raws:
            append(client, "INBOX", raw)
    finally:
        client.logout()


def _folder_count(servers: MailServers, folder: str) -> int:
    client = servers.dovecot.imap(MAILBOX_USER)
    try:
        if not client.folder_exists(folder):
            return 0
        return int(client.select_folder(folder, readonly=True)[b"EXISTS"])
    finally:
        client.logout()


def _files_mentioning(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` (or ``root`` itself) whose bytes contain ``needle``, any case."""
    paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    word = needle.lower().encode()
    return [str(p) for p in paths if word in p.read_bytes().lower()]


def _db_files(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.glob("anmeldung.db*") if p.is_file()]


def _setup(servers: MailServers, tmp_path: Path, extra: str = "") -> Path:
    config = write_config(
        tmp_path / "anmeldung.toml",
        servers,
        capacity=2,
        extra=extra,
    )
    # The sent folder is a [mailbox] key: put it into that table.
    config.write_text(
        config.read_text().replace(
            'review_folder = "Review"', f'review_folder = "Review"\nsent_folder = "{SENT}"'
        )
    )
    run_cli(config, "init")
    return config


def test_forget_leaves_no_trace_and_keeps_the_counts(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path)
    who, first = registration_mail(1)
    _, second = registration_mail(2)
    waiting, third = registration_mail(3)
    # A question from the same person: no registration, goes to the review folder.
    question = make_mail(
        who,
        "Frage zum Symposium",
        "Gibt es am Alten Rathaus Parkplätze?\n",
        message_id="frage-1@kreis1.example",
    )
    _deliver(servers, first, second, third, question)
    run_cli(config, "poll")
    servers.smtp.wait_for(3)
    run_cli(config, "poll")  # the copies of the sent replies
    maildir = servers.dovecot.maildir(MAILBOX_USER)
    assert _files_mentioning(maildir, who), "the test needs the address on the server first"
    assert _files_mentioning(tmp_path / "anmeldung.db", who)
    assert _folder_count(servers, "Review") == 1
    assert _folder_count(servers, SENT) == 3

    # The access request first: everything about the person, raw text included.
    access = json.loads(run_cli(config, "export", "--person", who).out)
    assert [r["email"] for r in access["registrations"]] == [who]
    assert access["registrations"][0]["role"] == "attendee"
    raws = [m["raw"] for m in access["messages"]]
    assert len(raws) == 2
    assert any("Parkplätze" in r for r in raws)
    assert [o["to"] for o in access["outbox"]] == [who]
    assert "Symposium Kommunale Finanzen" in access["outbox"][0]["raw"]

    dry = json.loads(run_cli(config, "forget", who, "--dry-run", "--json").out)
    assert dry["registrations"] == [1]
    assert len(dry["messages"]) == 2
    assert dry["mail_server"] == {"Erledigt": 1, "Review": 1, SENT: 1}
    assert _files_mentioning(tmp_path / "anmeldung.db", who), "a dry run changed the database"
    assert _folder_count(servers, "Review") == 1

    result = run_cli(config, "forget", who)
    assert "registrations erased: #1" in result.out, result.out
    assert "moved up from the waiting list: #3" in result.out
    assert "'Review': 1 message(s) deleted" in result.out

    # No trace: not in the database file (nor its WAL), not in the mailbox's Maildir.
    assert [_files_mentioning(p, who) for p in _db_files(tmp_path)] == [
        [] for _ in _db_files(tmp_path)
    ]
    assert _files_mentioning(maildir, who) == []
    assert _folder_count(servers, "Review") == 0
    assert _folder_count(servers, SENT) == 2
    # ... while the others are untouched.
    other = registration_mail(2)[0]
    assert _files_mentioning(tmp_path / "anmeldung.db", other)
    assert _files_mentioning(maildir, other)

    # Anonymous counts stay: every message and registration row is still there.
    assert db_rows(tmp_path, "SELECT count(*) FROM messages") == [(4,)]
    assert db_rows(tmp_path, "SELECT status, count(*) FROM registrations GROUP BY status") == [
        ("cancelled", 1),
        ("confirmed", 2),
    ]
    listed = json.loads(run_cli(config, "list", "--json").out)
    assert sorted(r["email"] for r in listed) == [other, waiting]
    assert "1 of them erased" in run_cli(config, "list").out
    after = json.loads(run_cli(config, "export", "--person", who).out)
    assert (after["registrations"], after["messages"], after["outbox"]) == ([], [], [])
    # The freed place went to the waiting person, whose mail goes out with the next poll.
    run_cli(config, "poll")
    assert [m.rcpt_tos for m in servers.smtp.wait_for(4)][-1] == [waiting]
    again = run_cli(config, "forget", who)
    assert "registrations erased: none" in again.out


def test_forget_a_contact_keeps_the_attendee(servers: MailServers, tmp_path: Path) -> None:
    """A secretary registers a colleague: forgetting the secretary erases her mail (and with it
    her name and address) but keeps the colleague's registration."""
    config = _setup(servers, tmp_path)
    secretary = "sekretariat@kreis7.example"
    body = (
        "Guten Tag,\n\nhiermit melde ich folgende Person zum Symposium an:\n\n"
        "Name: Peter Wolf\nE-Mail: peter.wolf@kreis7.example\n\n"
        "Mit freundlichen Grüßen\nMaria Koch\nSekretariat\n"
    )
    raw = make_mail(
        secretary,
        "Anmeldung Symposium",
        body,
        message_id="sek-1@kreis7.example",
        name="Maria Koch",
    )
    _deliver(servers, raw)
    run_cli(config, "poll")
    regs = db_rows(tmp_path, "SELECT email, contact_email FROM registrations")
    if regs != [("peter.wolf@kreis7.example", "peter.wolf@kreis7.example")]:
        # Extraction decides who registers; this test is about erasure, not extraction.
        raise AssertionError(f"unexpected extraction: {regs}")

    out = json.loads(run_cli(config, "forget", secretary, "--json").out)
    assert out["registrations"] == []
    assert len(out["messages"]) == 1
    assert out["mail_server"]["Erledigt"] == 1
    assert db_rows(tmp_path, "SELECT email, contact_email, status FROM registrations") == [
        ("peter.wolf@kreis7.example", "peter.wolf@kreis7.example", "confirmed")
    ]
    for trace in (secretary, "Maria Koch"):
        assert _files_mentioning(tmp_path / "anmeldung.db", trace) == []
        assert _files_mentioning(servers.dovecot.maildir(MAILBOX_USER), trace) == []
    listed = json.loads(run_cli(config, "list", "--json").out)
    assert [(r["email"], r["name"]) for r in listed] == [
        ("peter.wolf@kreis7.example", "Peter Wolf")
    ]


def test_purge_honours_the_date(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path, extra="[privacy]\ndelete_after_days = 36500\n")
    mails = [registration_mail(n) for n in (1, 2, 3)]
    _deliver(servers, *(raw for _, raw in mails))
    run_cli(config, "poll")
    servers.smtp.wait_for(3)
    run_cli(config, "poll")
    # The event is over: ended on 1 October 2026.
    past = config.read_text().replace("2027-03-18", "2026-10-01")
    config.write_text(past)

    before = run_cli(config, "purge")
    assert "nothing to do before" in before.out, before.out
    not_yet = json.loads(run_cli(config, "purge", "--json").out)
    assert not_yet["due"] is False
    ends = dt.datetime(2026, 10, 1, 16, 0, tzinfo=dt.UTC)
    assert not_yet["cutoff"] == (ends + dt.timedelta(days=36500)).isoformat().replace("+00:00", "Z")
    maildir = servers.dovecot.maildir(MAILBOX_USER)
    for address, _ in mails:
        assert _files_mentioning(tmp_path / "anmeldung.db", address)

    config.write_text(past.replace("delete_after_days = 36500", "delete_after_days = 30"))
    dry = json.loads(run_cli(config, "purge", "--dry-run", "--json").out)
    assert dry["due"] is True
    assert dry["registrations"] == [1, 2, 3]
    assert dry["mail_server"]["Erledigt"] == 3
    assert _folder_count(servers, "Erledigt") == 3

    result = run_cli(config, "purge")
    assert "registrations erased: #1, #2, #3" in result.out, result.out
    assert _folder_count(servers, "Erledigt") == 0
    assert _folder_count(servers, SENT) == 0
    for address, _ in mails:
        assert [_files_mentioning(p, address) for p in _db_files(tmp_path)] == [
            [] for _ in _db_files(tmp_path)
        ]
        assert _files_mentioning(maildir, address) == []
    assert db_rows(tmp_path, "SELECT count(*) FROM messages WHERE raw IS NULL") == [(3,)]
    assert db_rows(tmp_path, "SELECT status, count(*) FROM registrations GROUP BY status") == [
        ("confirmed", 2),
        ("waitlisted", 1),
    ]
    assert "nothing left to erase" in run_cli(config, "purge").out


def test_purge_needs_the_setting(servers: MailServers, tmp_path: Path) -> None:
    config = _setup(servers, tmp_path)
    result = run_cli(config, "purge", check=False)
    assert result.code == 2
    assert "delete_after_days" in result.err


# -- files readable by the service user only ------------------------------------------------------


def test_database_files_are_private(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'anmeldung.db'}"
    db = Database(url)
    try:
        db.upgrade()
        with db.engine.connect() as conn:  # keeps -wal and -shm in place while we look
            conn.execute(text("SELECT count(*) FROM messages")).all()
            state = tmp_path / "state"
            assert stat.S_IMODE(state.stat().st_mode) == 0o700
            files = sorted(p.name for p in state.iterdir())
            assert files == ["anmeldung.db", "anmeldung.db-shm", "anmeldung.db-wal"]
            for p in state.iterdir():
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    finally:
        db.dispose()


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# -- pure parts -----------------------------------------------------------------------------------


def _config(tmp_path: Path, privacy: str) -> Path:
    path = tmp_path / "a.toml"
    path.write_text(
        f"""
[event]
name = "X"
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
url = "sqlite:///{tmp_path / "p.db"}"
{privacy}
""",
        encoding="utf-8",
    )
    return path


def test_cutoff_is_days_after_the_event_end(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "[privacy]\ndelete_after_days = 30"))
    assert purge_cutoff(config) == dt.datetime(2027, 4, 17, 16, 0, tzinfo=dt.UTC)
    assert purge_cutoff(load_config(_config(tmp_path, ""))) is None


def test_the_worker_purges_nightly_only_when_configured(tmp_path: Path) -> None:
    for privacy, jobs in (("", ["poll"]), ("[privacy]\ndelete_after_days = 0", ["poll", "purge"])):
        config = load_config(_config(tmp_path, privacy))
        db = Database(config.database.url)
        scheduler, _ = build_scheduler(Worker(config, db))
        assert sorted(j.id for j in scheduler.get_jobs()) == jobs
        db.dispose()


# -- progress on a terminal, quiet in a pipe ------------------------------------------------------


def _on_a_terminal(config: Path, *args: str) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; returns all it wrote."""
    master, slave = pty.openpty()
    env = {**os.environ, "ANMELDUNG_CONFIG": str(config), "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "anmeldung", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=config.parent,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_shows_on_a_terminal_only(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    run_cli(config, "init")
    piped = run_cli(config, "export", "--person", "a@b.example")
    assert json.loads(piped.out)["messages"] == []
    assert piped.err == ""
    terminal = _on_a_terminal(config, "export", "--person", "a@b.example")
    assert "searching messages" in terminal
    assert '"messages": []' in terminal


def _pg_rows_mentioning(url: str, needle: str) -> list[str]:
    """Every table.column of the public schema with a live value containing ``needle``."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    found = []
    try:
        with engine.connect() as conn:
            columns = conn.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public'"
                )
            ).all()
            for table, column, data_type in columns:
                if data_type == "bytea":
                    where = f"position(convert_to(:n, 'UTF8') in \"{column}\") > 0"
                else:
                    where = f"lower(\"{column}\"::text) LIKE '%' || :n || '%'"
                # Identifiers from information_schema, not from input; the needle is bound.
                sql = f'SELECT count(*) FROM "{table}" WHERE {where}'  # noqa: S608
                n = conn.scalar(text(sql), {"n": needle})
                if n:
                    found.append(f"{table}.{column}")
    finally:
        engine.dispose()
    return found


def test_forget_on_postgresql_leaves_no_row_version(
    servers: MailServers, tmp_path: Path, pg_server: Any
) -> None:
    """On PostgreSQL an erased row's old version stays in the table (and TOAST) files until
    VACUUM; forget rewrites the tables, so after a checkpoint no file of the database holds
    the address (the server's WAL aside, which it recycles)."""
    name = f"forget{os.getpid()}"
    url = pg_server.create_database(name)
    try:
        config = write_config(tmp_path / "anmeldung.toml", servers, capacity=2, db_url=url)
        run_cli(config, "init")
        who, first = registration_mail(1)
        other, second = registration_mail(2)
        _deliver(servers, first, second)
        run_cli(config, "poll")
        servers.smtp.wait_for(2)
        pg_server.execute("CHECKPOINT")
        dboid = db_count(url, "SELECT oid FROM pg_database WHERE datname = current_database()")
        files = pg_server.data_dir / "base" / str(dboid)
        assert _files_mentioning(files, who), "the test needs the address on disk first"
        assert _pg_rows_mentioning(url, who)

        result = run_cli(config, "forget", who)
        assert "registrations erased: #1" in result.out, result.out
        assert "database: tables rewritten (VACUUM FULL)" in result.out, result.out
        pg_server.execute("CHECKPOINT")
        assert _pg_rows_mentioning(url, who) == []
        assert _files_mentioning(files, who) == []
        # The other person is untouched, on disk and in the rows.
        assert _files_mentioning(files, other)
        assert _pg_rows_mentioning(url, other)
        assert db_count(url, "SELECT count(*) FROM registrations") == 2
    finally:
        pg_server.drop_database(name)


def db_count(url: str, sql: str) -> int:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text(sql)) or 0)
    finally:
        engine.dispose()
