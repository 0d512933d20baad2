"""The SMTP shell: connect (TLS verified by default), log in, send raw bytes; errors classified."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from .config import SmtpConfig
from .errors import OAuthError, SmtpError, SmtpLoginError
from .oauth import login_log, provider_for, xoauth2_string

log = logging.getLogger(__name__)

Outcome = Literal["temporary", "permanent", "unknown"]


@dataclass(frozen=True)
class SendFailure:
    """Why one message was not accepted, and whether trying again can help."""

    outcome: Outcome
    code: int | None
    reply: str

    def __str__(self) -> str:
        return f"{self.code} {self.reply}" if self.code else self.reply


def classify_smtp_error(exc: BaseException) -> SendFailure:
    """The one place that decides whether an SMTP error is worth retrying.

    RFC 5321 4.2.1: 4yz replies are transient, 5yz permanent. A connection that breaks or times
    out after the final "." leaves the outcome unknown: the server may have taken the message,
    so a retry (with the same Message-ID) may deliver it twice, but not retrying may lose it.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        replies = "; ".join(_text(msg) for _, msg in exc.recipients.values())
        code = max(codes) if codes else None
        return SendFailure("permanent" if code and code >= 500 else "temporary", code, replies)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        outcome: Outcome = "permanent" if 500 <= code < 600 else "temporary"
        return SendFailure(outcome, code, _text(exc.smtp_error))
    if isinstance(exc, smtplib.SMTPServerDisconnected | socket.timeout | TimeoutError):
        return SendFailure("unknown", None, f"connection lost: {exc}")
    if isinstance(exc, OSError | smtplib.SMTPException):
        return SendFailure("temporary", None, f"{type(exc).__name__}: {exc}")
    return SendFailure("temporary", None, f"{type(exc).__name__}: {exc}")


def _require_mechanism(client: smtplib.SMTP, mechanism: str, where: str) -> None:
    client.ehlo_or_helo_if_needed()
    offered = client.esmtp_features.get("auth", "").upper().split()
    if mechanism not in offered:
        raise SmtpError(
            f"SMTP server {where} does not offer AUTH {mechanism} "
            f"(it offers: {', '.join(offered) or 'no AUTH at all'})"
        )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class SmtpConnection:
    """One SMTP session; `with SmtpConnection(cfg) as conn: conn.send(...)` for a whole batch."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.client: smtplib.SMTP | None = None

    def open(self) -> None:
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        context = ssl.create_default_context()
        client: smtplib.SMTP | None = None
        try:
            if cfg.security == "ssl":
                client = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout_seconds, context=context
                )
            else:
                client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
                client.ehlo()
                if cfg.security == "starttls":
                    client.starttls(context=context)
                    client.ehlo()
            self._login(client, where)
        except BaseException as exc:
            if client is not None:
                client.close()
            if isinstance(exc, SmtpError):
                raise
            if isinstance(exc, ssl.SSLError):
                raise SmtpError(
                    f"TLS with SMTP server {where} failed: {exc.reason or exc}"
                ) from exc
            if isinstance(exc, OSError | smtplib.SMTPException):
                raise SmtpError(f"cannot connect to SMTP server {where}: {exc}") from exc
            raise
        self.client = client

    def _login(self, client: smtplib.SMTP, where: str) -> None:
        """AUTH with the password (smtplib picks the mechanism), or AUTH XOAUTH2 with a token."""
        cfg = self.config
        if cfg.auth == "password" and (cfg.username is None or cfg.password is None):
            return  # a server that takes mail without login
        key = f"smtp:{cfg.username}@{where}"
        provider = None
        try:
            if cfg.auth == "oauth2":
                # Both ensured by config validation.
                assert cfg.oauth2 is not None
                assert cfg.username is not None
                provider = provider_for(cfg.oauth2, cfg.timeout_seconds)
                token = provider.access_token()
                _require_mechanism(client, "XOAUTH2", where)
                initial = xoauth2_string(cfg.username, token)
                # RFC 4954 initial response; on failure the server sends a JSON error as a
                # challenge, which XOAUTH2 answers with an empty line to get the final 535.
                client.auth(
                    "XOAUTH2",
                    lambda challenge=None: initial if challenge is None else "",
                    initial_response_ok=True,
                )
            else:
                assert cfg.username is not None
                assert cfg.password is not None
                client.login(cfg.username, cfg.password.reveal())
        except OAuthError as exc:
            message = f"SMTP login for {cfg.username} at {where}: no OAuth2 access token: {exc}"
            login_log.failed(key, message)
            raise SmtpLoginError(message) from None
        except smtplib.SMTPAuthenticationError as exc:
            if provider is not None:
                provider.invalidate()  # the next attempt asks for a fresh token
            how = "XOAUTH2 login" if provider is not None else "login"
            message = (
                f"SMTP server {where} refused the {how} for {cfg.username}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}"
            )
            login_log.failed(key, message)
            raise SmtpLoginError(message) from None
        login_log.succeeded(key)

    def send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        """Send one message; raises the smtplib error for classify_smtp_error to judge."""
        if self.client is None:
            raise SmtpError("SMTP connection is not open")
        refused = self.client.sendmail(envelope_from, [recipient], data)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.quit()
        except (OSError, smtplib.SMTPException):
            self.client.close()
        self.client = None

    def __enter__(self) -> SmtpConnection:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
