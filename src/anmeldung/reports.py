"""Read-only queries for the organiser commands; rendering (tables, CSV, JSON) kept apart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .models import InboundMessage, Registration

EXPORT_FIELDS = (
    "id",
    "email",
    "name",
    "title",
    "salutation",
    "organisation",
    "function",
    "contact_email",
    "status",
    "language",
    "registered_at",
    "cancelled_at",
    "confirmation_sent_at",
    "message_id",
    # A bounce of our mail marks the registration unreachable (registrations._bounce); without
    # these the organiser could not see whom the confirmation never reached.
    "unreachable_at",
    "bounce_reason",
)


def registrations_query(status: str | None = None, search: str | None = None) -> Any:
    """The export fields of every registration, oldest first (untyped: Select's generics differ
    in 2.0 and 2.1).

    Plain columns, not ORM objects: building 100,000 Registration instances took most of an
    export's time (bench/organiser.py).
    """
    columns = [
        InboundMessage.message_id if f == "message_id" else getattr(Registration, f)
        for f in EXPORT_FIELDS
    ]
    query = (
        select(*columns)
        .outerjoin(InboundMessage, Registration.message_pk == InboundMessage.id)
        .order_by(Registration.registered_at, Registration.id)
        # Erased people (privacy.forget/purge) count in the totals but have nothing to list.
        .where(Registration.forgotten_at.is_(None))
    )
    if status:
        query = query.where(Registration.status == status)
    if search:
        like = f"%{search.lower()}%"
        query = query.where(
            or_(
                func.lower(Registration.email).like(like),
                func.lower(func.coalesce(Registration.name, "")).like(like),
                func.lower(func.coalesce(Registration.organisation, "")).like(like),
            )
        )
    return query


def registration_rows(
    session: Session,
    status: str | None = None,
    search: str | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """One dict per registration with the export fields (times as aware datetimes).

    ``limit`` and ``offset`` give one page (`anmeldung list --page`), in the same order.
    """
    query = registrations_query(status, search)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [dict(zip(EXPORT_FIELDS, row, strict=True)) for row in session.execute(query)]


def iter_registration_rows(
    session: Session, status: str | None = None, chunk: int = 2000
) -> Iterator[dict[str, Any]]:
    """The rows of registration_rows(), fetched ``chunk`` at a time (a server-side cursor on
    PostgreSQL), so an export of 100,000 people never holds them all in memory."""
    result = session.execute(
        registrations_query(status).execution_options(stream_results=True, yield_per=chunk)
    )
    for row in result:
        yield dict(zip(EXPORT_FIELDS, row, strict=True))


def counts(session: Session) -> dict[str, int]:
    result = {s: 0 for s in ("confirmed", "waitlisted", "cancelled")}
    for status, n in session.execute(
        select(Registration.status, func.count()).group_by(Registration.status)
    ):
        result[status] = n
    return result


def forgotten_count(session: Session) -> int:
    """Registrations whose personal data was erased (still counted by status)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(Registration.forgotten_at.is_not(None))
        )
        or 0
    )


def iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value


def to_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(
        [{k: iso(v) for k, v in r.items()} for r in rows], ensure_ascii=False, indent=2
    )


# Characters that make Excel, LibreOffice and Numbers read a CSV cell as a formula (OWASP
# "CSV injection"): a registrant who writes "Organisation: =HYPERLINK(…)" must not get a
# formula into the organiser's spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: Any) -> Any:
    """A cell value that a spreadsheet shows as the text it is: strings that would start a
    formula get a leading apostrophe, which Excel hides and takes as "this is text"."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(
    rows: Iterable[dict[str, Any]], out: TextIO, delimiter: str = ",", bom: bool = True
) -> int:
    """Write CSV for spreadsheets row by row to ``out``; returns the number of rows.

    The BOM makes German Excel read the umlauts as UTF-8; text that would start a formula is
    neutralised (spreadsheet_text)."""
    if bom:
        out.write("\ufeff")
    writer = csv.DictWriter(
        out, fieldnames=EXPORT_FIELDS, delimiter=delimiter, lineterminator="\r\n"
    )
    writer.writeheader()
    n = 0
    for r in rows:
        writer.writerow(
            {
                k: ("" if r.get(k) is None else spreadsheet_text(iso(r.get(k))))
                for k in EXPORT_FIELDS
            }
        )
        n += 1
    return n


def to_csv(rows: Iterable[dict[str, Any]], delimiter: str = ",", bom: bool = True) -> str:
    """CSV for spreadsheets as one string (see write_csv)."""
    out = io.StringIO()
    write_csv(rows, out, delimiter, bom)
    return out.getvalue()
