"""OAuth2 logins: the token provider against a real local token endpoint, XOAUTH2 against
the aiosmtpd sink and Dovecot's oauth2 passdb (which asks the same endpoint to introspect)."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from email.headerregistry import Address
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest

from anmeldung.config import (
    MailboxConfig,
    OAuth2Config,
    Secret,
    SmtpConfig,
    load_config,
)
from anmeldung.devservers import DovecotServer, SmtpSink, append, free_port
from anmeldung.errors import (
    AnmeldungError,
    AuthError,
    ConfigError,
    MailboxLoginError,
    OAuthError,
    SmtpLoginError,
)
from anmeldung.idle import IdleWatcher
from anmeldung.mailbox import ImapMailbox
from anmeldung.oauth import TokenProvider, TokenStore, chain_key, login_log, xoauth2_string
from anmeldung.scheduler import PollJob
from anmeldung.smtp import SmtpConnection
from conftest import EXAMPLES, MAILBOX_USER, MailServers, requires_dovecot, run_cli, write_config

CLIENT_ID = "anmeldung-client"
CLIENT_SECRET = "client-secret-9f8e7d"
FIRST_REFRESH = "refresh-initial-5a4b3c"


# -- a real token endpoint on loopback ----------------------------------------------------------


class TokenServer:
    """RFC 6749 token endpoint (client_credentials, refresh_token) and RFC 7662 introspection.

    With ``rotate`` every refresh hands out a new refresh token and the used one dies at once
    (strict rotation: a token spent twice is refused with invalid_grant).
    """

    def __init__(self, user: str = MAILBOX_USER, *, rotate: bool = False, expires_in: Any = 3600):
        self.user = user
        self.rotate = rotate
        self.expires_in = expires_in
        self.refresh_tokens = {FIRST_REFRESH}
        self.access_tokens: set[str] = set()
        self.requests: list[dict[str, str]] = []
        self.introspections = 0
        self.fail_next: list[tuple[int, dict[str, Any]]] = []
        self._counter = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path == "/token":
                    status, body = owner.token(form, self.headers.get("Content-Type", ""))
                elif self.path == "/introspect":
                    status, body = 200, owner.introspect(form.get("token", ""))
                else:
                    status, body = 404, {"error": "not_found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/introspect"

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def _new(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter:04d}-0c7e"

    def token(self, form: dict[str, str], content_type: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(form)
            if self.fail_next:
                return self.fail_next.pop(0)
            if content_type != "application/x-www-form-urlencoded":
                return 400, {"error": "invalid_request"}
            secret = form.get("client_secret")
            if form.get("client_id") != CLIENT_ID or secret not in (None, CLIENT_SECRET):
                return 401, {"error": "invalid_client"}
            grant = form.get("grant_type")
            answer: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.expires_in}
            if grant == "client_credentials":
                if secret is None:
                    return 401, {"error": "invalid_client"}
            elif grant == "refresh_token":
                refresh = form.get("refresh_token", "")
                if refresh not in self.refresh_tokens:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": f"AADSTS70000: token {refresh} is expired or revoked",
                    }
                if self.rotate:
                    self.refresh_tokens.discard(refresh)
                    answer["refresh_token"] = self._new("refresh")
                    self.refresh_tokens.add(answer["refresh_token"])
            else:
                return 400, {"error": "unsupported_grant_type"}
            answer["access_token"] = self._new("access")
            self.access_tokens.add(answer["access_token"])
            return 200, answer

    def introspect(self, token: str) -> dict[str, Any]:
        with self._lock:
            self.introspections += 1
            if token in self.access_tokens:
                return {"active": True, "username": self.user}
            return {"active": False}

    def accepts(self, user: str, token: str) -> bool:
        """The check a resource server makes: a token we issued, for this user."""
        with self._lock:
            return user == self.user and token in self.access_tokens

    def revoke_all(self) -> None:
        with self._lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    with TokenServer() as server:
        yield server


@pytest.fixture
def rotating_server() -> Iterator[TokenServer]:
    with TokenServer(rotate=True) as server:
        yield server


def oauth_config(
    server: TokenServer,
    tmp_path: Path,
    *,
    refresh: str | None = FIRST_REFRESH,
    secret: str | None = CLIENT_SECRET,
    scope: str | None = "https://outlook.office365.com/.default",
) -> OAuth2Config:
    return OAuth2Config(
        token_url=server.token_url,
        client_id=CLIENT_ID,
        token_store=tmp_path / "anmeldung-oauth2.json",
        client_secret=Secret(secret) if secret is not None else None,
        refresh_token=Secret(refresh) if refresh is not None else None,
        scope=scope,
    )


# -- the token provider -------------------------------------------------------------------------


def test_xoauth2_string() -> None:
    assert xoauth2_string("a@b.example", "tok") == "user=a@b.example\x01auth=Bearer tok\x01\x01"
    with pytest.raises(ValueError, match="control"):
        xoauth2_string("a@b.example\x01auth=x", "tok")


def test_client_credentials_grant(token_server: TokenServer, tmp_path: Path) -> None:
    cfg = oauth_config(token_server, tmp_path, refresh=None)
    assert cfg.grant_type == "client_credentials"
    token = TokenProvider(cfg).access_token()
    assert token in token_server.access_tokens
    assert token_server.requests == [
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "https://outlook.office365.com/.default",
        }
    ]
    assert not cfg.token_store.exists()  # nothing to keep without refresh tokens


def test_access_token_is_cached_until_shortly_before_it_expires(
    token_server: TokenServer, tmp_path: Path
) -> None:
    now = [1000.0]
    provider = TokenProvider(oauth_config(token_server, tmp_path), clock=lambda: now[0])
    first = provider.access_token()
    now[0] += 3500
    assert provider.access_token() == first
    assert len(token_server.requests) == 1
    now[0] += 45  # 3545 s of 3600: within the minute before expiry
    second = provider.access_token()
    assert second != first
    assert len(token_server.requests) == 2
    provider.invalidate()  # a server refused it: fetch anew at once
    assert provider.access_token() not in (first, second)
    assert len(token_server.requests) == 3


def test_short_lived_and_string_expires_in(tmp_path: Path) -> None:
    with TokenServer(expires_in="20") as server:  # some servers send a string
        now = [0.0]
        provider = TokenProvider(oauth_config(server, tmp_path), clock=lambda: now[0])
        first = provider.access_token()
        now[0] = 17.0  # a tenth of the life (2 s) before its end: still good
        assert provider.access_token() == first
        now[0] = 18.5
        assert provider.access_token() != first


def test_rotated_refresh_token_is_stored_and_used_after_a_restart(
    rotating_server: TokenServer, tmp_path: Path
) -> None:
    cfg = oauth_config(rotating_server, tmp_path)
    assert TokenProvider(cfg).access_token()
    assert rotating_server.requests[0]["refresh_token"] == FIRST_REFRESH
    assert FIRST_REFRESH not in rotating_server.refresh_tokens  # spent: strict rotation

    store = cfg.token_store
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    rotated = TokenStore(store).get(chain_key(cfg))
    assert rotated in rotating_server.refresh_tokens
    assert FIRST_REFRESH not in store.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left

    # A new process (new provider, same config) continues the chain, twice.
    assert TokenProvider(cfg).access_token()
    assert rotating_server.requests[1]["refresh_token"] == rotated
    second = TokenStore(store).get(chain_key(cfg))
    assert second not in (None, rotated)
    assert TokenProvider(cfg).access_token()
    assert rotating_server.requests[2]["refresh_token"] == second
    assert len(rotating_server.requests) == 3


def test_a_new_configured_refresh_token_wins_over_the_stored_one(
    rotating_server: TokenServer, tmp_path: Path
) -> None:
    cfg = oauth_config(rotating_server, tmp_path)
    TokenProvider(cfg).access_token()
    # The admin signs in again and puts a fresh refresh token into the config.
    rotating_server.refresh_tokens.add("refresh-fresh-from-admin")
    fresh = replace(cfg, refresh_token=Secret("refresh-fresh-from-admin"))
    TokenProvider(fresh).access_token()
    assert rotating_server.requests[-1]["refresh_token"] == "refresh-fresh-from-admin"


def test_unwritable_store_keeps_the_rotated_token_in_memory(
    rotating_server: TokenServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = replace(oauth_config(rotating_server, tmp_path), token_store=blocker / "store.json")
    now = [0.0]
    provider = TokenProvider(cfg, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="anmeldung.oauth"):
        provider.access_token()
    assert "kept in memory only" in caplog.text
    now[0] += 10_000
    provider.access_token()  # the rotated token from memory, not the spent configured one
    assert rotating_server.requests[-1]["refresh_token"] != FIRST_REFRESH


def test_invalid_grant_is_a_clear_error_without_secrets(
    token_server: TokenServer, tmp_path: Path
) -> None:
    cfg = oauth_config(token_server, tmp_path, refresh="refresh-long-revoked-77")
    with pytest.raises(OAuthError) as info:
        TokenProvider(cfg).access_token()
    msg = str(info.value)
    assert isinstance(info.value, AnmeldungError)
    assert isinstance(info.value, AuthError)
    assert "invalid_grant" in msg
    assert token_server.token_url in msg
    assert "refresh_token grant" in msg
    assert "sign in again" in msg
    assert "AADSTS70000" in msg  # the server's own description is kept ...
    assert "refresh-long-revoked-77" not in msg  # ... but the token it echoed is not
    assert CLIENT_SECRET not in msg
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": "invalid_client"}, "check client_id and client_secret"),
        (400, {"error": "invalid_scope", "error_description": "bad"}, "invalid_scope (bad)"),
        (500, "<html>oops</html>", "HTTP 500"),
        (200, {"token_type": "Bearer"}, "without an access_token"),
        (200, {"error": "invalid_grant"}, "HTTP 200 invalid_grant; the refresh token has expired"),
        (200, {"access_token": "x", "token_type": "mac"}, "Bearer token"),
    ],
)
def test_other_token_endpoint_failures(
    token_server: TokenServer, tmp_path: Path, status: int, body: Any, expected: str
) -> None:
    token_server.fail_next.append((status, body))
    with pytest.raises(OAuthError, match=re.escape(expected)) as info:
        TokenProvider(oauth_config(token_server, tmp_path)).access_token()
    assert CLIENT_SECRET not in str(info.value)
    assert FIRST_REFRESH not in str(info.value)


def test_unreachable_token_endpoint(tmp_path: Path) -> None:
    cfg = OAuth2Config(
        token_url=f"http://user:pw-in-url@127.0.0.1:{free_port()}/token?key=k",
        client_id=CLIENT_ID,
        token_store=tmp_path / "store.json",
        client_secret=Secret(CLIENT_SECRET),
    )
    with pytest.raises(OAuthError, match="cannot reach the token endpoint") as info:
        TokenProvider(cfg, timeout=5).access_token()
    assert "pw-in-url" not in str(info.value)
    assert "key=k" not in str(info.value)


# -- config -------------------------------------------------------------------------------------

_CONFIG = """
[event]
name = "Symposium"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Rathaus"

