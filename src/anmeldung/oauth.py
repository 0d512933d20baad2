"""OAuth2 access tokens for XOAUTH2 logins (RFC 6749 4.4 and 6); rotated refresh tokens kept."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import json
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .config import OAuth2Config
from .errors import OAuthError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock between processes
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# A cached access token is renewed this many seconds (at most a tenth of its life) before it ends.
EXPIRY_MARGIN = 60.0
# RFC 6749 5.1 only recommends expires_in; without it, assume the common hour.
DEFAULT_LIFETIME = 3600.0
_MAX_RESPONSE = 1 << 20
_STORE_VERSION = 1

# What an error response's "error" code means for the person reading the log (RFC 6749 5.2).
_HINTS = {
    "invalid_grant": "the refresh token has expired or was revoked: sign in again and put the new "
    "refresh token in the config",
    "invalid_client": "check client_id and client_secret (a client secret may have expired)",
    "unauthorized_client": "the client may not use this grant type; check the app registration",
    "invalid_scope": "check scope",
    "unsupported_grant_type": "the server does not offer this grant type",
}


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial client response (before base64): ``user=…^Aauth=Bearer …^A^A``."""
    if any(ch in user or ch in token for ch in "\x01\r\n\0"):
        raise ValueError("user name or token contains a control character")
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def chain_key(config: OAuth2Config) -> str:
    """Identifies one line of rotated refresh tokens: the client and the configured first token.

    A new refresh token in the config starts a new line, so it wins over older rotated ones.
    Mailbox and SMTP configured with the same token share the line (and the stored token).
    """
    first = config.refresh_token.reveal() if config.refresh_token else ""
    basis = "\0".join((config.token_url, config.client_id, first)).encode()
    return hashlib.sha256(basis).hexdigest()[:32]


