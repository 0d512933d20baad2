"""Thin command line: parse arguments, call the library, print; errors become one clear line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__
from .config import CONFIG_ENV, Config, load_config, resolve_config_path
from .db import Database
from .errors import AnmeldungError

log = logging.getLogger("anmeldung")


@dataclass
class State:
    config_path: str | None
    debug: bool
    verbose: int
    _config: Config | None = None

    def config(self) -> Config:
        if self._config is None:
            path = resolve_config_path(self.config_path)
            self._config = load_config(path)
            for warning in self._config.warnings:
                log.warning("%s: %s", path, warning)
        return self._config

    def database(self, *, migrated: bool = True) -> Database:
        db = Database(self.config().database.url)
        if migrated:
            db.require_current()
        return db


def _setup_logging(verbose: int, debug: bool, default: int = logging.WARNING) -> None:
    level = logging.DEBUG if (debug or verbose >= 2) else logging.INFO if verbose else default
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # mail-parser logs every MIME part it does not render (images, reports) at WARNING.
    logging.getLogger("mailparser").setLevel(logging.ERROR if level > logging.DEBUG else level)
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    logging.getLogger("imapclient").setLevel(max(level, logging.INFO))
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    # flufl.bounce logs a traceback (with the message's addresses) when one of its detectors
    # trips over broken input; we fall back to our own heuristics then.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL if level > logging.DEBUG else level)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"anmeldung: error: {message}", err=True)
    sys.exit(code)


class Group(click.Group):
    """Turns anmeldung's own errors into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AnmeldungError as exc:
            state = ctx.find_object(State)
            if state is not None and state.debug:
                raise
            _fail(str(exc))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help=f"Config file (default: ${CONFIG_ENV}, else ./anmeldung.toml).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks on errors.")
@click.version_option(__version__, prog_name="anmeldung")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, debug: bool) -> None:
    """anmeldung: registration by email for public events.

    Reads the registration mailbox, records who registers, and answers with a confirmation.
    Start with `anmeldung init`, then `anmeldung poll` once or `anmeldung run` as a service.
    """
    ctx.obj = State(config_path=config_path, debug=debug, verbose=verbose)
    _setup_logging(verbose, debug)


@cli.command()
@click.pass_obj
def init(state: State) -> None:
    """Create the database, or upgrade it to the newest schema (safe to repeat)."""
    db = state.database(migrated=False)
    before, after = db.upgrade()
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to revision {after}")


def _worker(state: State) -> Any:
    from .pipeline import Worker

    return Worker(state.config(), state.database())


@cli.command()
@click.pass_obj
def poll(state: State) -> None:
    """Run one cycle: read new mail, handle it, send due confirmations, then exit.

    Exits non-zero with one line when the mailbox, the SMTP server or the config is unusable.
    """
    worker = _worker(state)
    # One SQLite database takes one worker: a poll beside a running `run` would race it.
    with worker.db.worker_lock():
        stats = worker.poll_once()
    ib, ob = stats.inbox, stats.outbox
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(ib.kinds.items())) or "none"
    # "to review" is every message that went to the review folder (unclear mail and failures
    # alike); counting only the failures printed "0 to review" while dozens waited there.
    click.echo(
        f"mailbox: {ib.waiting} waiting, {ib.recorded} recorded ({kinds}), "
        f"{ib.duplicates} already known, {ib.moved} moved, {ib.statuses['review']} to review"
    )
    click.echo(f"outbox: {ob.sent} sent, {ob.retry} to retry, {ob.failed} failed")


@cli.command()
@click.pass_obj
def run(state: State) -> None:
    """Run the worker: poll every schedule.poll_seconds until SIGTERM or Ctrl-C.

    Logs go to standard error (the journal, under systemd). A stop signal lets the current
    message finish; nothing is lost if the process is killed instead.
    """
    from .scheduler import run_worker

    if state.verbose == 0 and not state.debug:
        logging.getLogger().setLevel(logging.INFO)
    worker = _worker(state)
    with worker.db.worker_lock():
        run_worker(worker)