[mailbox]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
auth = "oauth2"
idle = false
{mailbox_extra}
[mailbox.oauth2]
token_url = "{token_url}"
client_id = "{client_id}"
client_secret = "{client_secret}"
refresh_token_env = "TEST_OAUTH_REFRESH"
scope = "offline_access https://outlook.office.com/IMAP.AccessAsUser.All"
{oauth_extra}
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Stadt Bonn – Anmeldung <{user}>"
username = "{user}"
auth = "oauth2"

[smtp.oauth2]
token_url = "{token_url}"
client_id = "{client_id}"
client_secret = "{client_secret}"
refresh_token_env = "TEST_OAUTH_REFRESH"

[database]
url = "sqlite:///data/anmeldung.db"
"""


def write_oauth_config(
    path: Path,
    *,
    token_url: str = "http://127.0.0.1:9/token",  # noqa: S107 (a URL, not a secret)
    imap_port: int = 143,
    smtp_port: int = 25,
    mailbox_extra: str = "",
    oauth_extra: str = "",
) -> Path:
    path.write_text(
        _CONFIG.format(
            token_url=token_url,
            imap_port=imap_port,
            smtp_port=smtp_port,
            user=MAILBOX_USER,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            mailbox_extra=mailbox_extra,
            oauth_extra=oauth_extra,
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def refresh_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OAUTH_REFRESH", FIRST_REFRESH)


@pytest.mark.usefixtures("refresh_env")
def test_config_reads_oauth2_tables(tmp_path: Path) -> None:
    cfg = load_config(write_oauth_config(tmp_path / "anmeldung.toml"))
    mb = cfg.mailbox.oauth2
    assert cfg.mailbox.auth == "oauth2"
    assert cfg.mailbox.password is None
    assert mb is not None
    assert mb.grant_type == "refresh_token"
    assert mb.refresh_token is not None
    assert mb.refresh_token.reveal() == FIRST_REFRESH
    assert FIRST_REFRESH not in repr(cfg)
    assert CLIENT_SECRET not in repr(cfg)
    assert mb.scope == "offline_access https://outlook.office.com/IMAP.AccessAsUser.All"
    # Default store: next to the SQLite database (a directory the service may write to).
    assert mb.token_store == tmp_path.resolve() / "data" / "anmeldung-oauth2.json"
    assert cfg.smtp.auth == "oauth2"
    assert cfg.smtp.oauth2 is not None
    assert cfg.smtp.oauth2.token_store == mb.token_store
    assert cfg.smtp.oauth2.scope is None


@pytest.mark.usefixtures("refresh_env")
def test_config_token_store_relative_to_config_file(tmp_path: Path) -> None:
    path = write_oauth_config(tmp_path / "anmeldung.toml", oauth_extra='token_store = "s/t.json"')
    assert load_config(path).mailbox.oauth2.token_store == tmp_path.resolve() / "s/t.json"  # type: ignore[union-attr]


@pytest.mark.usefixtures("refresh_env")
@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        # client_credentials (no refresh token) needs a client secret
        (
            'client_secret = "client-secret-9f8e7d"\nrefresh_token_env = "TEST_OAUTH_REFRESH"\n',
            "",
            "[mailbox.oauth2] client_secret",
        ),
        ("scope =", "scop =", "[mailbox.oauth2] scop"),
        ('client_id = "anmeldung-client"\n', "", "[mailbox.oauth2] client_id"),
        ("http://127.0.0.1:9/token", "http://login.example/token", "[mailbox.oauth2] token_url"),
        ('auth = "oauth2"\nidle', 'auth = "oauth"\nidle', "[mailbox] auth"),
        ('auth = "oauth2"\nidle', 'password = "x"\nauth = "oauth2"\nidle', "[mailbox] password"),
        ('auth = "oauth2"\nidle', 'password = "x"\nidle', "[mailbox] oauth2"),
        (
            'username = "anmeldung@stadt.example"\nauth = "oauth2"\n\n',
            'auth = "oauth2"\n\n',
            "[smtp] username",
        ),
        ("\n[smtp.oauth2]", "\n[smtp.oauth3]", "[smtp] oauth2"),
    ],
)
def test_config_errors_name_key_and_file(tmp_path: Path, old: str, new: str, where: str) -> None:
    path = write_oauth_config(tmp_path / "anmeldung.toml")
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert where in str(info.value)
    assert str(path) in str(info.value)
    assert CLIENT_SECRET not in str(info.value)


def test_config_public_client_needs_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_OAUTH_REFRESH", FIRST_REFRESH)
    path = write_oauth_config(tmp_path / "anmeldung.toml")
    path.write_text(path.read_text().replace('client_secret = "client-secret-9f8e7d"\n', ""))
    cfg = load_config(path)
    assert cfg.mailbox.oauth2 is not None
    assert cfg.mailbox.oauth2.client_secret is None
    assert cfg.smtp.oauth2 is not None
    assert cfg.smtp.oauth2.client_secret is None


# -- XOAUTH2 against real servers ---------------------------------------------------------------


def warnings_from_us(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("anmeldung")
    ]


def smtp_config(sink: SmtpSink, oauth2: OAuth2Config) -> SmtpConfig:
    return SmtpConfig(
        host=sink.host,
        port=sink.port,
        security="none",
        from_address=Address("Anmeldung", "anmeldung", "stadt.example"),
        username=MAILBOX_USER,
        auth="oauth2",
        oauth2=oauth2,
        timeout_seconds=10,
    )


def test_smtp_xoauth2_login_and_send(
    rotating_server: TokenServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = oauth_config(rotating_server, tmp_path)
    with SmtpSink(xoauth2=rotating_server.accepts) as sink:
        with SmtpConnection(smtp_config(sink, cfg)) as conn:
            conn.send(MAILBOX_USER, "gast@example.org", b"Subject: hi\r\n\r\nhallo\r\n")
        # A second session reuses the cached token: no new token request.
        with SmtpConnection(smtp_config(sink, cfg)):
            pass
        assert sink.wait_for(1)[0].rcpt_tos == ["gast@example.org"]
        assert sink.logins == [MAILBOX_USER, MAILBOX_USER]
        assert len(rotating_server.requests) == 1

        # The server revokes everything: one clear ERROR, then DEBUG until a login works.
        rotating_server.revoke_all()
        caplog.set_level(logging.DEBUG, logger="anmeldung.oauth")
        for _ in range(3):
            with pytest.raises(SmtpLoginError) as info:
                SmtpConnection(smtp_config(sink, cfg)).open()
        errors = warnings_from_us(caplog)
        assert len(errors) == 1, caplog.text
        first = errors[0].getMessage()
        assert "535" in first
        assert f"127.0.0.1:{sink.port}" in first
        assert "XOAUTH2" in first
        # The refused token was dropped; the next tries ask the endpoint and get invalid_grant.
        assert "invalid_grant" in str(info.value)
        assert "sign in again" in str(info.value)
        for text in (str(info.value), caplog.text):
            assert CLIENT_SECRET not in text
            assert "access-" not in text
            assert "refresh-0" not in text

        # A new refresh token is configured: the login works and says so once.
        rotating_server.refresh_tokens.add("refresh-new-admin-grant")
        fixed = replace(cfg, refresh_token=Secret("refresh-new-admin-grant"))
        caplog.clear()
        with SmtpConnection(smtp_config(sink, fixed)):
            pass
        assert "works again after 3 failed attempt(s)" in caplog.text
        assert login_log.failures(f"smtp:{MAILBOX_USER}@127.0.0.1:{sink.port}") == 0


def test_smtp_without_xoauth2_says_so(token_server: TokenServer, tmp_path: Path) -> None:
    with SmtpSink() as sink, pytest.raises(AnmeldungError, match="does not offer AUTH XOAUTH2"):
        SmtpConnection(smtp_config(sink, oauth_config(token_server, tmp_path))).open()


@pytest.fixture
def oauth_dovecot(tmp_path: Path, token_server: TokenServer) -> Iterator[DovecotServer]:
    requires_dovecot()
    with DovecotServer(
        tmp_path / "dovecot", oauth2_introspection_url=token_server.introspection_url
    ) as dovecot:
        yield dovecot


def mailbox_config(dovecot: DovecotServer, oauth2: OAuth2Config) -> MailboxConfig:
    return MailboxConfig(
        host=dovecot.host,
        port=dovecot.imap_port,
        security="none",
        username=MAILBOX_USER,
        password=None,
        auth="oauth2",
        oauth2=oauth2,
        timeout_seconds=10,
    )


def test_imap_xoauth2_against_dovecot_oauth2_passdb(
    oauth_dovecot: DovecotServer,
    token_server: TokenServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = oauth_config(token_server, tmp_path)
    with ImapMailbox(mailbox_config(oauth_dovecot, cfg)) as mailbox:
        assert mailbox.uidvalidity
    assert token_server.introspections == 1  # Dovecot really asked about our token

    # Password logins keep working beside it (the test helper uses them).
    oauth_dovecot.imap(MAILBOX_USER).logout()

    # A token Dovecot's introspection calls inactive is refused: one ERROR, then DEBUG.
    token_server.revoke_all()
    caplog.set_level(logging.DEBUG, logger="anmeldung.oauth")
    for _ in range(2):
        with pytest.raises(MailboxLoginError) as info:
            ImapMailbox(mailbox_config(oauth_dovecot, cfg)).open()
    errors = warnings_from_us(caplog)
    assert len(errors) == 1, caplog.text
    assert "refused the XOAUTH2 login" in errors[0].getMessage()
    assert "AUTHENTICATIONFAILED" in errors[0].getMessage()
    assert "invalid_grant" in str(info.value)  # second try: the cached token was dropped
    assert "access-" not in caplog.text


def test_poll_with_oauth2_for_imap_and_smtp_across_restarts(
    tmp_path: Path, rotating_server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real CLI in fresh processes: XOAUTH2 at Dovecot and the sink, rotation on disk."""
    requires_dovecot()
    monkeypatch.setenv("TEST_OAUTH_REFRESH", FIRST_REFRESH)
    with (
        DovecotServer(
            tmp_path / "dovecot", oauth2_introspection_url=rotating_server.introspection_url
        ) as dovecot,
        SmtpSink(forward_to=dovecot, xoauth2=rotating_server.accepts) as sink,
    ):
        client = dovecot.imap(MAILBOX_USER)
        example = sorted(EXAMPLES.glob("*.eml"))[0]
        append(client, "INBOX", example.read_bytes())
        client.logout()
        config = write_oauth_config(
            tmp_path / "anmeldung.toml",
            token_url=rotating_server.token_url,
            imap_port=dovecot.imap_port,
            smtp_port=sink.port,
        )
        (tmp_path / "data").mkdir()
        run_cli(config, "init")
        out = run_cli(config, "poll").out
        assert "1 recorded" in out, out
        assert "1 sent" in out, out
        assert sink.logins == [MAILBOX_USER]
        # IMAP and SMTP share the chain (same client and first token): two refreshes in a row,
        # each with the token the previous one handed out.
        sent = [r["refresh_token"] for r in rotating_server.requests]
        assert sent[0] == FIRST_REFRESH
        assert len(sent) == 2
        assert sent[1] != FIRST_REFRESH
        store = tmp_path / "data" / "anmeldung-oauth2.json"
        assert stat.S_IMODE(store.stat().st_mode) == 0o600

        # A second process: the configured token is long spent, the stored one carries on.
        out = run_cli(config, "poll").out
        assert "0 recorded" in out, out
        assert rotating_server.requests[2]["refresh_token"] not in sent

        # Everything revoked: the poll fails with one clear line and the state records it.
        rotating_server.revoke_all()
        result = run_cli(config, "poll", check=False)
        assert result.code == 1
        assert "invalid_grant" in result.err
        assert CLIENT_SECRET not in result.err
        assert "refresh-0" not in result.err
        db = sqlite3.connect(tmp_path / "data" / "anmeldung.db")
        try:
            (last_error,) = db.execute("SELECT last_error FROM mailbox_state").fetchone()
            (run_error,) = db.execute(
                "SELECT error FROM poll_runs ORDER BY id DESC LIMIT 1"
            ).fetchone()
        finally:
            db.close()
        assert "invalid_grant" in last_error
        assert "invalid_grant" in run_error