def _public_url(url: str) -> str:
    """The token URL without user info, query or fragment (they may carry credentials)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class TokenStore:
    """Rotated refresh tokens in a small JSON file: mode 0600, replaced atomically.

    ``locked()`` holds an exclusive lock (flock on ``<file>.lock``) so that two processes, or
    the mailbox and SMTP of one process, never spend the same refresh token twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # storing will fail too and say so; the token still works
            log.debug("cannot lock %s: %s", self.lock_path, exc)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("cannot read the OAuth2 token store %s (%s); ignoring it", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        entry = self._read().get("refresh_tokens", {}).get(key)
        token = entry.get("refresh_token") if isinstance(entry, dict) else None
        return token if isinstance(token, str) and token else None

    def put(self, key: str, token: str) -> None:
        """Store ``token`` for ``key``; raises OSError when the file cannot be written."""
        data = self._read()
        tokens = data.get("refresh_tokens")
        if not isinstance(tokens, dict):
            tokens = {}
        tokens[key] = {
            "refresh_token": token,
            "stored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        text = json.dumps({"version": _STORE_VERSION, "refresh_tokens": tokens}, indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600 in the same directory: os.replace is atomic.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


class TokenProvider:
    """Access tokens for one OAuth2 client, cached until shortly before they expire.

    Thread-safe: the poll and the IDLE watcher may ask at the same time.
    """

    def __init__(
        self,
        config: OAuth2Config,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.clock = clock
        self.store = TokenStore(config.token_store)
        self.key = chain_key(config)
        self.requests = 0  # how often the token endpoint was asked
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        # The newest refresh token when the store could not be written (kept for this process).
        self._unstored_refresh: str | None = None

    @property
    def where(self) -> str:
        return _public_url(self.config.token_url)

    def access_token(self) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint."""
        with self._lock:
            if self._token is not None and self.clock() < self._renew_at:
                return self._token
            token, lifetime = self._fetch()
            self._token = token
            self._renew_at = self.clock() + lifetime - min(EXPIRY_MARGIN, lifetime / 10)
            return token

    def invalidate(self) -> None:
        """Forget the cached access token (the server refused it): the next login gets a new one."""
        with self._lock:
            self._token = None

    # -- the token request --------------------------------------------------------------------

    def _fetch(self) -> tuple[str, float]:
        cfg = self.config
        form = {"grant_type": cfg.grant_type, "client_id": cfg.client_id}
        if cfg.client_secret is not None:
            form["client_secret"] = cfg.client_secret.reveal()
        if cfg.scope:
            form["scope"] = cfg.scope
        if cfg.refresh_token is None:
            data = self._post(form)
            return self._access_token(data), self._lifetime(data)
        with self.store.locked():
            stored = self._unstored_refresh or self.store.get(self.key)
            form["refresh_token"] = stored or cfg.refresh_token.reveal()
            source = f"the rotated one in {self.store.path}" if stored else "the configured one"
            data = self._post(form, refresh_source=source)
            token = self._access_token(data)
            new_refresh = data.get("refresh_token")
            if (
                isinstance(new_refresh, str)
                and new_refresh
                and new_refresh != form["refresh_token"]
            ):
                self._keep_refresh_token(new_refresh)
        return token, self._lifetime(data)

    def _keep_refresh_token(self, token: str) -> None:
        try:
            self.store.put(self.key, token)
        except OSError as exc:
            self._unstored_refresh = token
            log.error(
                "cannot store the new OAuth2 refresh token in %s (%s): it is kept in memory only; "
                "after a restart the configured refresh token may no longer be accepted",
                self.store.path,
                exc.strerror or exc,
            )
            return
        self._unstored_refresh = None
        log.info(
            "OAuth2 refresh token rotated by %s; the new one is kept in %s",
            self.where,
            self.store.path,
        )

    def _post(self, form: dict[str, str], refresh_source: str | None = None) -> dict[str, Any]:
        cfg = self.config
        secrets = [form.get("client_secret"), form.get("refresh_token")]
        what = f"the {cfg.grant_type} grant for client {cfg.client_id}"
        request = urllib.request.Request(  # noqa: S310 - config validation allows http(s) only
            cfg.token_url,
            data=urllib.parse.urlencode(form).encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read(_MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            with exc:
                body = exc.read(_MAX_RESPONSE)
            raise OAuthError(self._refusal(exc.code, body, what, refresh_source, secrets)) from None
        except urllib.error.URLError as exc:
            reason = _scrub(str(exc.reason), secrets)
            raise OAuthError(f"cannot reach the token endpoint {self.where}: {reason}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, bad URLs
            reason = _scrub(str(exc) or type(exc).__name__, secrets)
            raise OAuthError(f"cannot reach the token endpoint {self.where}: {reason}") from None
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise OAuthError(f"the token endpoint {self.where} answered {what} with no JSON object")
        if data.get("error") and not data.get("access_token"):  # an error sent with 200 OK
            raise OAuthError(self._refusal(200, body, what, refresh_source, secrets))
        return data

    def _refusal(
        self,
        status: int,
        body: bytes,
        what: str,
        refresh_source: str | None,
        secrets: list[str | None],
    ) -> str:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        error = description = ""
        if isinstance(data, dict):
            error = str(data.get("error") or "")
            description = str(data.get("error_description") or "")
        description = " ".join(description.split())[:300]
        parts = [f"the token endpoint {self.where} refused {what}: HTTP {status}"]
        if error:
            parts.append(f" {error}")
        if description:
            parts.append(f" ({description})")
        hint = _HINTS.get(error)
        if hint:
            parts.append(f"; {hint}")
        if error == "invalid_grant" and refresh_source:
            parts.append(f" (the refresh token sent was {refresh_source})")
        return _scrub("".join(parts), secrets)

    def _access_token(self, data: dict[str, Any]) -> str:
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthError(f"the token endpoint {self.where} answered without an access_token")
        token_type = str(data.get("token_type") or "Bearer")
        if token_type.lower() != "bearer":
            raise OAuthError(
                f"the token endpoint {self.where} issued a {token_type[:40]!r} "
                "token; XOAUTH2 needs a Bearer token"
            )
        return token

    @staticmethod
    def _lifetime(data: dict[str, Any]) -> float:
        try:
            seconds = float(data.get("expires_in", DEFAULT_LIFETIME))
        except (TypeError, ValueError):
            return DEFAULT_LIFETIME
        return seconds if seconds > 0 else 0.0


_providers: dict[tuple[OAuth2Config, float], TokenProvider] = {}
_providers_lock = threading.Lock()


def provider_for(config: OAuth2Config, timeout: float = 30.0) -> TokenProvider:
    """One provider per client config in this process, so its cached token outlives a session."""
    with _providers_lock:
        provider = _providers.get((config, timeout))
        if provider is None:
            provider = _providers[(config, timeout)] = TokenProvider(config, timeout=timeout)
        return provider


class LoginLog:
    """A failed login is logged once, as an error; repeats go to debug until a login works.

    A wrong password or a revoked token then shows one clear line, not one per poll, and the
    poll and the IDLE watcher (both logging in to the same mailbox) do not repeat each other.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}

    def failed(self, key: str, message: str) -> None:
        with self._lock:
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
        if count == 1:
            log.error("%s (logged once; retrying quietly until the login works)", message)
        else:
            log.debug("login failed again (#%d): %s", count, message)

    def succeeded(self, key: str) -> None:
        with self._lock:
            count = self._failures.pop(key, 0)
        if count:
            log.info("login %s works again after %d failed attempt(s)", key, count)

    def failures(self, key: str) -> int:
        with self._lock:
            return self._failures.get(key, 0)


login_log = LoginLog()
