"""Pure: registration rows -> an Excel workbook (.xlsx) or a printable attendance list (HTML)."""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from collections.abc import Iterable
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .config import Config
from .reports import EXPORT_FIELDS
from .resources import resource_dir

# Column headings in the workbook; the keys stay the export field names (as in CSV and JSON).
HEADINGS = {
    "de": {
        "id": "Nr.",
        "email": "E-Mail",
        "name": "Name",
        "title": "Titel",
        "salutation": "Anrede",
        "organisation": "Organisation",
        "function": "Funktion",
        "contact_email": "Kontakt-E-Mail",
        "status": "Status",
        "language": "Sprache",
        "registered_at": "Angemeldet am",
        "cancelled_at": "Abgemeldet am",
        "confirmation_sent_at": "Bestätigung gesendet",
        "message_id": "Message-ID",
        "unreachable_at": "Unzustellbar seit",
        "bounce_reason": "Grund der Unzustellbarkeit",
    },
    "en": {f: f.replace("_", " ").capitalize() for f in EXPORT_FIELDS},
}
WIDTH_LIMIT = 60  # characters; longer cells wrap in Excel rather than make a huge column


def _local(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    # Excel has no time zones: the organisers' local time, as naive datetime cells.
    return value.astimezone(tz).replace(tzinfo=None)


def to_xlsx(rows: Iterable[dict[str, Any]], config: Config, language: str = "de") -> bytes:
    """A workbook with one sheet: a bold header row, frozen below it, filter buttons, columns
    as wide as their content, and real date cells (sortable, filterable in Excel)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    tz = config.schedule.tz
    headings = HEADINGS[language]
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has one sheet
    # Excel allows 31 characters and no []:*?/\ in a sheet name.
    ws.title = "".join(c for c in config.event.name if c not in "[]:*?/\\")[:31] or "Anmeldungen"
    ws.append([headings[f] for f in EXPORT_FIELDS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    widths = [len(headings[f]) for f in EXPORT_FIELDS]
    date_format = "DD.MM.YYYY HH:MM" if language == "de" else "YYYY-MM-DD HH:MM"
    for r in rows:
        values: list[Any] = []
        for f in EXPORT_FIELDS:
            v = r.get(f)
            if isinstance(v, dt.datetime):
                v = _local(v, tz)
            values.append(v)
        ws.append(values)
        for i, v in enumerate(values):
            if isinstance(v, str) and v.startswith("="):
                # openpyxl stores a string starting with "=" as a formula; a registrant's
                # "Organisation: =HYPERLINK(…)" must stay text in the organiser's workbook.
                ws.cell(row=ws.max_row, column=i + 1).data_type = "s"
            if isinstance(v, dt.datetime):
                ws.cell(row=ws.max_row, column=i + 1).number_format = date_format
                widths[i] = max(widths[i], 16)
            elif v is not None:
                widths[i] = max(widths[i], min(len(str(v)), WIDTH_LIMIT))
    for i, width in enumerate(widths):
        ws.column_dimensions[get_column_letter(i + 1)].width = width + 2
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def sort_key(row: dict[str, Any]) -> tuple[str, str, int]:
    """Surname first, as a registration desk looks people up; umlauts sort with their vowel
    (DIN 5007-1: "Müller" beside "Muller"), no locale needed."""
    name = (row.get("name") or "").strip()
    parts = name.split()
    surname = parts[-1] if parts else (row.get("email") or "")

    def plain(text: str) -> str:
        text = text.replace("ß", "ss")
        decomposed = unicodedata.normalize("NFKD", text)
        return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()

    return plain(surname), plain(name), int(row.get("id") or 0)


TEXT = {
    "de": {
        "title": "Teilnehmerliste",
        "number": "Nr.",
        "name": "Name",
        "organisation": "Organisation",
        "signature": "Unterschrift",
        "count": "{n} Personen",
        "date": "%d.%m.%Y, %H:%M Uhr",
        "printed": "Stand: {when}",
        "waiting": "Warteliste",
    },
    "en": {
        "title": "Attendance list",
        "number": "No.",
        "name": "Name",
        "organisation": "Organisation",
        "signature": "Signature",
        "count": "{n} people",
        "date": "%d %B %Y, %H:%M",
        "printed": "As of {when}",
        "waiting": "waiting list",
    },
}


def attendance_html(
    rows: Iterable[dict[str, Any]],
    config: Config,
    language: str = "de",
    now: dt.datetime | None = None,
) -> str:
    """One line per person, sorted by surname, with an empty signature column; an A4 page
    with the event's name, date and venue on top, for the registration desk."""
    tz = config.schedule.tz
    text = TEXT[language]
    people = sorted(rows, key=sort_key)
    env = Environment(
        loader=FileSystemLoader(resource_dir("templates")),
        autoescape=select_autoescape(("html", "j2")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    template = env.get_template("attendance.html.j2")
    now = now or dt.datetime.now(dt.UTC)
    return template.render(
        lang=language,
        t=text,
        event=config.event,
        starts=config.event.starts.astimezone(tz).strftime(text["date"]),
        printed=text["printed"].format(when=now.astimezone(tz).strftime(text["date"])),
        count=text["count"].format(n=len(people)),
        people=[
            {
                "name": " ".join(x for x in (p.get("title"), p.get("name")) if x)
                or p.get("email")
                or "",
                "organisation": p.get("organisation") or "",
                "waiting": p.get("status") == "waitlisted",
            }
            for p in people
        ],
    )
