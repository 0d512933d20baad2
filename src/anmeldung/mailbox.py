"""The IMAP shell (imapclient): list what waits in the folder, fetch it in batches, move it on."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import imapclient
import imapclient.exceptions

from .config import MailboxConfig
from .errors import MailboxError, MailboxLoginError, OAuthError
from .oauth import login_log, provider_for

log = logging.getLogger(__name__)

# imapclient raises these (and OSError/ssl errors from the socket) for a broken session.
IMAP_ERRORS: tuple[type[BaseException], ...] = (
    imapclient.exceptions.IMAPClientError,
    OSError,
    socket.timeout,
    ssl.SSLError,
)


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    size: int
    raw: bytes | None  # None when the message is over the size limit and was not downloaded
    internal_date: dt.datetime | None


def mailbox_key(config: MailboxConfig) -> str:
    """Identifies a watched folder in the database ("user@host/INBOX")."""
    return f"{config.username}@{config.host}/{config.folder}"


class ImapMailbox:
    """One logged-in IMAP session on the watched folder."""

    def __init__(self, config: MailboxConfig) -> None:
        self.config = config
        self.client: Any = None
        self.uidvalidity: int | None = None
        self._known_folders: set[str] = set()

    @property
    def key(self) -> str:
        return mailbox_key(self.config)

    # -- session ------------------------------------------------------------------------------

    def open(self) -> None:
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        context = ssl.create_default_context()
        try:
            client = imapclient.IMAPClient(
                cfg.host,
                port=cfg.port,
                ssl=cfg.security == "ssl",
                ssl_context=context,
                timeout=cfg.timeout_seconds,
            )
            if cfg.security == "starttls":
                client.starttls(context)
        except ssl.SSLError as exc:
            raise MailboxError(f"TLS with IMAP server {where} failed: {exc.reason or exc}") from exc
        except IMAP_ERRORS as exc:
            raise MailboxError(f"cannot connect to IMAP server {where}: {exc}") from exc
        self._login(client, where)
        self.client = client
        self.select()

    def _login(self, client: Any, where: str) -> None:
        """LOGIN with the password, or AUTHENTICATE XOAUTH2 with an OAuth2 access token."""
        cfg = self.config
        key = f"imap:{cfg.username}@{where}"
        provider = None
        try:
            if cfg.auth == "oauth2":
                assert cfg.oauth2 is not None  # config validation
                provider = provider_for(cfg.oauth2, cfg.timeout_seconds)
                client.oauth2_login(cfg.username, provider.access_token())
            else:
                assert cfg.password is not None  # config validation
                client.login(cfg.username, cfg.password.reveal())
        except OAuthError as exc:
            _safe_logout(client)
            message = f"IMAP login for {cfg.username} at {where}: no OAuth2 access token: {exc}"
            login_log.failed(key, message)
            raise MailboxLoginError(message) from None
        except imapclient.exceptions.LoginError as exc:
            _safe_logout(client)
            if provider is not None:
                provider.invalidate()  # the next attempt asks for a fresh token
            how = "XOAUTH2 login" if provider is not None else "login"
            message = f"IMAP server {where} refused the {how} for {cfg.username}: {_text(exc)}"
            login_log.failed(key, message)
            raise MailboxLoginError(message) from None
        except IMAP_ERRORS as exc:
            _safe_logout(client)
            raise MailboxError(f"IMAP login at {where} failed: {exc}") from exc
        login_log.succeeded(key)

    def select(self) -> int:
        """Select the watched folder; returns its UIDVALIDITY."""
        try:
            info = self.client.select_folder(self.config.folder)
        except IMAP_ERRORS as exc:
            raise MailboxError(f"cannot open folder {self.config.folder!r}: {_text(exc)}") from exc
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        return self.uidvalidity

    def close(self) -> None:
        if self.client is not None:
            _safe_logout(self.client)
            self.client = None

    def __enter__(self) -> ImapMailbox:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(c.decode().upper() for c in self.client.capabilities())

    # -- reading ------------------------------------------------------------------------------

    def waiting_uids(self) -> list[int]:
        """UIDs of every message still in the folder (handled mail is moved away)."""
        try:
            # \Deleted ones are already copied on by a server without MOVE or UIDPLUS.
            return sorted(int(u) for u in self.client.search(["NOT", "DELETED"]))
        except IMAP_ERRORS as exc:
            raise MailboxError(f"searching {self.config.folder!r} failed: {_text(exc)}") from exc

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        """Fetch ``uids`` in batches; over-size messages come without their bytes.

        BODY.PEEK[] leaves the \\Seen flag alone (RFC 3501 6.4.5), so a person looking at the
        mailbox still sees which mail is new to them.
        """
        limit = self.config.max_message_bytes
        batch = self.config.batch_size
        for start in range(0, len(uids), batch):
            chunk = list(uids[start : start + batch])
            try:
                meta = self.client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE"])
                small = [u for u in chunk if int(meta.get(u, {}).get(b"RFC822.SIZE", 0)) <= limit]
                bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            except IMAP_ERRORS as exc:
                raise MailboxError(
                    f"fetching from {self.config.folder!r} failed: {_text(exc)}"
                ) from exc
            for uid in chunk:
                if uid not in meta:
                    continue  # expunged meanwhile by someone else
                data = bodies.get(uid, {})
                raw = data.get(b"BODY[]")
                internal = meta[uid].get(b"INTERNALDATE")
                yield FetchedMessage(
                    uid=uid,
                    size=int(meta[uid].get(b"RFC822.SIZE", 0)),
                    raw=bytes(raw) if raw is not None else None,
                    internal_date=_aware(internal),
                )

    # -- moving -------------------------------------------------------------------------------

    def ensure_folder(self, folder: str) -> None:
        if folder in self._known_folders:
            return
        try:
            if not self.client.folder_exists(folder):
                self.client.create_folder(folder)
                log.info("created IMAP folder %r", folder)
        except IMAP_ERRORS as exc:
            raise MailboxError(f"cannot create folder {folder!r}: {_text(exc)}") from exc
        self._known_folders.add(folder)

    def append_seen(self, folder: str, raw: bytes) -> None:
        """APPEND ``raw`` unchanged to ``folder`` (created when missing), flagged \\Seen."""
        self.ensure_folder(folder)
        try:
            self.client.append(folder, raw, flags=[imapclient.SEEN])
        except IMAP_ERRORS as exc:
            raise MailboxError(f"appending to {folder!r} failed: {_text(exc)}") from exc

    def move(self, uids: Iterable[int], folder: str) -> None:
        """Move messages out of the watched folder.

        RFC 6851 MOVE where offered; else COPY, flag \\Deleted and UID EXPUNGE (RFC 4315 UIDPLUS)
        of exactly these UIDs, so other clients' deleted mail is not expunged with them.
        """
        uid_list = sorted(set(uids))
        if not uid_list:
            return
        self.ensure_folder(folder)
        failed = f"moving messages to {folder!r} failed"
        try:
            self._move(uid_list, folder)
        except imapclient.exceptions.IMAPClientAbortError as exc:  # the session broke
            raise MailboxError(f"{failed}: {_text(exc)}") from exc
        except imapclient.exceptions.IMAPClientError as exc:
            # Another worker (or a person) moved some of them first: the server answers NO,
            # e.g. [EXPUNGEISSUED] (RFC 5530). Move what is still here; gone is done.
            try:
                left = self._still_here(uid_list)
            except IMAP_ERRORS:
                raise MailboxError(f"{failed}: {_text(exc)}") from exc
            if left == uid_list:
                raise MailboxError(f"{failed}: {_text(exc)}") from exc
            log.debug(
                "%d of %d message(s) already gone: %s",
                len(uid_list) - len(left),
                len(uid_list),
                _text(exc),
            )
            if left:
                try:
                    self._move(left, folder)
                except IMAP_ERRORS as again:
                    raise MailboxError(f"{failed}: {_text(again)}") from again
        except IMAP_ERRORS as exc:
            raise MailboxError(f"{failed}: {_text(exc)}") from exc

    def _move(self, uid_list: list[int], folder: str) -> None:
        caps = self.capabilities
        if "MOVE" in caps:
            self.client.move(uid_list, folder)
            return
        self.client.copy(uid_list, folder)
        self.client.add_flags(uid_list, [imapclient.DELETED])
        if "UIDPLUS" in caps:
            self.client.uid_expunge(uid_list)

    def _still_here(self, uids: list[int]) -> list[int]:
        """Which of ``uids`` are still in the folder and not flagged \\Deleted."""
        self.client.noop()  # take in the EXPUNGE responses first
        found = self.client.search(["UID", ",".join(map(str, uids)), "NOT", "DELETED"])
        return sorted(int(u) for u in found)

    def move_by_message_id(self, from_folder: str, message_id: str, to_folder: str) -> int:
        """Move the copies of one message (found by its Message-ID header) between folders.

        Used after a replay: the message sits in the review folder under a UID we never saw.
        Returns how many were moved; the watched folder is selected again afterwards.
        """
        try:
            if not self.client.folder_exists(from_folder):
                return 0
            self.client.select_folder(from_folder)
            uids = self.client.search(["HEADER", "Message-ID", message_id])
            if uids:
                self.move([int(u) for u in uids], to_folder)
            return len(uids)
        except IMAP_ERRORS as exc:
            raise MailboxError(
                f"moving a message out of {from_folder!r} failed: {_text(exc)}"
            ) from exc
        finally:
            self.select()

    def erase(
        self,
        folder: str,
        *,
        text: str | None = None,
        message_ids: Iterable[str] = (),
        dry_run: bool = False,
    ) -> int:
        """Delete for good the messages in ``folder`` that mention ``text`` anywhere (RFC 3501
        SEARCH TEXT: headers and body) or carry one of ``message_ids``; returns how many
        (with ``dry_run``: how many would go).

        The Message-IDs are matched here against one FETCH of every message's Message-ID
        header, not with a SEARCH per ID (which rescans the folder each time). Deleting is
        \\Deleted, then UID EXPUNGE (RFC 4315) of exactly these UIDs where the server has
        UIDPLUS, so another client's deleted-but-kept mail is not expunged with them; plain
        EXPUNGE otherwise. The watched folder is selected again afterwards.
        """
        wanted = {m.strip("<>").lower() for m in message_ids}
        try:
            if not self.client.folder_exists(folder):
                return 0
            info = self.client.select_folder(folder)
            found: set[int] = set()
            if not int(info.get(b"EXISTS", 0)):
                return 0
            if text:
                found.update(int(u) for u in self.client.search(["TEXT", text]))
            if wanted:
                uids = self.client.search(["ALL"])
                headers = self.client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                for uid, data in headers.items():
                    # The response names the section as the server spelled it; take any.
                    raw = next((v for k, v in data.items() if k.startswith(b"BODY[")), b"")
                    _, _, mid = bytes(raw).decode("ascii", "replace").partition(":")
                    if mid.strip().strip("<>").lower() in wanted:
                        found.add(int(uid))
            if found and not dry_run:
                uids = sorted(found)
                self.client.add_flags(uids, [imapclient.DELETED])
                if "UIDPLUS" in self.capabilities:
                    self.client.uid_expunge(uids)
                else:
                    self.client.expunge()
            return len(found)
        except IMAP_ERRORS as exc:
            raise MailboxError(f"erasing messages in {folder!r} failed: {_text(exc)}") from exc
        finally:
            self.select()


def _aware(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _text(exc: BaseException) -> str:
    msg = exc.args[0] if exc.args else str(exc)
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def _safe_logout(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # the session is being thrown away; nothing useful can fail here
        try:
            client.shutdown()
        except Exception:
            log.debug("IMAP shutdown failed", exc_info=True)