def test_refused_smtp_login_shows_in_status(
    servers: MailServers, tmp_path: Path, token_server: TokenServer
) -> None:
    """IMAP works with its password, SMTP's refresh token is dead: status says why replies stop."""
    servers.smtp.xoauth2 = token_server.accepts  # only matters for the restarted sink below
    servers.smtp.stop()
    servers.smtp.start()
    config = write_config(
        tmp_path / "anmeldung.toml",
        servers,
        extra=f"""
[smtp.oauth2]
token_url = "{token_server.token_url}"
client_id = "{CLIENT_ID}"
refresh_token = "refresh-revoked-long-ago-31"
""",
    )
    text = config.read_text(encoding="utf-8")
    marker = f'from = "Stadt Bonn – Anmeldung <{MAILBOX_USER}>"\n'
    assert marker in text
    config.write_text(
        text.replace(marker, marker + f'username = "{MAILBOX_USER}"\nauth = "oauth2"\n'),
        encoding="utf-8",
    )
    client = servers.dovecot.imap(MAILBOX_USER)
    append(client, "INBOX", sorted(EXAMPLES.glob("*.eml"))[0].read_bytes())
    client.logout()
    run_cli(config, "init")

    poll = run_cli(config, "poll", check=False)
    assert poll.code == 1
    assert "SMTP login" in poll.err
    assert "invalid_grant" in poll.err
    assert "refresh-revoked-long-ago-31" not in poll.err
    assert servers.smtp.messages == []

    status = run_cli(config, "status", "--no-mailbox", check=False)
    assert status.code == 1, status.out
    assert "invalid_grant" in status.out
    assert "refresh-revoked-long-ago-31" not in status.out


