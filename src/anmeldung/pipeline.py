"""The one place I/O meets logic: process_inbox_once() and flush_outbox_once().

Read top to bottom: fetch -> parse/classify/extract -> record + enqueue in one transaction ->
move the mail on the server. Sending is a separate step that claims due outbox rows.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import case, exists, select, update
from sqlalchemy.exc import SQLAlchemyError

from .analyse import Analysis, analyse
from .claims import InboxClaims
from .classify import ClassifyContext
from .compose import Composer
from .config import Config
from .db import Database
from .errors import DatabaseError, InputError, MailboxError, SmtpError
from .locks import decision_lock, mailbox_state_row
from .mailbox import FetchedMessage, ImapMailbox, mailbox_key
from .models import InboundMessage, OutboxMessage, PollRun, utcnow
from .outbox import claim_due, claim_locked, mark_failed, mark_sent
from .registrations import Handled, find_by_key, handle, record
from .smtp import SmtpConnection, classify_smtp_error
from .sources import LocalMessage

log = logging.getLogger(__name__)

MailboxFactory = Callable[[], ImapMailbox]
SmtpFactory = Callable[[], SmtpConnection]


@dataclass
class InboxStats:
    waiting: int = 0  # messages found in the folder
    recorded: int = 0  # new rows in the messages table
    duplicates: int = 0  # already recorded (same Message-ID or same UID), only moved
    moved: int = 0
    errors: int = 0  # messages that failed and went to review
    kinds: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    uidvalidity: int | None = None
    uidvalidity_changed: bool = False
    stopped: bool = False


@dataclass
class OutboxStats:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    copied: int = 0  # sent replies appended to [mailbox] sent_folder
    copy_failed: bool = False  # the copy step stopped on an error; retried on the next flush


@dataclass
class PollStats:
    inbox: InboxStats
    outbox: OutboxStats


class Worker:
    """Holds what one poll cycle needs; built once per process, passed explicitly."""

    def __init__(
        self,
        config: Config,
        db: Database,
        *,
        mailbox_factory: MailboxFactory | None = None,
        smtp_factory: SmtpFactory | None = None,
        composer: Composer | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.mailbox_factory = mailbox_factory or (lambda: ImapMailbox(config.mailbox))
        self.smtp_factory = smtp_factory or (lambda: SmtpConnection(config.smtp))
        self.composer = composer or Composer(config)
        self.stop = stop or threading.Event()
        # One sender at a time within the process: `run` flushes from the poll job and from
        # the daily report job, and two claims at once would fight over SQLite's write lock.
        self.send_lock = threading.Lock()

    # -- context for the classifier -----------------------------------------------------------

    def classify_context(self) -> ClassifyContext:
        def is_own(message_id: str) -> bool:
            with self.db.session() as s:
                return bool(
                    s.scalar(select(exists().where(OutboxMessage.message_id == message_id)))
                )

        return ClassifyContext(own_addresses=self.config.own_addresses, is_own_message_id=is_own)

    # -- inbox --------------------------------------------------------------------------------

    def process_inbox_once(self) -> InboxStats:
        """Read every waiting message once, record and handle it, move it out of the folder."""
        stats = InboxStats()
        cfg = self.config.mailbox
        ctx = self.classify_context()
        try:
            with self.mailbox_factory() as mailbox:
                stats.uidvalidity = mailbox.uidvalidity
                self._check_uidvalidity(mailbox, stats)
                uids = mailbox.waiting_uids()
                stats.waiting = len(uids)
                if uids:
                    log.info("%d message(s) waiting in %s", len(uids), cfg.folder)
                with InboxClaims(self.db, mailbox.key, mailbox.uidvalidity) as claims:
                    todo = uids
                    while todo and not stats.stopped:
                        # With several workers (PostgreSQL) each takes a share of the waiting
                        # mail; on SQLite this is every UID at once.
                        mine, todo = claims.claim(todo)
                        self._handle_uids(mailbox, mine, ctx, stats)
                        claims.release()
        except MailboxError as exc:
            self._mailbox_state(error=str(exc))
            raise
        self._mailbox_state(error=None)
        return stats

    def _handle_uids(
        self, mailbox: ImapMailbox, uids: list[int], ctx: ClassifyContext, stats: InboxStats
    ) -> None:
        """Fetch, handle and move ``uids`` (claimed by this worker)."""
        cfg = self.config.mailbox
        moves: dict[str, list[int]] = {}
        recorded = self._recorded(mailbox, uids)
        for fetched in mailbox.fetch(uids):
            if self.stop.is_set():
                stats.stopped = True
                break
            folder = self._from_mailbox(mailbox, fetched, ctx, stats, recorded)
            if folder is not None:
                moves.setdefault(folder, []).append(fetched.uid)
            # Move after every batch, so a crash leaves at most one batch to move again.
            if sum(len(v) for v in moves.values()) >= cfg.batch_size:
                stats.moved += self._move(mailbox, moves)
        stats.moved += self._move(mailbox, moves)

    def _recorded(self, mailbox: ImapMailbox, uids: list[int]) -> dict[int, str | None]:
        """The folders of the ``uids`` already recorded (an earlier run stopped before moving
        them), looked up a few hundred at a time rather than one SELECT per message."""
        found: dict[int, str | None] = {}
        with self.db.session() as s:
            for start in range(0, len(uids), 500):
                chunk = uids[start : start + 500]
                for uid, folder in s.execute(
                    select(InboundMessage.uid, InboundMessage.folder).where(
                        InboundMessage.mailbox == mailbox.key,
                        InboundMessage.uidvalidity == mailbox.uidvalidity,
                        InboundMessage.uid.in_(chunk),
                    )
                ):
                    if uid is not None:
                        found[uid] = folder
        return found

    def _check_uidvalidity(self, mailbox: ImapMailbox, stats: InboxStats) -> None:
        """RFC 3501 2.3.1.1: a new UIDVALIDITY means every UID changed; Message-IDs still hold."""
        with self.db.transaction() as s:
            state = mailbox_state_row(s, mailbox.key)
            if state.uidvalidity is not None and state.uidvalidity != mailbox.uidvalidity:
                state.uidvalidity_changes += 1
                stats.uidvalidity_changed = True
                log.warning(
                    "UIDVALIDITY of %s changed from %s to %s: re-reading the folder; "
                    "known messages are recognised by Message-ID (change #%d)",
                    self.config.mailbox.folder,
                    state.uidvalidity,
                    mailbox.uidvalidity,
                    state.uidvalidity_changes,
                )
            state.uidvalidity = mailbox.uidvalidity

    def _mailbox_state(self, error: str | None) -> None:
        with self.db.transaction() as s:
            state = mailbox_state_row(s, mailbox_key(self.config.mailbox))
            if error is None:
                state.last_success_at = utcnow()
            else:
                state.last_error = error[:2000]
                state.last_error_at = utcnow()

    def _from_mailbox(
        self,
        mailbox: ImapMailbox,
        fetched: FetchedMessage,
        ctx: ClassifyContext,
        stats: InboxStats,
        recorded: dict[int, str | None],
    ) -> str | None:
        """Handle one fetched message; returns the folder it should move to.

        ``recorded`` maps the UIDs already recorded to their folders (see _recorded()).
        """
        if fetched.uid in recorded:
            # Recorded by an earlier run that stopped before moving it: only move it now.
            stats.duplicates += 1
            return recorded[fetched.uid] or self.config.mailbox.processed_folder
        return self.ingest(
            fetched.raw,
            ctx=ctx,
            stats=stats,
            source=mailbox.key,
            uidvalidity=mailbox.uidvalidity,
            uid=fetched.uid,
            size=fetched.size,
        )

    def ingest(
        self,
        raw: bytes | None,
        *,
        ctx: ClassifyContext,
        stats: InboxStats,
        source: str,
        uidvalidity: int | None = None,
        uid: int | None = None,
        size: int | None = None,
    ) -> str | None:
        """Record and handle one message from any source; returns its target folder.

        ``raw`` is None for a message over the size limit: it is recorded unread for review.
        """
        cfg = self.config.mailbox
        size = len(raw) if size is None and raw is not None else (size or 0)
        where = f"uid {uid}" if uid is not None else source
        if raw is None:
            return self._quarantine(
                source,
                uidvalidity,
                uid,
                None,
                None,
                size,
                stats,
                f"message is {size} bytes, over the limit of {cfg.max_message_bytes}",
            )
        try:
            analysis = analyse(raw, ctx, self.config.event.language)
        except Exception as exc:  # a poison message must not stop the batch
            log.warning("%s: could not be analysed: %s", where, exc)
            return self._quarantine(
                source, uidvalidity, uid, raw, None, size, stats, _describe(exc)
            )

        with self.db.session() as s:
            dup = find_by_key(s, analysis.parsed.message_key)
        if dup is not None:
            log.info(
                "%s: Message-ID %s was already handled as message #%s",
                where,
                analysis.parsed.message_id,
                dup.id,
            )
            stats.duplicates += 1
            return dup.folder or cfg.processed_folder

        try:
            with self.db.transaction() as s:
                # Before the insert: the registration decisions run one after another, and a
                # second worker's copy of the same Message-ID fails at once on the unique key.
                decision_lock(s)
                row = record(
                    s,
                    mailbox=source,
                    uidvalidity=uidvalidity,
                    uid=uid,
                    raw=raw,
                    analysis=analysis,
                    size=size,
                )
                result = handle(s, self.config, self.composer, row, analysis)
                row.folder = (
                    cfg.review_folder if result.status == "review" else cfg.processed_folder
                )
                folder = row.folder
        except SQLAlchemyError as exc:
            if _is_unique_violation(exc):
                stats.duplicates += 1  # another worker recorded it a moment ago
                return None
            raise DatabaseError(f"cannot record message ({where}): {exc}") from exc
        except Exception as exc:  # a bug or bad data in handling: isolate this message only
            log.warning("%s: handling failed: %s", where, _describe(exc))
            log.debug("handling failed", exc_info=True)
            return self._quarantine(
                source, uidvalidity, uid, raw, analysis, size, stats, _describe(exc, tb=True)
            )

        stats.recorded += 1
        stats.kinds[analysis.kind] += 1
        stats.statuses[result.status] += 1
        log.info(
            "message #%s (%s): %s/%s -> %s%s",
            row.id,
            analysis.parsed.message_id,
            analysis.kind,
            analysis.reason,
            result.status,
            f", {len(result.queued)} reply queued" if result.queued else "",
        )
        return folder

    def _quarantine(
        self,
        source: str,
        uidvalidity: int | None,
        uid: int | None,
        raw: bytes | None,
        analysis: Analysis | None,
        size: int,
        stats: InboxStats,
        error: str,
    ) -> str:
        """Record a message that could not be handled, with its error, for a person to review."""
        cfg = self.config.mailbox
        key = None
        if analysis is None:
            # Computed before record(): it flushes the row, and message_key is NOT NULL (set
            # afterwards, every over-size or unparseable message failed the whole poll).
            basis = raw if raw is not None else f"{source}:{uidvalidity}:{uid}:{size}".encode()
            key = "sha256:" + hashlib.sha256(basis).hexdigest()
        with self.db.transaction() as s:
            row = record(
                s,
                mailbox=source,
                uidvalidity=uidvalidity,
                uid=uid,
                raw=raw,
                analysis=analysis,
                size=size,
                message_key=key,
            )
            if analysis is None:
                row.kind = "other"
                # Over the size limit it was never downloaded: say so in the review list
                # rather than a generic "error".
                row.reason = "too_large" if raw is None else "error"
            row.status = "review"
            row.error = error[:4000]
            row.folder = cfg.review_folder
        stats.errors += 1
        stats.recorded += 1
        stats.kinds[row.kind] += 1
        stats.statuses["review"] += 1
        return cfg.review_folder

    def _move(self, mailbox: ImapMailbox, moves: dict[str, list[int]]) -> int:
        moved = 0
        for folder, uids in list(moves.items()):
            if uids:
                mailbox.move(uids, folder)
                moved += len(uids)
        moves.clear()
        return moved

    # -- other sources ------------------------------------------------------------------------

    def import_messages(
        self, messages: Iterable[LocalMessage], progress: Callable[[], None] | None = None
    ) -> InboxStats:
        """Run local messages (a backlog from before the tool) through the same pipeline."""
        stats = InboxStats()
        ctx = self.classify_context()
        for item in messages:
            if self.stop.is_set():
                stats.stopped = True
                break
            stats.waiting += 1
            self.ingest(item.raw, ctx=ctx, stats=stats, source=item.label)
            if progress is not None:
                progress()
        return stats

    def replay(self, message_pk: int, *, move: bool = True) -> tuple[InboundMessage, Handled]:
        """Handle a recorded message again (after a fix or a config change).

        Registrations and replies it already caused are not repeated: registrations are unique
        per address and every reply is unique per trigger.
        """
        cfg = self.config.mailbox
        with self.db.session() as s:
            existing = s.get(InboundMessage, message_pk)
            if existing is None:
                raise InputError(f"no message #{message_pk} (see `anmeldung messages`)")
            raw = existing.raw
        if raw is None:
            raise InputError(
                f"message #{message_pk} has no stored content (it was over the size limit "
                "or has been erased); handle it by hand"
            )
        analysis = analyse(raw, self.classify_context(), self.config.event.language)
        with self.db.transaction() as s:
            row = s.get(InboundMessage, message_pk)
            assert row is not None
            old_folder = row.folder
            p = analysis.parsed
            row.kind, row.reason, row.language = analysis.kind, analysis.reason, analysis.language
            row.sender, row.sender_name, row.subject = p.sender, p.sender_name, p.subject
            row.error = None
            result = handle(s, self.config, self.composer, row, analysis)
            row.folder = cfg.review_folder if result.status == "review" else cfg.processed_folder
            new_folder, message_id = row.folder, row.message_id
        if move and old_folder and new_folder != old_folder and message_id:
            with self.mailbox_factory() as mailbox:
                mailbox.move_by_message_id(old_folder, message_id, new_folder)
        return row, result

    # -- outbox -------------------------------------------------------------------------------

    def flush_outbox_once(self, limit: int = 500) -> OutboxStats:
        """Send every due outbox row over one SMTP connection, claiming ``limit`` at a time.

        A backlog of thousands of replies goes out in this one call (not ``limit`` per poll,
        which left a 10,000-mail backlog unanswered for 20 polls); claiming in batches keeps
        the lease on each row short and the memory for bodies bounded.
        """
        with self.send_lock:
            return self._flush_outbox(limit)

    def _flush_outbox(self, limit: int) -> OutboxStats:
        if self.db.engine.dialect.name == "postgresql":
            return self._flush_outbox_locked()
        stats = OutboxStats()
        conn: SmtpConnection | None = None
        try:
            while not self.stop.is_set():
                with self.db.transaction() as s:
                    rows = claim_due(s, limit)
                    claimed = [(r.id, r.sender, r.recipient, r.body, r.message_id) for r in rows]
                if not claimed:
                    break
                stats.claimed += len(claimed)
                if conn is None:
                    conn = self._open_smtp(claimed)
                try:
                    broken = self._send_claimed(conn, claimed, stats)
                finally:
                    self._release_untried(claimed)
                if broken or len(claimed) < limit:
                    break
        finally:
            if conn is not None:
                conn.close()
        self._copy_to_sent_folder(stats)
        return stats

    def _open_smtp(self, claimed: list[tuple[int, str, str, bytes, str]]) -> SmtpConnection:
        """Open the SMTP session; on failure give the claimed rows back and raise."""
        try:
            conn = self.smtp_factory()
            conn.open()
        except SmtpError as exc:
            # Give the rows back, untouched but for the attempt count, then report.
            with self.db.transaction() as s:
                for row_id, *_ in claimed:
                    row = s.get(OutboxMessage, row_id)
                    if row is not None:
                        row.status = "retry"
                        row.next_attempt_at = utcnow()
            # Where status and the report look for "the last poll failed" (a refused SMTP
            # login, e.g. a revoked OAuth2 token, stops every reply).
            self._mailbox_state(error=str(exc))
            raise
        return conn

    def _send_claimed(
        self,
        conn: SmtpConnection,
        claimed: list[tuple[int, str, str, bytes, str]],
        stats: OutboxStats,
    ) -> bool:
        """Send claimed rows in order; True when the connection broke (the rest waits)."""
        for row_id, sender, recipient, body, message_id in claimed:
            if self.stop.is_set():
                return False
            try:
                conn.send(sender, recipient, body)
            except Exception as exc:
                failure = classify_smtp_error(exc)
                with self.db.transaction() as s:
                    status = mark_failed(s, row_id, failure)
                stats.failed += status == "failed"
                stats.retry += status == "retry"
                # The server's reply text often quotes the recipient's address: personal
                # data stays at DEBUG, the code and outcome are enough to act on.
                log.warning(
                    "outbox #%s: SMTP %s (%s) -> %s",
                    row_id,
                    failure.code or "error",
                    failure.outcome,
                    status,
                )
                log.debug("outbox #%s (%s): %s", row_id, message_id, failure)
                if failure.outcome != "permanent":
                    return True  # the connection is suspect; the rest waits for the next cycle
                continue
            with self.db.transaction() as s:
                mark_sent(s, row_id)
            stats.sent += 1
            log.info("outbox #%s (%s): sent", row_id, message_id)
        return False

    def _release_untried(self, claimed: list[tuple[int, str, str, bytes, str]]) -> None:
        """Rows claimed but not tried (stop or a broken connection) go back to the queue."""
        # One UPDATE, not a load per row: after a full batch every row is already sent.
        with self.db.transaction() as s:
            s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_([row_id for row_id, *_ in claimed]),
                    OutboxMessage.status == "sending",
                )
                .values(
                    status=case((OutboxMessage.attempts <= 1, "queued"), else_="retry"),
                    attempts=case(
                        (OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0
                    ),
                    next_attempt_at=utcnow(),
                )
            )

    def _flush_outbox_locked(self) -> OutboxStats:
        """PostgreSQL, several workers: each row is sent inside the transaction that locked it.

        ``SELECT … FOR UPDATE SKIP LOCKED`` hands every due row to exactly one worker, and the
        outcome is committed in the same transaction. A worker killed mid-send (kill -9) takes
        its transaction and lock with it: the row is due again at once for the others, with
        no lease to wait out. Only a mail accepted by the server in the instant before the
        commit can go out twice (the same Message-ID); no transport can rule that out. Like
        the batched path it sends until nothing is due, one row (and transaction) at a time.
        """
        stats = OutboxStats()
        conn: SmtpConnection | None = None
        try:
            while not self.stop.is_set():
                with self.db.transaction() as s:
                    row = claim_locked(s)
                    if row is None:
                        break
                    stats.claimed += 1
                    if conn is None:
                        conn = self.smtp_factory()
                        try:
                            conn.open()
                        except SmtpError as exc:
                            conn = None
                            # Rolled back with the transaction: the row stays due, untouched.
                            self._mailbox_state(error=str(exc))
                            raise
                    try:
                        conn.send(row.sender, row.recipient, row.body)
                    except Exception as exc:
                        failure = classify_smtp_error(exc)
                        status = mark_failed(s, row.id, failure)
                        stats.failed += status == "failed"
                        stats.retry += status == "retry"
                        log.warning(
                            "outbox #%s: SMTP %s (%s) -> %s",
                            row.id,
                            failure.code or "error",
                            failure.outcome,
                            status,
                        )
                        log.debug("outbox #%s (%s): %s", row.id, row.message_id, failure)
                        if failure.outcome != "permanent":
                            break  # the connection is suspect; the rest waits for the next cycle
                        continue
                    mark_sent(s, row.id)
                stats.sent += 1
                log.info("outbox #%s (%s): sent", row.id, row.message_id)
        finally:
            if conn is not None:
                conn.close()
        self._copy_to_sent_folder(stats)
        return stats

    def _copy_to_sent_folder(self, stats: OutboxStats, limit: int = 500) -> None:
        """Append sent replies not yet copied to [mailbox] sent_folder, over one IMAP session.

        Runs after the sent state is committed and never touches it: a failure here is logged
        and the rows keep ``sent_copy_at`` NULL, so the copy (never the sending) is tried again
        on the next flush.
        """
        folder = self.config.mailbox.sent_folder
        if folder is None or self.stop.is_set():
            return
        with self.db.session() as s:
            todo = list(
                s.execute(
                    select(OutboxMessage.id, OutboxMessage.body)
                    .where(OutboxMessage.status == "sent", OutboxMessage.sent_copy_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                )
            )
        if not todo:
            return
        row_id: int | None = None
        try:
            with self.mailbox_factory() as mailbox:
                for row_id, body in todo:
                    mailbox.append_seen(folder, body)
                    with self.db.transaction() as s:
                        s.execute(
                            update(OutboxMessage)
                            .where(OutboxMessage.id == row_id)
                            .values(sent_copy_at=utcnow())
                        )
                    stats.copied += 1
                    row_id = None
        except Exception as exc:  # the mail is out; a missing copy must not fail the cycle
            stats.copy_failed = True
            where = f"outbox #{row_id}" if row_id is not None else "opening the mailbox"
            log.warning(
                "copy to sent folder %r failed (%s, %s); %d copy(ies) left for the next poll",
                folder,
                where,
                type(exc).__name__,
                len(todo) - stats.copied,
            )
            log.debug("copy to sent folder failed: %s", exc, exc_info=True)
            return
        log.info("copied %d sent reply(ies) to %r", stats.copied, folder)

    # -- one cycle ----------------------------------------------------------------------------

    def poll_once(self) -> PollStats:
        """One cycle: inbox, then outbox; recorded in poll_runs for status and reports."""
        with self.db.transaction() as s:
            run = PollRun()
            s.add(run)
            s.flush()
            run_id = run.id
        inbox = InboxStats()
        outbox = OutboxStats()
        error: str | None = None
        try:
            inbox = self.process_inbox_once()
            if not self.stop.is_set():
                outbox = self.flush_outbox_once()
        except Exception as exc:
            error = str(exc)
            raise
        finally:
            with self.db.transaction() as s:
                done = s.get(PollRun, run_id)
                if done is not None:
                    run = done
                    run.finished_at = utcnow()
                    run.fetched = inbox.waiting
                    run.recorded = inbox.recorded
                    run.sent = outbox.sent
                    run.uidvalidity = inbox.uidvalidity
                    run.error = error
        return PollStats(inbox=inbox, outbox=outbox)


def _describe(exc: BaseException, tb: bool = False) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if tb:
        text += "\n" + "".join(traceback.format_exception(exc)[-6:])
    return text


def _is_unique_violation(exc: SQLAlchemyError) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "unique" in text or "duplicate key" in text


def recorded_count(db: Database) -> int:
    from sqlalchemy import func

    with db.session() as s:
        return s.scalar(select(func.count()).select_from(InboundMessage)) or 0
