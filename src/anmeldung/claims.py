"""Which waiting messages this worker handles: PostgreSQL advisory locks, or all on SQLite."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from types import TracebackType

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from .db import Database
from .errors import DatabaseError

log = logging.getLogger(__name__)

# Messages claimed at a time on PostgreSQL: small enough that several workers woken by the
# same IDLE notice share a burst of mail, large enough to fetch and move in one IMAP command.
CLAIM_SIZE = 25

# Session-level advisory locks (not tied to a transaction): held while the message is
# fetched, recorded in its own transaction and moved, and dropped by the server when the
# worker's connection dies (kill -9), so another worker takes the message over at once.
_CLAIM = text(
    "SELECT u FROM unnest(CAST(:uids AS bigint[])) AS u "
    "WHERE pg_try_advisory_lock(CAST(:base AS bigint) + u) LIMIT :n"
)
_RELEASE = text("SELECT pg_advisory_unlock_all()")


class InboxClaims:
    """Claims UIDs of one folder (and UIDVALIDITY) for this worker until ``release()``.

    On SQLite there is one worker per database (``Database.worker_lock``): every UID is its.
    """

    def __init__(self, db: Database, mailbox_key: str, uidvalidity: int | None) -> None:
        self.db = db
        self.shared = db.engine.dialect.name == "postgresql"
        # 31 bits of the folder's name and UIDVALIDITY above the 32-bit UID: one bigint key
        # per message. A hash collision between two folders only makes a worker skip a message
        # another worker holds in the other folder; it is taken on a later poll.
        folder = zlib.crc32(f"{mailbox_key}\0{uidvalidity}".encode()) & 0x7FFFFFFF
        self.base = folder << 32
        self.conn: Connection | None = None

    def __enter__(self) -> InboxClaims:
        if self.shared:
            try:
                conn = self.db.engine.connect()
                # Autocommit: no transaction sits open on this connection for the whole poll.
                self.conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            except SQLAlchemyError as exc:
                raise DatabaseError(f"cannot claim messages: {exc}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.execute(_RELEASE)
            conn.close()
        except SQLAlchemyError:
            # The connection broke: the server dropped its locks with it; never pool it again.
            log.debug("releasing message claims failed", exc_info=True)
            conn.invalidate()
            conn.close()

    def claim(self, uids: Sequence[int], limit: int = CLAIM_SIZE) -> tuple[list[int], list[int]]:
        """Claim up to ``limit`` of ``uids`` (ascending); returns (claimed, not yet tried).

        UIDs another worker holds are skipped: they are its to handle. Our own claims would
        be granted again (PostgreSQL stacks a session's advisory locks): go on with the
        returned rest, or release() first.
        """
        if self.conn is None:
            return list(uids), []
        if not uids:
            return [], []
        try:
            claimed = [
                int(u)
                for u in self.conn.execute(
                    _CLAIM, {"uids": list(uids), "base": self.base, "n": limit}
                ).scalars()
            ]
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot claim messages: {exc}") from exc
        if len(claimed) < limit:
            return claimed, []  # every UID was tried
        last = claimed[-1]
        return claimed, [u for u in uids if u > last]

    def release(self) -> None:
        """Let go of every claim (after the claimed messages were moved out of the folder)."""
        if self.conn is None:
            return
        try:
            self.conn.execute(_RELEASE)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot release message claims: {exc}") from exc