@cli.command("list")
@click.option(
    "--status",
    type=click.Choice(["confirmed", "waitlisted", "cancelled"]),
    help="Only registrations with this status.",
)
@click.option(
    "--search", metavar="TEXT", help="Only rows whose email, name or organisation contain TEXT."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--page",
    type=click.IntRange(min=1),
    help="Only this page of --page-size rows (1 is the oldest); default: every row.",
)
@click.option(
    "--page-size", type=click.IntRange(min=1), default=50, show_default=True, help="Rows a page."
)
@click.pass_obj
def list_(
    state: State,
    status: str | None,
    search: str | None,
    as_json: bool,
    page: int | None,
    page_size: int,
) -> None:
    """Show the registrations as a table, oldest first, with totals."""
    from .reports import counts, forgotten_count, registration_rows, to_json

    db = state.database()
    with db.session() as s:
        if page is None:
            rows = registration_rows(s, status, search)
        else:
            # A page is read with LIMIT/OFFSET: 100,000 rows printed took minutes (rich).
            rows = registration_rows(
                s, status, search, limit=page_size, offset=(page - 1) * page_size
            )
        totals = counts(s)
        totals["erased"] = forgotten_count(s)
    if as_json:
        click.echo(to_json(rows))
        return
    _print_table(rows, totals, state.config())
    if page is not None:
        first = (page - 1) * page_size + 1
        shown = f"rows {first}-{first + len(rows) - 1}" if rows else "no rows"
        click.echo(f"page {page} ({shown}; --page {page + 1} for the next {page_size})")


def _print_table(rows: Sequence[dict[str, Any]], totals: dict[str, int], config: Config) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tz = config.schedule.tz
    # Every value as Text, never as a markup string: names and organisations come from
    # strangers' mail, and rich would read "[/]" as a closing tag (MarkupError: the whole list
    # fails) and "[link=…]…[/link]" as a clickable terminal hyperlink.
    table = Table(title=Text(config.event.name), show_lines=False)
    # Addresses and times must stay whole (people copy them); names and organisations may wrap.
    for col in ("#", "Status", "Name", "Organisation", "Email", "Registered", "Confirmed"):
        wraps = col in ("Name", "Organisation")
        table.add_column(col, overflow="fold", no_wrap=not wraps, ratio=2 if wraps else None)
    for r in rows:
        name = " ".join(x for x in (r["title"], r["name"]) if x) or "–"
        cells = (
            str(r["id"]),
            # A bounced confirmation: the organiser must see that this person was not reached.
            r["status"] + (" (unreachable)" if r.get("unreachable_at") else ""),
            name,
            r["organisation"] or "–",
            r["email"],
            r["registered_at"].astimezone(tz).strftime("%d.%m.%Y %H:%M"),
            r["confirmation_sent_at"].astimezone(tz).strftime("%d.%m. %H:%M")
            if r["confirmation_sent_at"]
            else "not yet",
        )
        table.add_row(*(Text(cell) for cell in cells))
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(table)
    cap = config.event.capacity
    summary = (
        f"{totals['confirmed']} confirmed"
        + (f" of {cap} places" if cap else "")
        + f", {totals['waitlisted']} waiting, {totals['cancelled']} cancelled"
        + (f" ({totals['erased']} of them erased, not listed)" if totals.get("erased") else "")
    )
    console.print(summary, markup=False)


@contextlib.contextmanager
def _progress() -> Iterator[Any]:
    """A track(items, total, label) that draws a progress bar on a terminal only.

    Quiet when stdout or stderr is not a terminal (a pipe, a file, cron, systemd), so scripts
    and logs see only the result. The bar goes to stderr and disappears when done.
    """
    from rich.console import Console
    from rich.progress import Progress

    quiet = not (sys.stdout.isatty() and sys.stderr.isatty())
    with Progress(console=Console(stderr=True), disable=quiet, transient=True) as progress:

        def track(items: Iterable[Any], total: int, label: str) -> Iterator[Any]:
            task = progress.add_task(label, total=total)
            for item in items:
                yield item
                progress.advance(task)

        yield track


