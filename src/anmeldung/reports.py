"""Read-only queries for the organiser commands; rendering (tables, CSV, JSON) kept apart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

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
    """Registrations with their Message-ID (untyped: Select's generics differ in 2.0 and 2.1)."""
    query = (
        select(Registration, InboundMessage.message_id)
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
    session: Session, status: str | None = None, search: str | None = None
) -> list[dict[str, Any]]:
    """One dict per registration with the export fields (times as aware datetimes)."""
    rows = []
    for reg, message_id in session.execute(registrations_query(status, search)):
        rows.append(
            {
                "id": reg.id,
                "email": reg.email,
                "name": reg.name,
                "title": reg.title,
                "salutation": reg.salutation,
                "organisation": reg.organisation,
                "function": reg.function,
                "contact_email": reg.contact_email,
                "status": reg.status,
                "language": reg.language,
                "registered_at": reg.registered_at,
                "cancelled_at": reg.cancelled_at,
                "confirmation_sent_at": reg.confirmation_sent_at,
                "message_id": message_id,
                "unreachable_at": reg.unreachable_at,
                "bounce_reason": reg.bounce_reason,
            }
        )
    return rows


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


def to_csv(rows: Iterable[dict[str, Any]], delimiter: str = ",", bom: bool = True) -> str:
    """CSV for spreadsheets; the BOM makes German Excel read the umlauts as UTF-8."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=EXPORT_FIELDS, delimiter=delimiter, lineterminator="\r\n"
    )
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else iso(r.get(k))) for k in EXPORT_FIELDS})
    return ("\ufeff" if bom else "") + out.getvalue()