def test_worker_logs_a_refused_login_once_across_polls_and_idle(
    oauth_dovecot: DovecotServer,
    token_server: TokenServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The poll job and the IDLE thread both log in, again and again: one ERROR in all."""
    cfg = mailbox_config(oauth_dovecot, oauth_config(token_server, tmp_path))
    token_server.revoke_all()
    stop = threading.Event()

    def poll_once() -> None:
        with ImapMailbox(cfg):
            pass

    worker = SimpleNamespace(
        poll_once=poll_once,
        stop=stop,
        config=SimpleNamespace(schedule=SimpleNamespace(poll_seconds=60)),
    )
    job = PollJob(worker)  # type: ignore[arg-type]
    watcher = IdleWatcher(lambda: ImapMailbox(cfg), lambda: None, stop, renew_seconds=60)
    caplog.set_level(logging.DEBUG, logger="anmeldung")
    watcher.start()
    try:
        for _ in range(3):
            job.not_before = 0.0
            job._once()
        deadline = time.monotonic() + 10
        while watcher.failures < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        watcher.join(10)
    assert job.failures == 3
    assert watcher.failures >= 2
    loud = warnings_from_us(caplog)
    assert [r.name for r in loud] == ["anmeldung.oauth"], caplog.text
    assert "invalid_grant" in loud[0].getMessage()
    assert "login failed again" in caplog.text  # the repeats, at debug level
