"""IMAP IDLE watcher: a thread that wakes the poll job within about a second of new mail."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .errors import AuthError, MailboxError
from .mailbox import IMAP_ERRORS, ImapMailbox

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0


class IdleWatcher(threading.Thread):
    """Holds its own IMAP connection in IDLE on the watched folder (RFC 2177).

    It never handles mail itself: it only calls ``wake()``, and the poll job does the work, so
    there is one code path for mail whether it was noticed by IDLE or by the interval poll.
    The connection is renewed every ``idle_renew_seconds`` (servers may end IDLE after 30
    minutes) and re-opened with exponential backoff when it breaks.
    """

    def __init__(
        self,
        mailbox_factory: Callable[[], ImapMailbox],
        wake: Callable[[], None],
        stop: threading.Event,
        renew_seconds: float,
        check_seconds: float = 1.0,
    ) -> None:
        super().__init__(name="imap-idle", daemon=True)
        self.mailbox_factory = mailbox_factory
        self.wake = wake
        self.stop = stop
        self.renew_seconds = renew_seconds
        self.check_seconds = check_seconds
        self.supported: bool | None = None  # None until the first connection tells
        self.ready = threading.Event()  # set whenever an IDLE command is active
        self.failures = 0

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                with self.mailbox_factory() as mailbox:
                    if "IDLE" not in mailbox.capabilities:
                        self.supported = False
                        log.info("the IMAP server does not offer IDLE; polling on schedule")
                        return
                    self.supported = True
                    if self.failures:
                        log.info("IDLE connection restored after %d failure(s)", self.failures)
                    self.failures = 0
                    backoff = 1.0
                    # Mail that arrived while we were away is picked up by this wake.
                    self.wake()
                    self._watch(mailbox)
            except MailboxError as exc:
                self.failures += 1
                # A refused login was logged where it happened (oauth.LoginLog).
                first = self.failures == 1 and not isinstance(exc, AuthError)
                log_fn = log.warning if first else log.debug
                log_fn("IDLE connection failed (%s); retrying in %.0f s", exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                self.ready.clear()

    def _watch(self, mailbox: ImapMailbox) -> None:
        client = mailbox.client
        while not self.stop.is_set():
            try:
                client.idle()
                self.ready.set()
                started = time.monotonic()
                woke = False
                while not self.stop.is_set() and time.monotonic() - started < self.renew_seconds:
                    responses = client.idle_check(timeout=self.check_seconds)
                    # "* n EXISTS" announces new mail (RFC 3501 7.3.1).
                    if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                        woke = True
                        break
                self.ready.clear()
                client.idle_done()
            except IMAP_ERRORS as exc:
                raise MailboxError(f"IDLE on {mailbox.config.folder!r} failed: {exc}") from exc
            if woke:
                self.wake()
