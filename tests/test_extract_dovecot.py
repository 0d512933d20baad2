"""What `anmeldung parse` shows is what the pipeline stores: a held-out folder through Dovecot."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from anmeldung.devservers import append
from conftest import MAILBOX_USER, MailServers, db_rows, run_cli, write_config

# Written blind, varied (tables, lists, secretaries, shared addresses, encodings), and every
# address in it is distinct across files, so each registration belongs to exactly one mail.
FOLDER = Path(__file__).parent / "heldout6"


def test_pipeline_stores_exactly_what_parse_shows(servers: MailServers, tmp_path: Path) -> None:
    config = write_config(tmp_path / "anmeldung.toml", servers)
    files = sorted(FOLDER.glob("*.eml"))
    assert len(files) >= 40
    client = servers.dovecot.imap(MAILBOX_USER)
    for path in files:
        append(client, "INBOX", path.read_bytes())
    client.logout()
    run_cli(config, "init")
    poll = run_cli(config, "poll", timeout=180)
    assert f"{len(files)} recorded" in poll.out, poll.out

    shown = json.loads(run_cli(config, "parse", "--json", *map(str, files)).out)
    ids = {}
    for path in files:
        for line in path.read_bytes().split(b"\n"):
            if line.lower().startswith(b"message-id:"):
                ids[path.name] = line.split(b":", 1)[1].strip().decode().strip("<>")
                break

    stored: dict[str, set[tuple[object, ...]]] = defaultdict(set)
    for mid, email, name, title, org, status in db_rows(
        tmp_path,
        "SELECT m.message_id, r.email, r.name, r.title, r.organisation, r.status "
        "FROM registrations r JOIN messages m ON m.id = r.message_pk",
    ):
        stored[mid].add((email, name, title, org))
        assert status == "confirmed"

    registrations = 0
    for result in shown:
        name = Path(result["file"]).name
        people = {
            (a["email"], a["name"], a["title"], a["organisation"]) for a in result["attendees"]
        }
        if result["kind"] == "registration":
            registrations += 1
            assert stored[ids[name]] == people, name
        else:
            assert not stored[ids[name]], name
    assert registrations >= 25
    # Several people under one address (a secretary's, a trainee's) are several registrations.
    assert len({e for rows in stored.values() for e, *_ in rows}) < sum(map(len, stored.values()))