def _write_private(path: Path, data: bytes) -> None:
    """Write an export (personal data) readable by its owner only, like the database."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "xlsx", "html"]),
    help="Output format (not with --person, which is always JSON).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to FILE (created readable by you only) instead of standard output.",
)
@click.option(
    "--delimiter",
    default=",",
    show_default=True,
    help="CSV field separator (';' for German Excel).",
)
@click.option(
    "--status",
    type=click.Choice(["confirmed", "waitlisted", "cancelled"]),
    help="Only this status (html: default confirmed).",
)
@click.option(
    "--lang",
    type=click.Choice(["de", "en"]),
    help="Language of xlsx and html headings (default: the event's).",
)
@click.option(
    "--person",
    metavar="ADDRESS",
    help="Everything stored about one person, as JSON (a GDPR access request).",
)
@click.pass_obj
def export(
    state: State,
    fmt: str | None,
    output: Path | None,
    delimiter: str,
    status: str | None,
    lang: str | None,
    person: str | None,
) -> None:
    """Export registrations: JSON, CSV, Excel (.xlsx) or an attendance list.

    --format html is a printable attendance list for the registration desk: one line per
    person (confirmed, unless --status says otherwise), sorted by surname, with a signature
    column. --person ADDRESS gives one person everything stored about them: registrations,
    their mail with its raw text, and the mail sent to them.
    """
    from .reports import registration_rows, to_json

    if len(delimiter) != 1:
        raise click.BadParameter("must be one character", param_hint="--delimiter")
    if person is not None:
        if fmt not in (None, "json"):
            raise click.UsageError("--person always exports JSON")
        fmt = "json"
    if fmt is None:
        raise click.UsageError("give --format json|csv|xlsx|html (or --person ADDRESS)")
    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        raise click.UsageError("an .xlsx file is binary: give -o FILE (or redirect the output)")
    config = state.config()
    language = lang or config.event.language
    db = state.database()
    count_label = "registration(s)"
    if fmt == "csv" and person is None:
        _export_csv(db, status, delimiter, output)
        return
    with db.session() as s, _progress() as track:
        if person is not None:
            from .privacy import person_data

            found = person_data(s, person, track)
            data = (json.dumps(found, ensure_ascii=False, indent=2) + "\n").encode()
            count = len(found["registrations"]) + len(found["messages"]) + len(found["outbox"])
            count_label = f"record(s) about {person}"
        else:
            if fmt == "html" and status is None:
                status = "confirmed"
            rows = registration_rows(s, status)
            count = len(rows)
            if fmt == "json":
                data = (to_json(rows) + "\n").encode()
            elif fmt == "xlsx":
                from .exports import to_xlsx

                data = to_xlsx(track(rows, len(rows), "writing the workbook"), config, language)
            else:
                from .exports import attendance_html

                data = attendance_html(rows, config, language).encode()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    _write_private(output, data)
    click.echo(f"wrote {count} {count_label} to {output}", err=True)


def _export_csv(db: Database, status: str | None, delimiter: str, output: Path | None) -> None:
    """CSV streamed row by row from the database to the file or standard output: memory stays
    flat however many registrations there are (100,000 took 280 MB when built in memory)."""
    from .reports import iter_registration_rows, write_csv

    with db.session() as s:
        rows = iter_registration_rows(s, status)
        if output is None:
            out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
            try:
                write_csv(rows, out, delimiter)
            finally:
                out.flush()
                out.detach()  # leave standard output open for click
            return
        # Written beside the target and renamed: an interrupted export leaves no half a list
        # behind under the name the organiser will open.
        tmp = output.with_name(f".{output.name}.{os.getpid()}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                count = write_csv(rows, f, delimiter)
            os.replace(tmp, output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    click.echo(f"wrote {count} registration(s) to {output}", err=True)


def _ids(pks: Sequence[int]) -> str:
    return ", ".join(f"#{pk}" for pk in pks) if pks else "none"


def _print_erasure(erasure: Any, dry_run: bool) -> None:
    would = "would erase" if dry_run else "erased"
    ids = _ids
    click.echo(f"registrations {would}: {ids(erasure.registrations)}")
    if erasure.active:
        click.echo(f"  {'would lose' if dry_run else 'lost'} their place: {ids(erasure.active)}")
    if erasure.contact_only:
        click.echo(
            f"registrations of others with this contact address "
            f"({'would be' if dry_run else 'now'} sent to the attendee): "
            f"{ids(erasure.contact_only)}"
        )
    click.echo(f"inbound messages (raw text and parsed data) {would}: {ids(erasure.messages)}")
    click.echo(f"outbox mails (recipient, subject, body) {would}: {ids(erasure.outbox)}")
    for folder, n in erasure.imap.items():
        click.echo(
            f"mail server folder {folder!r}: {n} message(s) {'found' if dry_run else 'deleted'}"
        )
    if erasure.promoted:
        click.echo(
            f"moved up from the waiting list: {ids(erasure.promoted)} "
            "(their mail goes out with the next poll)"
        )
    if erasure.database:
        click.echo(f"database: {erasure.database}")


@cli.command()
@click.argument("address")
@click.option("--dry-run", is_flag=True, help="Only show what would be erased.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def forget(state: State, address: str, dry_run: bool, as_json: bool) -> None:
    """Erase a person's data everywhere anmeldung keeps it (GDPR erasure request).

    Their registration (as attendee or as the contact who registered someone), the raw text
    and parsed data of their mail, the mails sent to them, and the copies in the mailbox's
    processed, review and sent folders. Anonymous counts stay, so totals still add up. A
    registration that still holds a place is cancelled without a mail; the waiting list
    moves up.
    """
    from .privacy import forget as erase

    worker = _worker(state)
    with _progress() as track:
        erasure = erase(worker, address, dry_run=dry_run, track=track)
    if as_json:
        body = {"address": address, "dry_run": dry_run, **erasure.as_json()}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    _print_erasure(erasure, dry_run)
    if erasure.empty and not any(erasure.imap.values()):
        click.echo(f"nothing stored about {address}")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be erased.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def purge(state: State, dry_run: bool, as_json: bool) -> None:
    """Erase all personal data once [privacy] delete_after_days have passed.

    What `run` does every night, by hand: raw mail, names and addresses in the database and
    the copies on the mail server. Before that date nothing is touched.
    """
    from .privacy import purge_once

    config = state.config()
    if config.privacy.delete_after_days is None:
        raise click.UsageError(
            "set [privacy] delete_after_days in the config (days after the event end)"
        )
    worker = _worker(state)
    with _progress() as track:
        result = purge_once(worker, dry_run=dry_run, track=track)
    if as_json:
        click.echo(
            json.dumps({"dry_run": dry_run, **result.as_json()}, ensure_ascii=False, indent=2)
        )
        return
    assert result.cutoff is not None
    when = result.cutoff.astimezone(config.schedule.tz).strftime("%d.%m.%Y %H:%M")
    if not result.due:
        click.echo(
            f"nothing to do before {when} (event end + {config.privacy.delete_after_days} days)"
        )
        return
    if result.erasure.empty:
        click.echo(f"nothing left to erase (personal data is deleted after {when})")
        return
    _print_erasure(result.erasure, dry_run)


@cli.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.pass_obj
def parse(state: State, files: tuple[Path, ...], as_json: bool) -> None:
    """Show what anmeldung understands of raw messages (no database, no network).

    Uses the config for our own addresses when one is found; works without one.
    """
    from .analyse import analyse
    from .classify import ClassifyContext

    ctx = ClassifyContext()
    language = "de"
    try:
        config = state.config()
        ctx = ClassifyContext(own_addresses=config.own_addresses)
        language = config.event.language
    except AnmeldungError as exc:
        if state.config_path:  # asked for explicitly: a broken config is an error
            raise
        log.debug("parse without config: %s", exc)
    results = []
    for path in files:
        analysis = analyse(path.read_bytes(), ctx, language)
        results.append({"file": str(path), **analysis.as_json()})
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2))
        return
    for r in results:
        click.echo(f"{r['file']}: {r['kind']} ({r['reason']}), language {r['language']}")
        for a in r["attendees"]:
            parts = [a.get("salutation"), a.get("title"), a.get("name")]
            who = " ".join(p for p in parts if p) or "(no name)"
            org = f", {a['organisation']}" if a.get("organisation") else ""
            click.echo(f"  {who}{org} <{a['email']}> confidence {a['confidence']:.2f}")
        for b in r["bounced"]:
            click.echo(f"  bounced: {b}")


def _message_rows(state: State, kind: str | None, status: str | None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from .models import InboundMessage
    from .reports import iso

    query = select(InboundMessage).order_by(InboundMessage.id)
    if kind:
        query = query.where(InboundMessage.kind == kind)
    if status:
        query = query.where(InboundMessage.status == status)
    with state.database().session() as s:
        return [
            {
                "id": m.id,
                "uid": m.uid,
                "message_id": m.message_id,
                "received_at": iso(m.received_at),
                "from": m.sender,
                "subject": m.subject,
                "kind": m.kind,
                "reason": m.reason,
                "status": m.status,
                "error": m.error.splitlines()[0] if m.error else None,
                "folder": m.folder,
            }
            for m in s.scalars(query)
        ]


def _print_messages(rows: Sequence[dict[str, Any]]) -> None:
    for r in rows:
        click.echo(
            f"#{r['id']:<5} {r['received_at'][:16]}  {r['kind']:<12} {r['status']:<9} "
            f"{r['reason']:<22} {r['from'][:40]:<40} {r['subject'][:50]}"
            + (f"\n       error: {r['error']}" if r["error"] else "")
        )


@cli.command()
@click.option(
    "--kind", help="Only this kind: registration, cancellation, auto_reply, bounce, other."
)
@click.option("--status", help="Only this status: processed, review, ignored.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def messages(state: State, kind: str | None, status: str | None, as_json: bool) -> None:
    """List every recorded inbound message with its kind, reason and status."""
    rows = _message_rows(state, kind, status)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        _print_messages(rows)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def review(state: State, as_json: bool) -> None:
    """Show the messages that need a person, with the reason for each.

    They are in the mailbox's review folder. After fixing the cause (or the config), handle one
    again with `anmeldung replay ID`.
    """
    rows = _message_rows(state, None, "review")
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("nothing to review")
        return
    _print_messages(rows)
    click.echo(f"{len(rows)} message(s) to review")


@cli.command()
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option(
    "--no-move", is_flag=True, help="Leave the mail where it is on the server (database only)."
)
@click.pass_obj
def replay(state: State, ids: tuple[int, ...], no_move: bool) -> None:
    """Handle recorded messages again, e.g. after a fix or a config change.

    Nothing is registered or sent twice: registrations are unique per address, and each reply
    is unique per message. A message that no longer needs review is moved on the server from
    the review folder to the processed folder.
    """
    worker = _worker(state)
    for message_pk in ids:
        row, result = worker.replay(message_pk, move=not no_move)
        queued = f", {len(result.queued)} reply queued" if result.queued else ""
        click.echo(f"#{row.id}: {row.kind} ({row.reason}) -> {result.status}{queued}")
    stats = worker.flush_outbox_once()
    if stats.claimed:
        click.echo(f"outbox: {stats.sent} sent, {stats.retry} to retry, {stats.failed} failed")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--no-send", is_flag=True, help="Record and queue only; send with the next poll.")
@click.pass_obj
def import_(state: State, paths: tuple[Path, ...], no_send: bool) -> None:
    """Run .eml files, folders of them, Maildirs or mboxes through the pipeline.

    For mail that arrived before anmeldung was set up. Messages already recorded (same
    Message-ID) are skipped, so importing twice is harmless.
    """
    from rich.progress import Progress

    from . import sources

    worker = _worker(state)
    total = sources.count(paths)
    with Progress(disable=not sys.stderr.isatty(), transient=True) as progress:
        task = progress.add_task("importing", total=total)
        stats = worker.import_messages(
            sources.iterate(paths), progress=lambda: progress.advance(task)
        )
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(stats.kinds.items())) or "none"
    click.echo(
        f"imported {stats.waiting} message(s): {stats.recorded} recorded ({kinds}), "
        f"{stats.duplicates} already known, {stats.statuses['review']} to review"
    )
    if not no_send:
        ob = worker.flush_outbox_once()
        click.echo(f"outbox: {ob.sent} sent, {ob.retry} to retry, {ob.failed} failed")


@cli.command()
@click.argument(
    "folders",
    metavar="[FOLDER]...",
    nargs=-1,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def accuracy(folders: tuple[Path, ...], as_json: bool) -> None:
    """Score classification and extraction on labelled folders.

    FOLDER defaults to tests/labelled. With several folders, a line per folder and one for all
    of them comes first, then the combined figures and every failure as folder/file.

    A folder holds .eml files and expected.json; no config, database or network is used.
    """
    from .accuracy import combine, format_report, format_summary, measure

    paths = folders or (Path("tests/labelled"),)
    names = [p.name or str(p) for p in paths]
    if len(set(names)) != len(names):
        names = [str(p) for p in paths]
    reports = {name: measure(path) for name, path in zip(names, paths, strict=True)}
    report = combine(reports) if len(reports) > 1 else reports[names[0]]
    if as_json:
        figures = _accuracy_json(report)
        if len(reports) > 1:
            figures["folders"] = {
                name: {k: v for k, v in _accuracy_json(r).items() if k != "failures"}
                for name, r in reports.items()
            }
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2, default=str))
        return
    if len(reports) > 1:
        click.echo(format_summary(reports) + "\n")
    click.echo(format_report(report))


def _accuracy_json(report: Any) -> dict[str, Any]:
    from .accuracy import FIELDS

    return {
        "messages": report.messages,
        "fields": {f: {"right": report.right[f], "total": report.total[f]} for f in FIELDS},
        "injected": report.injected,
        "to_review": report.review,
        "failures": [
            {"file": x.file, "field": x.field, "expected": x.expected, "got": x.got}
            for x in report.failures
        ],
    }


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--no-mailbox", is_flag=True, help="Do not connect to the mailbox (database figures only)."
)
@click.pass_obj
def status(state: State, as_json: bool, no_mailbox: bool) -> None:
    """Show whether the worker is healthy; exit 1 when it is not.

    For people and for monitoring checks.

    Last successful poll, mail waiting in the mailbox, outbox and review backlog, the last
    error, registrations against capacity.
    """
    from .mailbox import ImapMailbox, mailbox_key
    from .status import format_status, gather

    config = state.config()

    def waiting() -> int:
        with ImapMailbox(config.mailbox) as mailbox:
            return len(mailbox.waiting_uids())

    with state.database().session() as session:
        result = gather(
            session,
            config,
            mailbox_key(config.mailbox),
            waiting=None if no_mailbox else waiting,
        )
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_status(result, config.schedule.tz))
    if not result.healthy:
        raise SystemExit(1)


@cli.group()
def report() -> None:
    """Reports for the organisers: `anmeldung report daily`."""


@report.command("daily")
@click.option(
    "--date",
    "date_",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="The report of this date: the 24 hours up to schedule.daily_report on it "
    "(default: the latest report time that has passed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable field names).")
@click.option(
    "--send",
    is_flag=True,
    help="Also mail it to [report] recipients, once per date and recipient, and send now "
    "(only once its period has ended).",
)
@click.option(
    "--lang", type=click.Choice(["de", "en"]), help="Language (default: [report] language)."
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the HTML version to FILE (the chart beside it as FILE.png).",
)
@click.pass_obj
def daily(
    state: State,
    date_: Any,
    as_json: bool,
    send: bool,
    lang: str | None,
    html_file: Path | None,
) -> None:
    """The organisers' daily summary, as `anmeldung run` mails it at schedule.daily_report.

    New registrations, cancellations, waiting-list moves, places against capacity, mail waiting
    for review with the reason, unreachable attendees, replies held back by the loop fuse,
    send failures and failed polls. Every inbound message of the period is counted once by
    kind and once by status. Sending is idempotent: a report date reaches each recipient once,
    whether `run` or `--send` queued it first.
    """
    import datetime as dt

    from .daily import build, latest_report_date, report_period
    from .errors import InputError
    from .locks import decision_lock
    from .mailbox import mailbox_key
    from .report_mail import ReportRenderer, html_for_browser, queue_daily

    config = state.config()
    sched = config.schedule
    now = dt.datetime.now(dt.UTC)
    date = (
        date_.date() if date_ is not None else latest_report_date(now, sched.daily_report, sched.tz)
    )
    language = lang or config.report.language
    renderer = ReportRenderer(config)
    if send and not config.report.recipients:
        raise InputError("[report] recipients is empty: nobody to send the report to")
    end = report_period(date, sched.daily_report, sched.tz).end
    if send and end > now:
        # Sent once per date: a preliminary copy would stand in for the complete report.
        raise InputError(
            f"the report of {date.isoformat()} covers the time up to "
            f"{end.astimezone(sched.tz):%d.%m.%Y %H:%M} ({sched.timezone}), which has not "
            "come yet; it is sent once, complete (print it now without --send)"
        )
    db = state.database()
    key = mailbox_key(config.mailbox)
    with db.transaction() as s:
        if send:
            # As the workers' report job does (PostgreSQL): one queues, the others find it.
            decision_lock(s)
        result = build(s, config, date, mailbox_key=key, now=now)
        queued = queue_daily(s, config, renderer, result, lang=language, now=now) if send else []
    rendered = renderer.render(result, language)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(rendered.text, nl=False)
    if html_file is not None:
        chart = html_file.with_name(html_file.name + ".png")
        chart.write_bytes(rendered.chart)
        html_file.write_text(html_for_browser(rendered, chart.name), encoding="utf-8")
        click.echo(f"wrote the HTML version to {html_file} (chart: {chart})", err=True)
    if send:
        for q in queued:
            what = "queued" if q.outbox_id else "already queued or sent before, not again"
            click.echo(f"daily report {date.isoformat()} to {q.recipient}: {what}", err=True)
        ob = _worker(state).flush_outbox_once()
        if ob.claimed:
            click.echo(f"outbox: {ob.sent} sent, {ob.retry} to retry, {ob.failed} failed", err=True)


@cli.command()
@click.argument("registrations", nargs=-1, metavar="ADDRESS|ID...")
@click.option(
    "--all-unsent",
    is_flag=True,
    help="Also every registration (not cancelled) whose confirmation never went out and is "
    "not queued.",
)
@click.pass_obj
def resend(state: State, registrations: tuple[str, ...], all_unsent: bool) -> None:
    """Send a fresh copy of the mail each named registration has earned, then flush.

    The copy uses the current details and templates (confirmation, waiting list or
    cancellation, after the registration's status). Every call queues exactly one new mail
    per registration: resending twice sends twice.
    """
    from . import staff

    if not registrations and not all_unsent:
        raise click.UsageError("name at least one ADDRESS or ID, or use --all-unsent")
    worker = _worker(state)
    with worker.db.transaction() as s:
        regs = [staff.find_registration(s, key) for key in registrations]
        if all_unsent:
            regs += staff.unsent(s)
        done = staff.resend(s, worker.config, worker.composer, regs)
    for q in done:
        what = f"queued {q.kind} to {q.recipient}" if q.outbox_id else "nothing queued (ours)"
        click.echo(f"#{q.registration_id} {q.email}: {what}")
    if not done:
        click.echo("nothing to resend")
    _flush(worker)


def _flush(worker: Any) -> None:
    ob = worker.flush_outbox_once()
    if ob.claimed:
        click.echo(f"outbox: {ob.sent} sent, {ob.retry} to retry, {ob.failed} failed")


@cli.command()
@click.argument("registration", metavar="ADDRESS|ID")
@click.option("--quiet", is_flag=True, help="Send the person no cancellation mail.")
@click.pass_obj
def cancel(state: State, registration: str, quiet: bool) -> None:
    """Cancel a registration by hand, move the waiting list up, then flush.

    The person gets a cancellation mail that also withdraws the calendar entry (not with
    --quiet); whoever moves up from the waiting list gets a confirmation with an invitation.
    """
    from . import staff

    worker = _worker(state)
    with worker.db.transaction() as s:
        reg = staff.find_registration(s, registration)
        result = staff.cancel(s, worker.config, worker.composer, reg, quiet=quiet)
        cancelled = f"#{reg.id} {reg.email}"
        promoted = [
            f"#{r.id} {r.email}"
            for r in (staff.find_registration(s, str(pk)) for pk in result.promoted)
        ]
    click.echo(f"cancelled {cancelled}" + (" (no mail)" if quiet else ""))
    for who in promoted:
        click.echo(f"moved up from the waiting list: {who}")
    _flush(worker)


@cli.command()
@click.argument("kind")
@click.option(
    "--lang",
    type=click.Choice(["de", "en"]),
    help="Language (default: the registration's, else the event's).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the HTML version to FILE.",
)
@click.option(
    "--registration",
    "registration",
    metavar="ID",
    help="Use a real registration (ID or address) instead of sample data; needs the database.",
)
@click.pass_obj
def preview(
    state: State, kind: str, lang: str | None, html_file: Path | None, registration: str | None
) -> None:
    """Print a mail template rendered with sample data: subject and text version.

    KIND is confirmation, waitlist, promotion, cancellation, already_registered or
    acknowledgement. Needs no database and no network (without a config file a made-up
    event is used). Nothing is queued or sent.
    """
    from .compose import MAIL_KINDS, Composer
    from .staff import find_registration, sample_config
    from .staff import preview as render

    if kind not in MAIL_KINDS:
        raise click.BadParameter(f"must be one of {', '.join(MAIL_KINDS)}", param_hint="KIND")

    try:
        config = state.config()
    except AnmeldungError as exc:
        if state.config_path or registration:
            raise
        log.debug("preview without config: %s", exc)
        config = sample_config()
    composer = Composer(config)
    if registration:
        with state.database().session() as s:
            reg = find_registration(s, registration)
            msg = render(composer, kind, lang or reg.language, reg)
    else:
        msg = render(composer, kind, lang or config.event.language)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None
    assert html is not None
    click.echo(f"Subject: {msg['Subject']}")
    click.echo(f"To: {msg['To']}")
    attachments = [p.get_filename() for p in msg.iter_attachments() if p.get_filename()]
    if attachments:
        click.echo(f"Attachments: {', '.join(str(a) for a in attachments)}")
    click.echo("")
    click.echo(str(text.get_content()), nl=False)
    if html_file is not None:
        html_file.write_text(str(html.get_content()), encoding="utf-8")
        click.echo(f"wrote the HTML version to {html_file}", err=True)


@cli.command("outbox")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def outbox_(state: State, as_json: bool) -> None:
    """Show the mails not yet sent: queued, sending, retry and failed.

    Each with its attempts, next try and last error. A failed mail is not tried again; send
    a new copy with `anmeldung resend ADDRESS` after fixing the cause.
    """
    from .staff import outbox_rows

    with state.database().session() as s:
        rows = outbox_rows(s)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("outbox is empty: everything was sent")
        return
    for r in rows:
        error = (r["last_error"] or "").splitlines()[0][:80] if r["last_error"] else ""
        click.echo(
            f"#{r['id']:<5} {r['status']:<8} {r['kind']:<18} {r['recipient'][:40]:<40} "
            f"attempts {r['attempts']}  next {(r['next_attempt_at'] or '-')[:16]:<16}"
            + (f"\n       error: {error}" if error else "")
        )
    click.echo(f"{len(rows)} mail(s) not sent")


def main(args: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (click exits on its own when run as a script)."""
    try:
        cli.main(
            args=list(args) if args is not None else None,
            prog_name="anmeldung",
            standalone_mode=True,
        )
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
