"""The throwaway mail servers: real Dovecot and aiosmtpd on loopback, no mocks."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anmeldung.devservers import DovecotServer, SmtpSink, append, find_dovecot, free_port

if find_dovecot() is None:
    pytest.skip(
        "dovecot not installed: apt-get install dovecot-imapd dovecot-lmtpd",
        allow_module_level=True,
    )

pytestmark = pytest.mark.servers

ORGA = "anmeldung@stadt.example"
ANNA = "anna.schmidt@example.org"

BODY = "Liebe Grüße aus Köln, ich melde mich für das Straßenfest an.\r\n"
RAW = (
    "From: Anna Schmidt <anna.schmidt@example.org>\r\n"
    "To: Anmeldung <anmeldung@stadt.example>\r\n"
    "Subject: Anmeldung Straßenfest\r\n"
    "Message-ID: <1@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n" + BODY
).encode("utf-8")


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path / "dovecot") as server:
        yield server


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def inbox_bodies(server: DovecotServer, user: str) -> list[bytes]:
    client = server.imap(user)
    try:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search(), ["BODY.PEEK[]"])
        return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]
    finally:
        client.logout()


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_two_users_append_and_fetch_8bit(dovecot: DovecotServer) -> None:
    orga, anna = dovecot.imap(ORGA), dovecot.imap(ANNA)
    try:
        append(orga, "INBOX", RAW)
        orga.select_folder("INBOX")
        [uid] = orga.search()
        fetched = orga.fetch([uid], ["BODY.PEEK[]", "FLAGS"])[uid]
        assert fetched[b"BODY[]"] == RAW
        assert "Grüße".encode() in fetched[b"BODY[]"]
        assert b"\\Seen" not in fetched[b"FLAGS"]  # PEEK leaves the message unread

        anna.select_folder("INBOX")
        assert anna.search() == []  # every user has a mailbox of their own
    finally:
        orga.logout()
        anna.logout()
    assert len(list(dovecot.maildir(ORGA).joinpath("cur").iterdir())) == 1


def test_capabilities_folder_and_move(dovecot: DovecotServer) -> None:
    client = dovecot.imap(ORGA)
    try:
        capabilities = set(client.capabilities())
        assert {b"IDLE", b"MOVE", b"UIDPLUS"} <= capabilities
        append(client, "INBOX", RAW)
        append(client, "INBOX", RAW.replace(b"<1@", b"<2@"))
        client.create_folder("Erledigt")
        client.select_folder("INBOX")
        first, second = sorted(client.search())
        client.move([first], "Erledigt")
        assert client.search() == [second]
        client.select_folder("Erledigt")
        [moved] = client.search()
        body = client.fetch([moved], ["BODY.PEEK[]"])[moved][b"BODY[]"]
        assert body == RAW
    finally:
        client.logout()


def test_lmtp_delivers_into_inbox(dovecot: DovecotServer) -> None:
    dovecot.deliver("Anna.Schmidt@Example.ORG", RAW)  # user names are lower-cased
    [body] = inbox_bodies(dovecot, ANNA)
    assert body.endswith(RAW)
    assert b"Delivered-To: Anna.Schmidt@Example.ORG" in body
    assert b"Return-Path: <devservers@localhost>" in body
    assert len(list(dovecot.maildir(ANNA).joinpath("new").iterdir())) == 1
    assert inbox_bodies(dovecot, ORGA) == []


def test_smtp_sink_forwards_to_dovecot(dovecot: DovecotServer) -> None:
    with SmtpSink(forward_to=dovecot) as sink, smtplib.SMTP(sink.host, sink.port) as smtp:
        smtp.sendmail(ORGA, [ANNA, "max@example.net"], RAW, mail_options=["BODY=8BITMIME"])
        [mail] = sink.wait_for(1)
    assert mail.mail_from == ORGA
    assert mail.rcpt_tos == [ANNA, "max@example.net"]
    assert mail.data.replace(b"\r\n", b"\n") == RAW.replace(b"\r\n", b"\n")
    for user in (ANNA, "max@example.net"):
        [body] = inbox_bodies(dovecot, user)
        assert f"Return-Path: <{ORGA}>".encode() in body
        assert BODY.encode() in body


def test_fail_next_answers_data_with_the_queued_reply() -> None:
    with SmtpSink() as sink, smtplib.SMTP(sink.host, sink.port) as smtp:
        sink.fail_next.append((451, "4.3.0 try later"))
        with pytest.raises(smtplib.SMTPDataError) as failure:
            smtp.sendmail(ORGA, [ANNA], RAW, mail_options=["BODY=8BITMIME"])
        assert failure.value.smtp_code == 451
        assert failure.value.smtp_error == b"4.3.0 try later"
        smtp.sendmail(ORGA, [ANNA], RAW, mail_options=["BODY=8BITMIME"])  # only the next one
        assert len(sink.wait_for(1)) == 1
    assert sink.fail_next == []
    assert [mail.rcpt_tos for mail in sink.rejected] == [[ANNA]]
    with pytest.raises(TimeoutError):
        sink.wait_for(2, timeout=0.1)


def test_idle_wakes_up_after_lmtp_delivery(dovecot: DovecotServer) -> None:
    client = dovecot.imap(ORGA)
    try:
        client.select_folder("INBOX")
        client.idle()
        started = time.monotonic()
        dovecot.deliver(ORGA, RAW)
        responses: list[object] = []
        while time.monotonic() - started < 3 and not any(
            isinstance(r, tuple) and r[1:2] == (b"EXISTS",) for r in responses
        ):
            responses += client.idle_check(timeout=3 - (time.monotonic() - started))
        client.idle_done()
        assert (1, b"EXISTS") in responses, responses
    finally:
        client.logout()


def test_kill_then_start_again(dovecot: DovecotServer) -> None:
    dovecot.deliver(ORGA, RAW)
    ports = (dovecot.imap_port, dovecot.lmtp_port)
    client = dovecot.imap(ORGA)
    client.select_folder("INBOX")
    dovecot.kill()
    assert refuses_connections(dovecot.imap_port)
    with pytest.raises((OSError, client.AbortError)):
        client.noop()  # the crash took the IMAP session with it
    client.shutdown()

    dovecot.start()
    assert (dovecot.imap_port, dovecot.lmtp_port) == ports
    dovecot.deliver(ORGA, RAW)
    assert len(inbox_bodies(dovecot, ORGA)) == 2


def test_stop_is_idempotent_and_leaves_nothing(tmp_path: Path) -> None:
    # A root long enough that Dovecot's sockets would not fit into sun_path.
    root = tmp_path / ("lange-verzeichnisnamen-" * 4) / "dovecot"
    server = DovecotServer(root)
    server.start()
    base_dir = server.base_dir
    assert len(str(base_dir)) < 60
    server.deliver(ANNA, RAW)
    assert len(inbox_bodies(server, ANNA)) == 1
    server.stop()
    server.stop()
    assert refuses_connections(server.imap_port)
    assert refuses_connections(server.lmtp_port)
    assert not base_dir.exists()


def test_start_failure_names_the_reason(tmp_path: Path) -> None:
    server = DovecotServer(tmp_path / "dovecot")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", server.imap_port))
        blocker.listen()
        with pytest.raises(RuntimeError, match="Address already in use"):
            server.start()
    server.stop()
