"""Pure: who registers, from the sender's header and what people write in the body.

Sources, strongest first: key-value lines ("Name:", "Organisation:", also HTML tables), people
named next to a registration verb ("Herrn Oberbürgermeister Dr. X anmelden", numbered lists),
the signature after the closing phrase, and the From display name. Quoted text (replies with
the invitation below) is cut off first, so nothing from it is ever taken. Values are cleaned
with ``parse.clean_line`` and capped; an organisation is never guessed from a domain. A third
person registered by the sender gets the sender's address unless their own is written, and the
sender's organisation unless their own is written (colleagues, an Oberbürgermeister's office).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from html.parser import HTMLParser
from typing import Any

from .classify import unquoted_text
from .names import (
    FUNCTION_WORD,
    PersonName,
    fold,
    parse_display_name,
    parse_person,
    same_person,
)
from .parse import MAX_NAME_CHARS, ParsedMessage, clean_line, html_to_text

REVIEW_BELOW = 0.5  # an attendee with lower confidence should be looked at by a person
MAX_FIELD_CHARS = 200


@dataclass(frozen=True)
class Attendee:
    email: str  # lower-case; the sender's address when the attendee has none of their own
    name: str | None = None  # given and family name, without title or salutation
    title: str | None = None  # academic title, e.g. "Dr." or "Prof. Dr."
    salutation: str | None = None  # "Herr" / "Frau"
    organisation: str | None = None
    function: str | None = None
    confidence: float = 0.0

    @property
    def needs_review(self) -> bool:
        return self.confidence < REVIEW_BELOW

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# --- quoted text (cut by classify.unquoted_text) and mobile footers --------------------------

_MOBILE_FOOTER = re.compile(
    r"^(?:Von meine[mr] .{1,40} gesendet|Gesendet von .{1,40}|Sent from my .{1,40}"
    r"|Get Outlook for .{1,20}|Diese Nachricht wurde von meinem .{1,60} gesendet\.?)\s*$",
    re.I,
)


def own_text(text: str) -> str:
    """What the sender wrote: classify.unquoted_text, then cut at "Von meinem iPhone gesendet"."""
    lines = unquoted_text(text).split("\n")
    cut = next((i for i, x in enumerate(lines) if _MOBILE_FOOTER.match(x.strip())), len(lines))
    return "\n".join(lines[:cut]).strip()


# --- key-value lines ------------------------------------------------------------------------

_KEYS: tuple[tuple[str, str], ...] = (
    # (field, label pattern); the first pattern found in a label decides, so order matters.
    ("email", r"e-?mail|mail-?adresse|email address|mail"),
    ("organisation", r"organi[sz]ation|institution|behörde|dienststelle|einrichtung|firma"
                     r"|unternehmen|arbeitgeber|affiliation|company|employer|kommune|körperschaft"
                     r"|verwaltung"),
    ("function", r"funktion|position|dienstbezeichnung|amtsbezeichnung|job title|role|stellung"),
    ("name_rev", r"(?:nach)?name,\s*vorname|surname,\s*first name"),
    ("given", r"vorname|first name|given name|forename"),
    ("family", r"nachname|familienname|zuname|last name|surname|family name"),
    ("salutation", r"anrede|salutation"),
    ("title", r"titel|title"),
    ("name", r"name|teilnehmer(?:in|innen|/in|\*in|:in)?|teilnehmende|participants?|attendees?"),
)  # fmt: skip
_KV_LINE = re.compile(r"^[\s*\-•]*([A-Za-zÄÖÜäöüß][\w ./,*:-]{0,40}?)\s*(?::|\t)\s*(.*)$")
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def _label_field(label: str) -> str | None:
    label = label.strip(" *:").lower()
    if len(label.split()) > 4:
        return None
    for name, pattern in _KEYS:
        if re.search(rf"(?:^|\b)(?:{pattern})(?:\b|$)", label):
            return name
    return None


_SHARED = re.compile(r"(?i)\b(?:jeweils|alle|each|both|all)\b")


def key_values(text: str) -> list[dict[str, str]]:
    """Records of ``Label: value`` lines; a repeated name label starts the next person.

    A record without a name (e.g. "Organisation jeweils: …" after two people) is returned as
    its own record, for the caller to apply to everyone.
    """
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.split("\n"):
        m = _KV_LINE.match(line)
        if not m:
            continue
        fld = _label_field(m.group(1))
        value = clean_line(m.group(2).strip(" \t*"), MAX_FIELD_CHARS)
        if fld is None or not value or len(value) > MAX_FIELD_CHARS:
            continue
        if fld == "organisation" and _SHARED.search(m.group(1)):
            if current:
                records.append(current)
            records.append({"organisation": value})  # shared by everyone listed
            current = {}
            continue
        if (
            fld == "name"
            and "given" in current
            and "family" not in current
            and "name" not in current  # "Name: Zielke / Vorname: Kathrin / …" then the next one
            and " " not in value
        ):
            # German forms write "Vorname: Karl / Name: Schröder": Name is then the family name.
            fld = "family"
        several = _several_people(value) if fld == "name" else []
        if several:  # "Teilnehmende: Jens Lorenz, Maria Ufer": one record each; what follows
            if current:  # ("Organisation: …") is then shared by everyone listed
                records.append(current)
            records.extend({"name": one} for one in several)
            current = {}
            continue
        if fld in current or (fld in ("name", "name_rev") and "given" in current):
            records.append(current)
            current = {}
        current[fld] = value
    if current:
        records.append(current)
    return records


def _several_people(value: str) -> list[str]:
    """ "Jens Lorenz, Dr. Maria Ufer und Tom Beck" -> the three names; [] unless every part is
    a full name (not "Roth, Eva", not "Dr. Eva Roth, Programmbereich Finanzen")."""
    parts = [p.strip() for p in re.split(r",\s*|;\s*|\s+(?:und|sowie|and|&)\s+", value)]
    if len(parts) < 2:
        return []
    for part in parts:
        person = parse_person(part)
        if person is None or part_kind(part) != "person":
            return []
        if any(len(w) >= 8 and _UNIT_NOUN.search(w) for w in person.tokens):
            return []
    return parts


_COLUMNS = re.compile(r"\s*\|\s*|\t|\s{2,}|\s+/\s+|\s*;\s*")


def column_records(rows: list[list[str]]) -> list[dict[str, str]]:
    """Records from a table with a header row ("Name | Funktion | E-Mail") and one row per person.

    ``rows`` are cell lists: from an HTML table, or from text lines split on tabs, runs of
    spaces or "|" (what mail clients make of a pasted spreadsheet).
    """
    records: list[dict[str, str]] = []
    fields: list[str | None] | None = None
    dense: list[str | None] = []  # the fields of the header's non-empty cells
    for cells in rows:
        # Empty cells keep their column ("Frau |  | Katrin", an empty first <td>).
        cells = [c.strip(" *\xa0") for c in cells]
        filled = [c for c in cells if c]
        if (
            fields is not None
            and len(cells) != len(fields)
            and len(filled) == len(dense)
            and len(dense) >= 2
        ):
            # Columns aligned with a varying number of tabs ("Name\t\tBereich\t\t\tE-Mail"):
            # without empty cells the row matches the header's named columns one to one.
            cells, fields_now = filled, dense
        else:
            fields_now = fields or []
        if fields is not None and len(cells) == len(fields_now):
            fields_used = fields_now
            rec = {
                f: clean_line(c, MAX_FIELD_CHARS)
                for f, c in zip(fields_used, cells, strict=True)
                if f and c and len(c) <= MAX_FIELD_CHARS
            }
            if rec:
                records.append(rec)
            continue
        if records:
            break  # the table ended
        header = [_label_field(c) if c else None for c in cells] if len(cells) >= 2 else []
        known = [h for h in header if h]
        named = {"name", "name_rev", "given"} & set(header)
        # Columns nobody asked for ("Referat", "Raum") are ignored, but most must be known.
        labels = len([c for c in cells if c])  # empty cells of tab alignment are no columns
        fields = header if named and len(known) >= 2 and 2 * len(known) >= labels else None
        dense = [h for h, c in zip(header, cells, strict=False) if c]
    return records if any(_record_person(r) for r in records) else []


def row_records(rows: list[list[str]]) -> list[dict[str, str]]:
    """Records from a table without a header row: a person's name first, an address in the row
    ("Dr. Anna Roth | Kämmerin | a.roth@…"). Pure."""
    records = []
    for cells in rows:
        cells = [c.strip(" *\xa0") for c in cells if c.strip(" *\xa0")]
        if len(cells) < 2 or parse_person(cells[0]) is None:
            continue
        emails = [e for c in cells[1:] for e in _EMAIL.findall(c)]
        if not emails:
            continue
        rec = {"name": cells[0], "email": emails[0].lower()}
        for c in cells[1:]:
            if _EMAIL.search(c):
                continue
            kind = part_kind(c)
            if kind == "org" and "organisation" not in rec:
                rec["organisation"] = c
            elif kind in ("function", "other", "dept") and "function" not in rec:
                rec["function"] = c
        records.append(rec)
    return records


# A rule of dash groups under a header ("-----  --------  ------"): the columns of a table
# aligned with spaces, where an empty cell is only spaces.
_RULE_GROUPS = re.compile(r"[ \t]*[-=]{2,}(?:[ \t]+[-=]{2,})+[ \t]*\r?")


def _fixed_cells(line: str, starts: list[int]) -> list[str]:
    bounds = [*starts[1:], max(len(line), starts[-1])]
    return [line[a:b].strip() for a, b in zip([0, *starts[1:]], bounds, strict=True)]


def text_table_rows(text: str) -> list[list[str]]:
    """Cells of text lines; a leading tab is an empty first cell, "| a | b |" borders are not."""
    rows: list[list[str]] = []
    lines = text.split("\n")
    starts: list[int] = []  # column starts from a rule of dash groups, while its table lasts
    for i, raw in enumerate(lines):
        line = raw.strip(" \r")
        if _RULE_GROUPS.fullmatch(raw) and i and lines[i - 1].strip() and rows:
            starts = [m.start() for m in re.finditer(r"[-=]{2,}", raw)]
            rows[-1] = _fixed_cells(lines[i - 1].rstrip("\r"), starts)
            continue
        if starts and line:
            rows.append(_fixed_cells(raw.rstrip("\r"), starts))
            continue
        starts = [] if not line else starts
        if re.fullmatch(r"[\s|+:=_-]*[-=_]{3,}[\s|+:=_-]*", line):
            continue  # a rule under the header row ("-----+-----", "|---|---|")
        if line.strip():
            if line.startswith("|") or line.endswith("|"):
                line = line.strip("| ")
            rows.append(_COLUMNS.split(line))
    return rows


class _TableRows(HTMLParser):
    """Rows of HTML tables as lists of cell texts (Outlook puts <p> inside every cell)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._skip:
            self._cell.append(data)


def html_table_rows(markup: str) -> list[list[str]]:
    """Every row of every HTML table, as cell texts."""
    if not markup or "<t" not in markup.lower():
        return []
    parser = _TableRows()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:
        return []
    return parser.rows


def html_table_lines(markup: str, visible: str) -> str:
    """``Label: value`` lines from two-cell HTML table rows whose value is in ``visible``."""
    if not markup or "<t" not in markup.lower():
        return ""
    parser = _TableRows()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:
        return ""
    flat = " ".join(visible.split())
    lines = []
    for row in parser.rows:
        cells = [c for c in row if c]
        if len(cells) == 2 and cells[1] in flat and _label_field(cells[0]):
            lines.append(f"{cells[0].rstrip(':')}: {cells[1]}")
    return "\n".join(lines)


# --- organisations --------------------------------------------------------------------------

# "Amt Hüttener Berge", "Amt Peenetal/Loitz": in three northern states an Amt is a body of
# municipalities; "Amt für Umwelt", "Amt 20", "Amt Finanzen" are units of one.
_AMT_PLACE = (
    r"(?-i:\s+(?!(?:Finanzen|Umwelt|Kultur|Soziales|Jugend|Bauen|Wirtschaft|Recht|Personal"
    r"|Ordnung|Schule|Sport|Stadtplanung|Tiefbau|Hochbau|Liegenschaften|Statistik|Wahlen"
    r"|Organisation|Digitalisierung|Verkehr|Gesundheit|Klimaschutz|Bauordnung)\b)"
    r"[A-ZÄÖÜ][a-zäöüß]+(?:[ /-][A-ZÄÖÜ][a-zäöüß]+)*$)"
)
_BODY = re.compile(
    r"(?i)(?:\b\w*stadt\b|\b\w*gemeinde\b|\b\w*kreis(?:es)?\b|(?:stadt|kreis|gemeinde|bezirks|landes"
    r"|kommunal|senats)verwaltung\b|\bverwaltungsgemeinschaft\b|\bbezirksamt\b|\bbezirksregierung"
    r"|\bregierungspräsidium|\b\w*verband\b|\b\w*ministerium\b|\blandesamt\b|\bbundesamt\b"
    r"|\buniversität|\w*hochschule\b|\buniversity\b|\bcollege\b|\bschool\b|\binstitut(?:e)?\b"
    r"|\bstiftung\b|\bassociation\b|\bcouncil\b|\bcity\b|\bcounty\b|\bmunicipality\b"
    r"|\bstadtwerke\b|\bsparkasse\b|\brechnungshof\b|\bg?gmbh\b|\bmbh\b|\baör\b|\be\.\s?v\."
    # Municipalities abroad: Danish/Norwegian "Kommune", Swedish "kommun"/"stad", Dutch
    # "Gemeente", Polish "Gmina"/"Urząd Miasta", Italian "Comune", French "Ville de".
    r"|\bkommune\b|\bkommun\b|\bstad\b|\bgemeente\b|\bgmina\b|\bmiasta\b|\bcomune\b"
    r"|\bville de\b|\blandratsamt\b|\brathaus\b|\bmagistrat\b|\w+anstalt\b"
    r"|\b(?:tu|htwk|htw|rwth|lmu)\s+\w+|\bměsto\b|\bmiasto\b|\bstatutory city\b|\bmagistrát\b"
    r"|\w*rechnungshof\b|\bbezirksversammlung\b|\w*sparkasse\b|\w*investitionsbank\b|\bl-bank\b"
    r"|\beurométropole\b|\bagglomération\b|\bhaw\s+\w+|[\w-]*universität\b"
    r"|\bwaterschap\b|\bhoogheemraadschap\b"
    r"|\blandesdirektion\b|\bgemeinschaftsstelle\b|\w*städtetag\b|\w*gemeindetag\b|\w*landkreistag\b|\bbezirketag\b|\bmarkt\b"
    r"|\bmarktgemeinde\b|\bzweckverband\b|\b\w*behörde\b|^amt" + _AMT_PLACE + r""
    # chambers, parliaments, state chancelleries, public banks, churches, cooperatives
    r"|\b\w*(?:handels|handwerks|ärzte|architekten|ingenieur|steuerberater|rechtsanwalts"
    r"|landwirtschafts|arbeits|wirtschafts|notar|apotheker)kammer\b"
    r"|\b(?:staats|senats)kanzlei\b|\blandtag\b|\bbundestag\b|\babgeordnetenhaus\b"
    r"|\b(?:landes|förder|volks|raiffeisen|kommunal|entwicklungs)bank\b|\b(?:erz)?bistum\b"
    r"|\bdiözese\b|\blandeskirche\b"
    r"|\bsenator(?:in)?\s+für\b|\baktiengesellschaft\b|\bgenossenschaft\b|\bbeirat\b"
    r"|\bbürgerschaft\b|\b\w+betrieb\b|\bingenieurbüro\b|\bwohnungsgesellschaft\b"
    r"|\bstarostwo\b|\bpowiat\w*|\burząd\b|\bcommunauté\b|\bmairie\b|\bgemeentebestuur\b"
    r"|\bregion\b|\bstädteregion\b|\bstudieninstitut\b|\bholding\b|\bservice\b|\bauthority\b|\bagency\b|\bministry\b"
    r"|\buniversit(?:é|à|eit|et|y|ät|at)\b|\buniwersytet\b|\buniverzita\b|\bhogeschool\b"
    # Public companies, agencies and chambers: "Sächsische Energieagentur", "Verbraucherzentrale
    # Sachsen", "Kreiswerke Delitzsch", "Wohnungsbaugenossenschaft", "Fraunhofer-Gesellschaft",
    # "Handwerkskammer", "Umweltbundesamt", "Thüringer Landesverwaltungsamt", "… eG", "… UG".
    r"|\b(?!daten)\w+bank\b|\bihk\b|\bhwk\b|\b(?:euro|metropol|planungs)region\b|-zentrum\b|\w*agentur\b|\w*zentrale\b|\w*genossenschaft\b|\w+gesellschaft\b|\w*akademie\b"
    r"|\w*klinikum\b|\w+kammer\b|\w*(?:bundes|landes|verwaltungs)amt\b|\bfraunhofer\b"
    r"|\b(?:technische|kommunale|städtische)\s+werken?\b"
    r"|\b\w*(?:kreis|wasser|energie|versorgungs|verkehrs|gas|gemeinde|stadt)werken?\b"
    r"|\b(?:planungs|architektur|beratungs|sachverständigen)büro\b|\bk\.?d\.?ö\.?r\b"
    r"|(?-i:\beG\b|\bUG\b(?=\s*\(haftungsbeschränkt\))|\bOHG\b))"
    r"|\b(?:AG|KG|Ltd|Inc|LLP|GbR|mbB|PartG|PartGmbB|KGaA|A/S|ApS|AB|Oy|SE|SpA|Srl|B\.V\.|N\.V\."
    r"|S\.A\.|S\.à r\.l\.|SARL|SAS|GesmbH|Ges\.m\.b\.H\.)(?![\w/])"
)
_DEPT = re.compile(
    r"(?i)^(?:amt\b(?!"
    + _AMT_PLACE
    + r")|abteilung|abt\.|referat|fachbereich|fachdienst|fb\b|fd\b|fachgebiet|dezernat"
    r"|sachgebiet|geschäftsbereich|bereich|ressort|stabsstelle|team|department|serviceeinheit|büro|sekretariat"
    r"|vorzimmer|faculty|fakultät|faculté|facultad|facoltà|lehrstuhl|lehrgebiet|professur"
    r"|arbeitsgruppe|office)\b|\w*kämmerei\b"
    r"|\w+amt\b|\bdepartment\b"
)
_FUNCTION_VOCAB = re.compile(
    r"(?i)^(?:\w*leiter(?:in)?|\w*bearbeiter(?:in)?|\w*mitarbeiter(?:in)?|\w*referent(?:in)?"
    r"|\w*kämmerer|\w*kämmerin|\w*meister(?:in)?|\w*dezernent(?:in)?|beigeordnete[r]?"
    r"|(?!magistrat\b)\w*rat|\w*rätin|\w*direktor(?:in)?|geschäftsführer(?:in)?|controller(?:in)?"
    r"|rats(?:frau|herr|mitglied)|stadtverordnete[r]?|kreistagsabgeordnete[r]?|councillor"
    r"|\w*koordinator(?:in)?|assisten[tz](?:in)?|\w*berater(?:in)?|\w*manager(?:in)?|sprecher(?:in)?"
    r"|\w*beauftragte[r]?"
    r"|professor(?:in)?|head|director|officer|advisor|adviser|economist|associate|assistant"
    r"|chief|lecturer|researcher|consultant|clerk|treasurer|auditor|skarbnik|starosta|burmistrz"
    r"|wójt|maire|adjointe?|trésorière?|directeur|directrice|wethouder|penningmeester"
    r"|chef|cheffe|responsable|chargée?|échevine?|bourgmestre|conseill(?:er|ère))$"
)
# A department named last ("City Office", "Borgmesterens Afdeling") under an organisation.
_DEPT_END = re.compile(
    r"(?i)\b(?:office|department|team|unit|division|afdeling|afdelning|avdelning|secretariat"
    r"|abteilung|referat|sachgebiet|stabsstelle|fachbereich|fachdienst|dezernat)$"
)
_DEPT_NOT_ORG = re.compile(r"(?i)\b(?:council|university|municipality|kommune|gemeinde|stadt)\b")
# An organ of a body is the organisation ("Rat der Stadt Celle"), not a job title.
_COUNCIL = re.compile(
    r"^(?:Rat|Kreistag|Gemeinderat|Stadtrat|Magistrat|Bezirksvertretung|Regionsversammlung"
    # Hessian organs of a county or municipality and district councils: "Kreisausschuss des
    # Landkreises X", "Gemeindevorstand der Gemeinde Y", "Ortsbeirat 3 der Stadt Z".
    r"|Kreisausschuss|Gemeindevorstand|Ortsbeirat(?:\s+\d{1,2})?|Ortschaftsrat|Bezirksbeirat"
    r"|Stadtbezirksrat|Stadtverordnetenversammlung)\s+(?:der|des)\s+"
)
# "Mitglied im Rat der Stadt Bonn": the member's council is the organisation.
_MEMBER_OF = re.compile(r"^(?:Mitglied|Member)\s+(?:im|des|der|of the|of)\s+")
_COUNCIL_NAME = re.compile(
    r"(?:Rat|Kreistag|Gemeinderat|Stadtrat|Marktgemeinderat|Ortschaftsrat|Bezirkstag"
    r"|Stadtverordnetenversammlung|Gemeindevertretung|Stadtvertretung|Ratsversammlung)\b"
)
_COUNCIL_OF_PLACE = re.compile(
    r"(?:Stadtrat|Kreistag|Gemeinderat|Marktgemeinderat|Bezirkstag|Stadtverordnetenversammlung"
    r"|Gemeindevertretung|Stadtvertretung|Ratsversammlung|Amtsausschuss)"
    r"\s+[A-ZÄÖÜ][\w-]+(?:\s(?:a\.|am|an der|i\.)\s?[A-ZÄÖÜ][\w.-]+|\s[A-ZÄÖÜ][\w-]+){0,2}"
)
_DEPT_FIRST = re.compile(
    r"(?i)(?:amt|abteilung|abt\.|referat|fachbereich|büro|sekretariat|office)\b"
)
_CONTACT = re.compile(
    r"(?i)(?:@|\bwww\.|https?://|^(?:tel|telefon|fon|phone|fax|mobil|handy|mobile|t|f|m)\b\.?:?\s*[+\d(])"
)
_ADDRESS = re.compile(
    r"(?i)(?:\b\d{5}\s+[^\W\d]|\b(?:[A-Z]{1,2}-)\d{4,5}\s+[^\W\d]|(?:,\s*|^)\d{4}\s+[A-ZÄÖÜ][^\W\d]+$"
    r"|(?:straße|str\.|weg|platz|ring|allee|gasse|markt|damm|ufer|hof|wall"
    r"|tor)\s*\d|^\+?\d[\d\s/()-]{5,}$)"
)
_STOP = re.compile(
    r"(?i)vertraulich|confidential|sitz der gesellschaft|registergericht|\bhrb\b|amtsgericht"
    r"|geschäftsführer:|datenschutz|privacy|disclaimer|this e-?mail|diese e-?mail"
)
_SPLIT = re.compile(r"\s+[|–—·•-]\s+|,\s+|;\s+|\s+/\s+")


def _is_function(part: str) -> bool:
    words = part.split()
    if words[:1] in (["Der"], ["Die"]):
        return False  # "Der Oberbürgermeister" under a city names the authority, not a job
    return any(FUNCTION_WORD.match(w) or _FUNCTION_VOCAB.match(w) for w in words[:3])


def part_kind(part: str) -> str:
    """Kind of a signature fragment: stop, contact, address, dept, authority, function, org,
    person or other."""
    part = part.strip(" ()")
    if not part:
        return "other"
    if len(part) > 120 or _STOP.search(part):
        return "stop"
    if _CONTACT.search(part):
        return "contact"
    if _ADDRESS.search(part):
        return "address"
    if re.match(r"(?i)(?:service|direction|division|bureau|pôle)\s+(?:des?|du|de la|d')\s", part):
        return "dept"  # "Service des Finances", "Direction de l'Urbanisme": a unit of a French body
    if _COUNCIL.match(_MEMBER_OF.sub("", part)) and _BODY.search(part):
        return "org"
    if _COUNCIL_OF_PLACE.fullmatch(re.sub(r"\s*\(.*$", "", _MEMBER_OF.sub("", part))):
        return "org"  # "Stadtrat Nürnberg", "Kreistag Dachau": the council, not a job
    if _DEPT_END.search(part) and not _DEPT_NOT_ORG.search(part):
        return "dept"
    if _DEPT.search(part) and not _BODY.search(part.split()[0]):
        if _DEPT_FIRST.match(part):
            return "dept"
        if not _BODY.search(part):
            return "dept"
    words = part.split()
    if len(words) == 2 and words[0] in ("Der", "Die") and FUNCTION_WORD.match(words[1]):
        return "authority"  # "Der Oberbürgermeister" under a city: the authority, not a job
    if _is_function(part) and not re.match(r"(?i)(?:\w*stadt|\w*kreis|\w*gemeinde)\b", part):
        return "function"
    if _BODY.search(part):
        return "org"
    if parse_person(part):
        return "person"
    return "other"


# "Kämmerin der Stadt Lippstadt", "Fraktion X im Rat der Stadt Lünen": the body named inside.
_OF_BODY = re.compile(
    r"\b(?:im|in der|der|des)\s+((?:(?:Rat|Kreistag|Gemeinderat|Stadtrat) (?:der|des) )?"
    r"(?:[A-ZÄÖÜ][a-zäöüß]*(?:gemeinde|stadt)|Stadt|Gemeinde|Kreises|Landkreises|Marktes"
    r"|Marktgemeinde)\s+[A-ZÄÖÜ][\w-]*"
    r"(?:\s\([^)]{1,20}\))?)$"
)


# Bodies whose names contain commas: "Der Senator für Umwelt, Klima und Wissenschaft",
# "Ministerium für Heimat, Kommunales, Bau und Digitalisierung des Landes Nordrhein-Westfalen".
_SENATE = re.compile(
    r"(?:Die |Der )?(?:Senator(?:in)?|\w*[Mm]inisterium)(?: des \w+,)? für [^|–—·;/]+"
)
# "Sächsisches Staatsministerium für Energie, Klimaschutz, Umwelt und Landwirtschaft",
# "Landesamt für Umwelt, Landwirtschaft und Geologie": a body whose remit lists several fields.
_FOR_LIST = re.compile(
    r"(?:Die |Der |Das )?(?:[A-ZÄÖÜ][\w-]*(?:e|es|er|en)\s+)?[\w-]*(?:[Mm]inisterium|[Ll]andesamt"
    r"|[Bb]undesamt|[Aa]nstalt|[Ii]nstitut|[Aa]gentur|[Zz]entrum|[Bb]ehörde|[Ss]enatsverwaltung)"
    r" für [^,|–—·;/]+(?:, [^,|–—·;/]+)*,? (?:und|sowie) [^,|–—·;/]+"
)
_LEGAL_FORM = re.compile(
    r"\b(?:GmbH|AG|mbH|KG|e\.\s?V\.|AöR|A/S|SE|gGmbH|PartGmbB|PartG mbB|mbB|KGaA|eG)\s*$"
)


# Where a body's name starts after an office written without a separator.
_BODY_AFTER_FUNCTION = re.compile(
    r"\s+(?=(?:Stadt|Gemeinde|Landkreis|Landratsamt|Kreis|Markt|Stadtverwaltung|Gemeindeverwaltung"
    r"|Kreisverwaltung|Stadtwerke|Zweckverband|Verwaltungsgemeinschaft|Landeshauptstadt"
    r"|Große Kreisstadt|Universitätsstadt|Hansestadt|Samtgemeinde|Verbandsgemeinde|Amt"
    r"|Ortsgemeinde|Marktgemeinde|Kreisstadt|Gemeindeverwaltungsverband)"
    r"\s+[A-ZÄÖÜ])"
)


# A council member's party or group after the council: not part of the organisation.
_PARTY_NOTE = re.compile(
    r"\s*\((?:[^()]*(?i:fraktion|gruppe|partei)[^()]*|SPD|CDU|CSU|FDP|AfD|BSW|ÖDP|FW|Volt"
    r"|(?:Die )?Linke|(?:Bündnis 90/)?(?:Die )?Grünen?|Freie Wähler|Piraten)\)\s*$"
)


def _council_part(part: str) -> str:
    """ "Mitglied im Stadtrat Leipzig (Fraktion …)" -> "Stadtrat Leipzig"; others unchanged."""
    # "Fraktion Bündnis 90/Die Grünen im Rat der Stadt X": the council, not the group.
    part = re.sub(
        r"^(?:[\w/.]+-)?(?:Fraktion|Gruppe|Ratsfraktion|Kreistagsfraktion)\b.{0,60}?"
        r"\b(?:im|in der)\s+"
        r"(?=(?:Rat|Kreistag|Gemeinderat|Stadtrat|Ortsbeirat|Stadtverordnetenversammlung)\b)",
        "",
        part,
    )
    bare = _MEMBER_OF.sub("", part)
    if bare != part:  # "Mitglied des Kreistages Görlitz": the council in the nominative
        bare = re.sub(
            r"^(Kreistag|Stadtrat|Gemeinderat|Ortschaftsrat|Bezirkstag)e?s\b", r"\1", bare
        )
    if _COUNCIL.match(bare):
        return _PARTY_NOTE.sub("", bare)  # "Gemeinderat der Stadt X (SPD-Fraktion)": the council
    place = _COUNCIL_OF_PLACE.match(bare)
    if place and re.fullmatch(r"\s*(?:\(.*)?", bare[place.end() :]):
        return place.group(0)
    return part


_PARTIES = (
    r"CDU|CSU|SPD|FDP|AfD|ÖDP|Volt|BSW|SSW|Grüne|GRÜNE|B'?90/Die Grünen|Bündnis 90/Die Grünen"
    r"|Die Linke|DIE LINKE|Linke|Freie Wähler|FREIE WÄHLER|FW|Piraten|Die PARTEI|UWG|WG"
)
_PARTY_NOTE = re.compile(
    r"\s*(?:\(\s*(?:[^()]*\bFraktion\b[^()]*|[^()]*-?Fraktion|(?:"
    + _PARTIES
    + r")(?:-Fraktion)?)\s*\)"
    r"|,\s*(?:[\w/ ]*-Fraktion|Fraktion (?![^,]*\b(?:im|in der) (?:Rat|Kreistag|Gemeinderat"
    r"|Stadtrat|Ortsbeirat)\b)[^,]{2,40}|(?:" + _PARTIES + r")(?:-Fraktion)?))\s*$"
)


def organisation_of(line: str) -> tuple[str | None, str]:
    """(organisation, "org"|"dept"|"") of one line: department and function parts dropped."""
    line = clean_line(line, MAX_FIELD_CHARS * 2).strip()
    # "Gemeinderat der Stadt X (SPD-Fraktion)": the party note is not part of the body.
    line = _PARTY_NOTE.sub("", line).strip()
    inner = _OF_BODY.search(line)
    prefix = line[: inner.start()].strip() if inner else ""
    if (
        inner
        and part_kind(prefix) != "org"
        and not re.search(
            r"(?:Rat|Kreistag|Gemeinderat|Stadtrat|Magistrat|Kreisausschuss|Gemeindevorstand"
            r"|Ortsbeirat(?:\s+\d{1,2})?|Ortschaftsrat|Stadtverordnetenversammlung"
            r"|Bezirksbeirat|Stadtbezirksrat|Amtsausschuss|\w*versammlung|\w*vertretung)"
            r"(?:e?s)?$",  # also in the genitive: "Mitglied des Gemeinderats der Stadt X"
            prefix,
        )
    ):
        body = inner.group(1)
        if not re.match(r"(?:Rat|Kreistag|Gemeinderat|Stadtrat) ", body):
            body = re.sub(r"^(Land)?[Kk]reises\b", lambda m: (m.group(1) or "") + "kreis", body)
            body = body[:1].upper() + body[1:]
        return body[:MAX_FIELD_CHARS], "org"
    if line.startswith("(") and line.endswith(")"):
        line = line[1:-1].strip()
    # "Ortsbeirat 2 der Stadt X (Nordend, Westend)", "Stadt Y (Bürgeramt, Team 2)": a note in
    # parentheses listing districts or units is not part of the body's name.
    note = re.match(r"^(.*\S)\s*\([^()]*,[^()]*\)$", line)
    if note and part_kind(note.group(1)) == "org":
        line = note.group(1)
    # "noch Stadt Hameln", "ehemals Landkreis X", "z. Zt. Stadt Y": a remark before the body.
    line = re.sub(
        r"^(?:(?:noch|ehemals|bis|derzeit|z\.\s?[Zz]t\.|zurzeit|jetzt|seit)\s+)+"
        r"(?=[A-ZÄÖÜ])",
        "",
        line,
    )
    if not line:
        return None, ""
    senate = _SENATE.match(line) or _FOR_LIST.match(line)
    if senate:  # Bremen's ministries: "Der Senator für Umwelt, Klima und Wissenschaft"
        return senate.group(0).strip(" ,")[:MAX_FIELD_CHARS], "org"
    member = re.match(r"(?:Mitglied|Member) (?:der|des|im|of the) (\w+ische)n (\w+)$", line)
    if member:  # "Mitglied der Bremischen Bürgerschaft": the body in the nominative
        return f"{member.group(1)} {member.group(2)}", "org"
    parts = [_council_part(p) for p in _SPLIT.split(line)]
    kinds = [part_kind(p) for p in parts]
    if "org" not in kinds:
        for part, kind in zip(parts, kinds, strict=True):
            # "Bauamtsleiter Stadt Oelsnitz/Erzgeb.": an office, then the body without a comma
            tail = _BODY_AFTER_FUNCTION.search(part) if kind == "function" else None
            if tail and part_kind(part[tail.end() :]) == "org":
                return part[tail.end() :].strip()[:MAX_FIELD_CHARS], "org"
    if "org" in kinds:
        seps = _SPLIT.findall(line)
        first_org = kinds.index("org")
        # Unknown words before the body belong to its name ("Freie und Hansestadt Hamburg, …");
        # after it they are mostly its department ("Landkreis Harburg – Finanzmanagement").
        # The first body named, with unknown words before it ("Freie und Hansestadt Hamburg");
        # a second one after it is a translation or a parent ("– City University of …").
        keep = [
            i for i, k in enumerate(kinds) if i == first_org or (k == "other" and i < first_org)
        ]
        # … unless it is the rest of a company name ("Holding Graz – Kommunale … GmbH").
        nxt = first_org + 1
        if (
            nxt < len(parts)
            and kinds[nxt] == "org"
            and _LEGAL_FORM.search(parts[nxt])
            and not _LEGAL_FORM.search(parts[first_org])
        ):
            keep.append(nxt)
        text = parts[keep[0]]
        for i in keep[1:]:
            if i != keep[0]:
                text += seps[i - 1] + parts[i]
        if keep == list(range(keep[0], keep[-1] + 1)):
            return text.strip(" ,")[:MAX_FIELD_CHARS], "org"
        return parts[kinds.index("org")].strip()[:MAX_FIELD_CHARS], "org"
    if "dept" in kinds:
        return parts[kinds.index("dept")].strip()[:MAX_FIELD_CHARS], "dept"
    return None, ""


# English prose: "participants from Local Government Denmark (KL)", "from Leeds City Council".
_ORG_PHRASE_EN = re.compile(
    r"\bfrom\s+(?:the\s+)?((?:[A-Z][\w.&-]*\s+){0,4}(?:Government|Council|Municipality|Kommune"
    r"|Authority|Agency|County|Borough)(?:\s+(?:of\s+)?[A-Z][\w.-]*){0,3}(?:\s\([^)]{1,20}\))?)"
)
_ORG_PHRASE = re.compile(
    r"\b(?:der|die|des|vom|von der|für die|für den|aus der|aus dem|from the|from|im)\s+"
    r"((?:(?:Rat|Kreistag|Gemeinderat|Stadtrat)(?:e?s)? (?:der|des) "
    r"(?:(?:[A-ZÄÖÜ][a-zäöüß]*(?:stadt|gemeinde)|Stadt|Gemeinde|Landkreises|Kreises)\s+"
    r"[A-ZÄÖÜ][\w.-]*|[A-ZÄÖÜ][\w-]*-Kreises))|(?:Stadt|Gemeinde|Landkreis|Kreis|Landeshauptstadt|Hansestadt|Ortsgemeinde"
    r"|Bezirksamt|Bezirksversammlung|Bezirksvertretung|Bezirkstag|Stadtverordnetenversammlung"
    r"|Gemeindevertretung|Stadtvertretung|Ratsversammlung"
    r"|Regionsversammlung|Verbandsgemeinde|Samtgemeinde|Marktgemeinde|Landratsamt"
    r"|Bezirksregierung|Regierungspräsidium|Stadtwerke|Sparkasse|Kreissparkasse|Stadtsparkasse"
    r"|Zweckverband|Landschaftsverband|Regionalverband|Handwerkskammer|Staatskanzlei"
    r"|Senatskanzlei|Landtag|Amt"
    r"|Kreisverwaltung|Stadtverwaltung|City of|University of|Universität|Hochschule|Beirats?"
    r"|Kreistag(?:e?s)?|Stadtrat(?:e?s)?|Gemeinderat(?:e?s)?"
    r"|Bayerischen (?:Städtetag|Gemeindetag|Landkreistag)"
    r"|Fachhochschule)\s+[A-ZÄÖÜ][\w.-]*(?:/[A-ZÄÖÜ][\w.]*)?"  # "Stadt Oelsnitz/Erzgeb."
    r"(?:\s\([^)]{1,20}\))?)"
)
# Any body after "vom", "von der", "aus dem" … ("wir von der Energiegenossenschaft Leipzig eG
# möchten …", "vom Zweckverband Abwasser Obere Saale melde ich …"): capitalised words, joined by
# "für", "und", "&"; kept when organisation_of reads them as a body.
_ORG_PHRASE_ANY = re.compile(
    r"\b(?:vom|von der|von den|aus dem|aus der|aus den|seitens der|seitens des|im Namen der"
    # dialect "vun de Verbandsgemeinde X", "vo da Gmoa"
    r"|vun de[rm]?|vun|vum|vo de[rm]?"
    r"|im Namen des|für die|für den|für das)\s+"
    r"((?:[A-ZÄÖÜ][\w./&-]*|e\.\s?V\.)(?:\s+(?:[A-ZÄÖÜ][\w./&()-]*|für|und|&|Co\.|e\.\s?V\.|eG"
    r"|gGmbH|mbH|der|des))*)"
)


# "Einladung der Stadt Leipzig", "zum Netzwerktreffen der Stadt Leipzig": the host, not the writer.
_HOST_BEFORE = re.compile(
    r"(?i)(?:einladung|forum|tagung|tag|treffen|symposium|veranstaltung|konferenz|workshop"
    r"|seminar|kongress|fachtag|netzwerktreffen|programm)\w*\s+(?:\d{4}\s+)?$"
)


def _not_the_host(phrase: re.Pattern[str], main: str) -> re.Match[str] | None:
    """The first match of phrase that does not follow an event's name."""
    for m in phrase.finditer(main):
        if not _HOST_BEFORE.search(main[max(0, m.start() - 40) : m.start()]):
            return m
    return None


def _org_in_prose(main: str) -> str | None:
    """The first body named after "vom"/"von der"/"aus dem" … in the text, or None."""
    for m in _ORG_PHRASE_ANY.finditer(main):
        org = _org_of_phrase(m)
        if org:
            return org
    return None


_BESIDE = re.compile(
    r"\s*(?:\(([^()]{2,160})\)|,\s*([A-ZÄÖÜ][^,()]{1,100})(?=,|\s+(?:und|sowie|an)\b|\s*[.;]?$))"
)


def _org_beside(after: str) -> str | None:
    """ "Herrn X (Stadtwerke Pirna GmbH)", "Frau Y, Gemeinde Dohna, und …": the body written in
    parentheses or between commas right after a person named in a sentence."""
    m = _BESIDE.match(after)
    if not m:
        return None
    parts = (m.group(1) or m.group(2)).split(",")
    units = any(organisation_of(p)[1] == "dept" for p in parts)
    for part in parts:
        if _EMAIL.search(part):
            continue
        if units and re.fullmatch(r"\s*[A-ZÄÖÜ][a-zäöüß]+(?:behörde|stelle)\s*", part):
            continue  # "(Ordnungsamt, Verkehrsbehörde)": a unit of a unit, not the body
        org, what = organisation_of(part)
        if what == "org" and org:
            return org
    return None


def _org_of_phrase(m: re.Match[str]) -> str | None:
    """The body in an _ORG_PHRASE_ANY match, in the nominative ("den Stadtwerken" ->
    "Stadtwerke"), or None when the words name no body."""
    words = m.group(1).split()
    for k, word in enumerate(words[:-1]):
        if word in ("und", "&") and words[k + 1] in ("Herr", "Herrn", "Frau", "Dr.", "Prof."):
            words = words[:k]  # "… Stadtwerken Pirna und Frau Maria Ufer": the next person
            break
    while words and words[-1] in ("für", "und", "&", "der", "des"):
        words.pop()
    text = re.sub(r"^(\w*[Ww]erk)en\b", r"\1e", " ".join(words))
    if not re.search(r"(?:/\w+|\b[A-Za-z]|e\.\s?V)\.$", text):
        text = re.sub(r"[.,]$", "", text)  # the sentence's full stop, not "Erzgeb."/"e. V."
    org, what = organisation_of(text) if text else (None, "")
    # "für das Netzwerktreffen der Stadt Leipzig" names the host, not the writer's body
    return org if what == "org" and org and org.split()[0] == text.split()[0] else None


# A body written in capitals as its brand ("Anmeldung für HAMBURG WASSER", "aus der KVHB"):
# two capitalised words, or one of four letters and more, after "für"/"aus der"/"vom".
_ORG_CAPS = re.compile(
    r"\b(?:für|aus der|aus dem|von der|vom|for|from)\s+"
    r"((?:[A-ZÄÖÜ][A-ZÄÖÜ&-]+\s+)+[A-ZÄÖÜ][A-ZÄÖÜ&-]+|[A-ZÄÖÜ][A-ZÄÖÜ&-]{3,})"
    # at the end of the clause ("… für HAMBURG WASSER an."), not "für ALLE Teilnehmer"
    r"(?=\s*(?:an|teil)?\s*(?:[.,:;!]|$))"
)


# --- sentences, closings, signatures --------------------------------------------------------

_CLOSING = re.compile(
    r"(?i)(?:^|(?<=[.!?,]\s)|(?<=[.!?]))\s*(?:(?:vielen\s+)?dank(?:e)?\s+und\s+(?:\w+\s+)?grü(?:ß|ss)e"
    r"|mit\s+(?:den\s+)?(?:freundlichen|besten|herzlichen"
    r"|kollegialen)\s+grü(?:ß|ss)en|mit\s+freundlichem\s+gru(?:ß|ss)|(?:viele|beste|liebe"
    r"|freundliche|herzliche|schöne|kollegiale)\s+grü(?:ß|ss)e|gru(?:ß|ss)|grü(?:ß|ss)e|mfg|vg|lg"
    r"|(?:best|kind|warm|many)\s+(?:regards|wishes|thanks)|regards|yours\s+sincerely"
    r"|sincerely|cheers|thanks|thank\s+you|danke(?:\s+und\s+gru(?:ß|ss))?|vielen\s+dank"
    r"|best"
    # Swabian/Swiss and French/Italian closings: "Grüßle", "Liebe Grüessli", "Cordialement"
    r"|(?:viele\s+|liebe\s+|herzliche\s+)?grü(?:ß|ss|e?ss)(?:le|li)|pfiat\s+di\w*"
    r"|(?:bien\s+|très\s+)?cordialement|(?:meilleures\s+|sincères\s+)?salutations"
    r"|bien\s+à\s+vous|(?:distinti|cordiali)\s+saluti"
    r")\b[ \t]*(?:(?:aus|from|nach)\s+[^\n,]*)?[,!.]?"
)
_SIG_DASHES = re.compile(r"^--\s?$")
_ABBREV = frozenset(
    "dr prof rer pol nat med phil dipl ing st nr str ca bzw ggf inkl evtl abs abt tel hr fr mr mrs"
    " ms jan feb mär apr jun jul aug sep sept okt nov dez vs usw zb ua ia iv vgl jun sen em"
    " h c d v jur iur oec theol paed habil sc dent vet rer pol nat med phil".split()
)


def sentences(text: str) -> list[str]:
    """Split on . ! ? ; and blank lines, but not after "Dr.", "12." or an initial."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(para.split())
        start = 0
        for m in re.finditer(r"[.!?;](?=\s|$)", para):
            before = re.findall(r"[\w.-]+$", para[start : m.start()])
            word = before[0].lower().replace(".", "") if before else ""
            if (
                m.group(0) == "."
                and (
                    word in _ABBREV
                    or word.isdigit()
                    or len(word) == 1
                    or word.startswith("dipl")
                    or any(part in _ABBREV for part in word.split("-"))  # "Dr.-Ing."
                    or para[m.end() :].lstrip()[:1] in ("(", "<")
                    or para[m.end() :].lstrip()[:1].islower()  # "LL.M. (x@…) am Tag"
                )
            ):
                continue  # "Dr.", "12.", "Dipl.-Kffr." end no sentence
            out.append(para[start : m.end()].strip())
            start = m.end()
        if para[start:].strip():
            out.append(para[start:].strip())
    return out


def split_signature(text: str) -> tuple[str, list[str]]:
    """(main text, signature lines) at the first closing phrase or "-- "; else the last lines."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _SIG_DASHES.match(line):
            return "\n".join(lines[:i]), _sig_lines(lines[i + 1 :])
        for m in _CLOSING.finditer(line):
            rest = line[m.end() :].strip(" ,")
            before = line[: m.start()].strip()
            # A closing phrase is alone on its line, starts it, or follows a full sentence.
            # "Z přećelnym postrowom / Mit freundlichen Grüßen": a bilingual closing line
            bilingual = bool(re.search(r"\s/$", before)) and not rest and len(before) < 60
            if before and not re.search(r"[.!?]$", before) and not bilingual:
                continue
            if not before and rest and not (rest[:1].isupper() or rest[:1] == "("):
                continue
            if m.group(0).strip().lower().startswith(("danke", "thank", "vielen", "best")):
                # weak closings count only when nothing but a name follows
                tail = [x for x in lines[i + 1 :] if x.strip()]
                if len(tail) > 8:
                    continue
            main = "\n".join([*lines[:i], before])
            return main, _sig_lines([rest, *lines[i + 1 :]])
    # No closing: the first later paragraph that starts with a name ("Bin dabei!\n\nMalte
    # Jürgensen\nLeiter …\n\nStadtwerke …": the blocks below belong to it), else the last
    # paragraph, or the last sentence of the last line.
    paras = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    for k in range(1, len(paras)):
        first = paras[k].split("\n")[0].strip()
        if parse_person(first) and not _VERB.search(first):
            below = [x for p in paras[k:] for x in p.split("\n")]
            return "\n\n".join(paras[:k]), _sig_lines(below)
    if len(paras) > 1:
        last = paras[-1].split("\n")
        if any(part_kind(x) in ("person", "org") for x in last):
            return "\n\n".join(paras[:-1]), _sig_lines(last)
    lines = text.strip().split("\n")
    if len(lines) > 1 and "," in lines[-1] and parse_person(lines[-1].split(",")[0]):
        # "Dr. phil. Anna Roth, Constructor University, School of …" under a one-line mail
        return "\n".join(lines[:-1]), _sig_lines([lines[-1]])
    sents = sentences(lines[-1]) if lines else []
    if len(sents) > 1:
        return "\n".join([*lines[:-1], " ".join(sents[:-1])]), _sig_lines([sents[-1]])
    return text, []


_ON_BEHALF_LINE = re.compile(r"(?i)(?:i\.\s?A\.|im auftrag|i\.\s?V\.|in vertretung|--)")


def _sig_lines(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = clean_line(line, 400)
        if not line or _ON_BEHALF_LINE.fullmatch(line):
            continue
        if part_kind(line) == "stop":
            break
        out.append(line)
    return out[:15]


@dataclass(frozen=True)
class Signature:
    person: PersonName | None = None
    organisation: str | None = None
    org_is_dept: bool = False
    function: str | None = None


# Units of a university or institution, named above it in a signature.
_SUB_UNIT = re.compile(r"(?i)^(?:institut|lehrstuhl|zentrum|seminar|arbeitsbereich|forschungs"
                       r"|klinik|professur|center|centre|chair|school of|faculty)")  # fmt: skip
_PARENT = re.compile(r"(?i)universit|hochschule|college|akademie|academy")


# A state above the authority that signs: the authority is the organisation.
_UMBRELLA = re.compile(
    r"(?:Freie und Hansestadt Hamburg|Freie Hansestadt Bremen"
    r"|Freistaat (?:Sachsen|Thüringen|Bayern)"
    r"|Land (?:Berlin|Brandenburg|Sachsen-Anhalt|Niedersachsen|Hessen|Nordrhein-Westfalen"
    r"|Baden-Württemberg|Rheinland-Pfalz|Saarland|Schleswig-Holstein|Mecklenburg-Vorpommern)"
    r"|Freistaat [\w-]+|Land [\w-]+"
    r"|Bundesrepublik Deutschland|Republik Österreich|Schweizerische Eidgenossenschaft)"
)


def _join_wrapped_body(lines: list[str]) -> list[str]:
    """ "Kämmerin der Stadt" + "Lippstadt" on the next line is one line."""
    out: list[str] = []
    for line in lines:
        if (
            out
            and re.search(r"\b(?:der|des) (?:Stadt|Gemeinde|Kreises|Landkreises)$", out[-1])
            and (re.fullmatch(r"[A-ZÄÖÜ][\w-]*(?: \([^)]{1,20}\))?", line.strip()))
        ):
            out[-1] = f"{out[-1]} {line.strip()}"
        else:
            out.append(line)
    return out


def read_signature(lines: list[str], hint: PersonName | None = None) -> Signature:
    """Name, organisation and function from signature lines (or "Name, Org" one-liners)."""
    person: PersonName | None = None
    org: str | None = None
    dept: str | None = None
    function: str | None = None
    lines = _join_wrapped_body(lines)
    tags: list[str] = []  # what each line is, for _org_by_place()
    for line in lines:
        tags.append("person")
        whole = parse_person(line) or _one_token_match(line, hint)
        hinted = bool(hint and same_person(line, hint.name))
        if whole and _BODY.search(line) and not hinted:
            whole = None  # "Landkreistag Nordrhein-Westfalen" is no person
        if (
            whole is None
            and hint
            and hinted
            and len(line.split()) <= 3
            and not _CONTACT.search(line)
        ):
            person = person or hint  # "St. Ickstadt" under "Stefan Ickstadt" in From
            continue
        if whole and person is None:
            person = whole
            continue
        if whole and person and same_person(whole.name, person.name):
            # "Beste Grüße / Hans-Peter von der Heide / -- / Prof. Dr. rer. pol. Hans-Peter …"
            person = replace(person, title=person.title or whole.title)
            continue
        kinds = []
        for part in _SPLIT.split(line.strip("()")):
            kind = part_kind(part)
            kinds.append(kind)
            if kind == "person" and person is None:
                person = parse_person(part)
            elif kind == "function" and function is None:
                function = clean_line(part.strip("() "), MAX_FIELD_CHARS)
        found, what = organisation_of(line)
        tags[-1] = what or next(
            (k for k in ("contact", "address", "function") if k in kinds), "unknown"
        )
        if what == "org" and org and found and _SUB_UNIT.match(org) and _PARENT.search(found):
            org = found  # "Institut für …" above "Technische Hochschule Köln"
        elif what == "org" and org and found and _UMBRELLA.fullmatch(org) and found != org:
            org = found  # "Freie und Hansestadt Hamburg" above "Bezirksamt Eimsbüttel"
        if what == "org" and org is None:
            org = found
        elif what == "dept" and dept is None:
            dept = found
    if org is None:
        org = _org_by_place(lines, tags)
    return Signature(person, org or dept, org is None and dept is not None, function)


# Words that may stand in lower case inside the name of a body ("Struktur- und
# Genehmigungsdirektion Süd", "Regierung von Mittelfranken", "Administration communale de …").
_NAME_GLUE = frozenset(
    "und für der des die dem den von vom zur zum am an im in auf bei de du des la le les et di"
    " del della da do dos das of the and for à mbh ggmbh gmbh e.v. eg ag kg".split()
)


_UNIT_WORD = re.compile(
    r"(?i)\b(?:abteilung|abt\.|referat|sachgebiet|fachbereich|fachdienst|fachgebiet|dezernat"
    r"|\w*bereich|stabsstelle|team|büro|sekretariat|gruppe|vorstand|leitung|department|unit"
    r"|office)\b"
)


def _body_shaped(line: str) -> bool:
    """A line written like the name of an institution: capitalised words, no sentence, no
    digits, no address or contact."""
    line = line.strip()
    words = line.split()
    if not 1 <= len(words) <= 8 or len(line) > 90 or not line[:1].isupper():
        return False
    if re.search(r"[\d@:;!?]|[.,]$", line) or _CONTACT.search(line) or _ADDRESS.search(line):
        return False
    if _UNIT_WORD.search(line) or _is_function(line) or part_kind(line) == "authority":
        return False  # "Vorstand der Abteilung Finanzen" is a unit or an office, not a body
    lower = [w for w in words if not w[:1].isupper() and w.lower() not in _NAME_GLUE]
    if len(words) == 1:
        return bool(re.fullmatch(r"[A-ZÄÖÜ][A-ZÄÖÜ&-]{2,}", line))  # "ISB", "HAMBURG WASSER"
    return len(lower) <= (1 if len(words) >= 3 else 0)


def _org_by_place(lines: list[str], tags: list[str]) -> str | None:
    """The organisation by where it stands when no word names it as one.

    German signatures run name, function, unit, organisation, street, town, phone; the line
    right above the postal address, or beside a department line, is the organisation when it
    is written like a name ("Regierung von Mittelfranken" over "Promenade 27"; "Bezirk X" over
    "Kämmerei"). Only lines below the signer's name count, never the name itself.
    """
    if "person" not in tags:
        return None
    for i in range(tags.index("person") + 1, len(lines)):
        if tags[i] != "unknown" or not _body_shaped(lines[i]):
            continue
        after = tags[i + 1] if i + 1 < len(tags) else ""
        before = tags[i - 1]
        if after == "address" or "dept" in (before, after):
            return clean_line(lines[i], MAX_FIELD_CHARS)
    return None


def _one_token_match(line: str, hint: PersonName | None) -> PersonName | None:
    """A signature of one word ("Kai", "Becker") that matches the display name."""
    one = parse_person(line, min_tokens=1)
    if one and hint and len(one.tokens) == 1 and one.name in hint.tokens:
        return replace(hint, title=one.title or hint.title)
    return None


# --- people named in the text ---------------------------------------------------------------

_MENTION_START = re.compile(
    r"\b(?:Herrn?|Frau|Mrs?\.?|Ms\.?)\s+|(?<![\w.-])(?=(?:Prof\.|Dr\.|Dr\s+[A-ZÄÖÜ]|[A-ZÄÖÜ][a-zäöüß]*"
    r"(?:meister(?:in)?|rat|rätin|kämmerer|kämmerin|leiter(?:in)?|dezernent(?:in)?)\s+[A-ZÄÖÜ]))"
    # "mein Kollege Stefan Wiegmann", "my colleague Dr Gareth Hughes": the name follows.
    r"|(?P<colleague>\b(?i:mein(?:e[nmr]?)?|unser(?:e[nmr]?)?|my|our|die|den|mei|minge|unsern"
    r"|unsre|meim|unserm)\s+"
    # … also with adjectives: "unsere wissenschaftliche Mitarbeiterin", "my senior colleague"
    r"(?:(?:[a-zäöüß]+|Senior|Junior)\s+){0,2}"
    # (dialect spells the colleague "Kolleechin", "Kollesch")
    r"(?i:\w*kolleg(?:e|in|en|innen)|kolle[a-zäöüß]*|colleagues?|mitarbeiter(?:in)?"
    r"|stellvertreter(?:in)?"
    r"|deputy"
    # … or by what they do: "unsere Senior Managerin X", "meine Doktorandin X"
    r"|\w*manager(?:in)?|\w*referent(?:in|en)?|doktorand(?:in|en)?|praktikant(?:in|en)?"
    r"|volontär(?:in)?|trainee|\w*assistent(?:in|en)?|\w*sachbearbeiter(?:in)?"
    r"|\w*beauftragte[nr]?|\w*berater(?:in)?|\w*koordinator(?:in)?"
    # an office with an article before the name, in dialect: "meim Erschde Beigeordnete, em X"
    r"|(?:\w+\s+)?(?:\w*beigeordnete[nr]?|\w*kämmerer|\w*kämmerin|\w*leiter(?:in)?)"
    r",?\s+(?:der|de|dr|em|dem)"
    r"|herren|damen)\s+)(?=[A-ZÄÖÜ])"  # "die Herren X und Y"
)
_GREETING = re.compile(r"(?i)(?:geehrte[rs]?|liebe[rs]?|hallo|hi|dear|guten\s+tag|moin|servus)\s*$")
_VERB = re.compile(
    r"(?i)anmeld|angemeldet|\bmelde|teilnahm|teilnehm|\bteil\b|abmeld|absag|\bsagt\b|storn"
    r"|streich|register|registrier|attend|cancel|particip|begleit|dabei|\bkomm|verhindert|eintragen"
    r"|\bnehmen\b|\bnimmt\b|signup|sign up|wahrnehm|erkrankt|\bbook|reserv|annimmt|annehm"
    r"|vertret|vertritt|vormerk|\bmerken\b|\bkemm|\bkumm|inscri|particip"
    r"|\bnotier|\bkäme|accompan"
    # "Frau X kann am 9. September leider nicht": a cancellation's verb (in a registration the
    # clause is dropped as cancelling, see mentions())
    r"|\bleider\s+nicht\b"
    r"|\bkütt\b|\bdobei\b"  # Kölsch "kütt och met", "ich ben dobei"
)
_CANCEL = re.compile(
    r"(?i)\b(?:ist|sind)\b[^.,]{0,40}\bleider\b|afmell|afmeld|abmeld|absag|\bsagt\b.*\bab\b|storn|streich|cancel|withdraw|verhindert|nicht\s+(?:teil|komm)"
    r"|zurück(?:nehm|zieh|genommen|gezogen)|nicht\s+wahrnehm|erkrankt"
    r"|doch nicht|leider nicht|can(?:no|')t\s+(?:attend|come|make)|\bkomm\w*\s+nicht\b"
    r"|\b(?:kann|können|könnte|wird|werden)\b(?:[^.]|(?<=\d)\.){0,60}\bnicht\b[^.]{0,40}"
    r"\b(?:teilnehmen|kommen"
    r"|dabei sein)\b"
)
_SELF = re.compile(
    r"(?i)\b(?:mich|uns|wir|myself|me|und ich|sowie ich|and i|ich selbst|und mir|and me|ich und"
    r"|ich sowie"
    # dialect: "i selber", "mir kommet" (Swabian "wir kommen")
    r"|(?:i|ich|isch) (?:selber|selbscht|sölbst|selwer|selbst)"
    r"|(?:mir|mia) (?:kommet|kommed|kemmet|kemma|kumma|kumme|komme)"
    r"|(?:meine|unsere|my|our)\s+(?:teilnahme|anmeldung|zusage|registration|attendance|place|booking)"
    r"|ich\s+(?:nehme|komme|bin|ben)|(?:nehme|komme)\s+ich|(?:isch|i)\s+(?:komm|kumm)e?\b"
    r"|ich\s+(?:würde|möchte|werde|will)\b(?:[^.!?]|(?<=\d)\.){0,60}\b(?:teilnehmen|kommen"
    r"|dabei sein)"
    r"|i\s+(?:will|am|shall"
    r"|would|'d|'ll)\b[^.]{0,30}\b(?:attend|join|come|register for|participate)|count me)\b"
)


# "Neben mir nehmen Herr X und Frau Y teil", "together with me": the writer comes too.
_SELF_BESIDES = re.compile(
    r"(?i)\b(?:neben|außer|zusammen mit|gemeinsam mit)\s+mir\b|\b(?:together|along) with me\b"
    r"|\bbesides me\b"
)


# An office's "we" asks or regrets on someone else's behalf ("Wir bitten, seine Anmeldung zu
# stornieren"); it does not include the writer among the attendees.
_OFFICE_WE = re.compile(
    r"(?i)\b(?:wir\s+(?:bitten|bedauern|danken|freuen\s+uns)|(?:bitten|bedauern|danken)\s+wir)\b"
    # "melden wir aus dem Büro der Oberbürgermeisterin an": we register others, not "uns".
    r"|\b(?:wir\s+melden|melden\s+wir)\b(?![^.!?]*\buns\b)"
    # "müssen wir die Anmeldungen von Frau X und Herrn Y zurückziehen": theirs, not ours.
    r"|\bwir\b(?=[^.!?]{0,40}\b(?:die|seine|ihre|deren)\s+(?:anmeldung|teilnahme|zusage)(?:en)?"
    r"\s+(?:von|für)\s)(?![^.!?]*\b(?:uns|unsere)\b)"
    # "wir möchten folgende Kollegen anmelden:", "müssen wir folgende Personen abmelden:"
    r"|\bwir\b(?=[^.!?:]{0,40}\b(?:folgende|die folgenden)\s+(?:personen|kolleg\w*|teilnehm\w*"
    r"|mitarbeit\w*|damen|herren)\b[^.!?:]{0,30}\b(?:an|ab)melden\b)(?![^.!?]*\b(?:uns|unsere)\b)"
    r"|\b(?:folgende|die folgenden)\s+(?:personen|kolleg\w*|teilnehm\w*|mitarbeit\w*|damen"
    r"|herren)\b[^.!?:]{0,40}\bwir\b(?![^.!?]*\b(?:uns|unsere)\b)"
    # "müssen wir die Anmeldungen von Frau X und Herrn Y zurückziehen": others' registrations.
    r"|\bwir\b(?=[^.!?]*\b(?:anmeldung(?:en)?|teilnahme|registrierung(?:en)?|zusage)\s+"
    r"(?:von|für|des|der)\s+(?!uns\b|mir\b|mich\b|unsere\s+beiden\b)\w)"
    # "möchten wir aus unserem Bereich zwei Teilnehmer anmelden": whom we register, not us
    r"|\bwir\b(?=[^.!?:]{0,80}\b(?:zwei|drei|vier|fünf|sechs|\d)\s+(?:teilnehm\w*|personen"
    r"|kolleg\w*|mitarbeit\w*)\b[^.!?:]{0,30}\b(?:an|nach)melden\b)(?![^.!?]*\b(?:uns|mich)\b)"
    # "möchten wir noch unsere Kollegin Frau X anmelden": the office registers her, not itself
    r"|\bwir\b(?=[^.!?]{0,40}\b(?:unsere[nmr]?|die|den)\s+(?:\w+\s+)?(?:kolleg\w*|mitarbeit\w*"
    r"|chef\w*|leiter\w*)\b(?:[^.!?]|\.(?=\w)){0,140}\b(?:an|nach)melden\b)"
    r"(?![^.!?]*\b(?:uns|mich)\b)"
    # "Eine Vertretung können wir leider nicht entsenden": the office, not the writer
    r"|\b(?:eine[nr]?|keine[nr]?)\s+(?:vertretung|ersatzperson|ersatz)\b[^.!?]{0,40}\bwir\b"
    r"|\bwir\b[^.!?]{0,40}\b(?:eine[nr]?|keine[nr]?)\s+(?:vertretung|ersatzperson|ersatz)\b"
    # "Frau X, die bei uns die Förderdarlehen betreut": where she works, not who comes
    r"|\b(?:bei|an|in)\s+uns(?:erem|erer)?\b(?!\s+(?:beide|zwei|drei)\b)"
)
# "Ich selbst … komme nicht mit": the writer says they are not among the people registered.
_NOT_ME = re.compile(
    r"(?i)\b(?:ich selbst|ich persönlich|i myself)\b(?:[^.!?]|(?<=\d)\.)*\b(?:nicht|not|kein\w*"
    r"|verhindert|unable)\b"
    r"|\bich\s+(?:komme|nehme|bin)\b[^.!?]{0,30}\bnicht\b|\bohne mich\b"
    r"|\b(?:komme|nehme)\s+ich\b[^.!?]{0,30}\bnicht\b"
    r"|\b(?:kann|könnte|werde)\s+ich\b[^.!?]{0,50}\bnicht\b|\bübertrag\w*\b|\bumschreiben\b"
    r"|\btransfer (?:my|our)\b"
    r"|\bi\s+(?:will|shall|can)\s*(?:not|n't)\b[^.!?]{0,20}\b(?:attend|come|join)"
)
# "Mein Kollege bleibt wie angemeldet dabei": named in a cancellation, but not cancelled.
_STAYS = re.compile(
    r"(?i)\bbleib\w*\b[^.!?]{0,40}\b(?:angemeldet|dabei|bestehen|unberührt|gültig|erhalten"
    r"|aufrecht(?:erhalten)?|unverändert)\b"
    r"|\b(?:is|remains|stays)\s+(?:unchanged|unaffected|valid)\b"
    r"|\b(?:kommt|nimmt)\b[^.!?]{0,30}\b(?:trotzdem|weiterhin|wie geplant)\b"
    r"|\b(?:komm\w*|nehm\w*)\b[^.!?]{0,30}\bwie\s+(?:angemeldet|geplant|vorgesehen)\b"
    r"|\b(?:will|does) still (?:attend|come)\b|\bremains? registered\b"
)


# "statt Herrn X", "statt unserer Kollegin Frau X", "instead of our treasurer Mr X": X is replaced
_REPLACED = re.compile(r"(?i)\b(?:statt|anstatt|anstelle von|an stelle von|instead of|in place of"
                       r"|replacing|nachfolgend auf)"
                       # "Statt meiner kommt Frau X": X is the newcomer, not the one replaced
                       r"(?:\s+(?!(?:kommt|nimmt|wird|kommen|nehmen|werden|will|comes|attends)\b)"
                       r"[^\s,;:.!?()]+){0,3}?\s*$")  # fmt: skip
# "statt unserer Kollegin Frau X", "anstelle meines Stellvertreters Herrn Y": replaced too.
_REPLACED_COLLEAGUE = re.compile(
    r"(?i)\b(?:statt|anstatt|anstelle|an stelle|instead of|in place of|replacing)\s+"
    r"(?:unsere[rsmn]?|meine[rsmn]?|des|der|our|my)\s+"
    r"(?:(?!(?:kommt|nimmt|wird|kommen|nehmen|werden|will|comes|attends)\b)[\w-]+\s+){1,2}$"
)
# "sie melden sich aber selbst", "he will contact you himself": named, but not registered here.
_ON_THEIR_OWN = re.compile(
    r"(?i)\bmelde[tn]?\s+sich\s+(?:[a-zäöü]+\s+){0,3}(?<!\bich\s)selbst\b"
    r"|\bsich\s+(?:[a-zäöü]+\s+){0,2}(?<!\bich\s)selbst\s+(?:an)?(?:melden|wenden)\b"
    r"|\b(?:will|would|can|may)\s+(?:contact|write to|register with)\s+you\s+"
    r"(?:him|her|them)sel(?:f|ves)\b|\bregister\s+(?:him|her|them)sel(?:f|ves)\b"
    # a maybe: "may be interested in attending", "hätte vielleicht auch Interesse"
    r"|\b(?:may|might|could)\s+be\s+interested\b"
    r"|\b(?:hätte|hat|haben|hätten)\s+(?:eventuell|vielleicht|ggf\.|möglicherweise)\s+"
    r"(?:auch\s+)?interesse\b"
)
# The writer says their own registration stands ("Ich selbst komme wie geplant", "Meine
# Anmeldung bleibt bestehen"): in a cancellation they are not among those cancelled.
_FIRST_PERSON = re.compile(r"(?i)\b(?:ich|meine|mich|mir|i|my|me)\b")
_WAS_REGISTERED = re.compile(
    r"(?i)\b(?:hatte|hatten|habe|haben|hat|war|waren)\b[^.!?]{0,60}\bangemeldet\b"
    # "ich selbst bin über den Verband bereits angemeldet"
    r"|\b(?:bin|sind)\b[^.!?]{0,60}\b(?:bereits|schon)\b[^.!?]{0,40}\bangemeldet\b"
    r"|\bangemeldet\s+(?:hatte|hatten|habe|haben|hat|war|waren)\b"  # "…, die wir angemeldet hatten"
)
# Someone else already registered ("Herr X ist bei Ihnen bereits angemeldet"), in a sentence
# that registers nobody new (no "anmelden", "kommt", "nimmt … teil" besides).
_ALREADY = re.compile(
    r"(?i)\b(?:ist|sind|war|waren)\b(?:[^.!?]|(?<=\d)\.){0,60}\b(?:(?:bereits|schon)\s+"
    r"(?:\w+\s+)?)?(?:angemeldet|registriert)\b"
    # "vielen Dank für die Bestätigung der Anmeldung von Herrn X": X is registered already
    r"|\bbestätigung\s+(?:der|ihrer|unserer|seiner)?\s*(?:anmeldung|teilnahme|registrierung)\b"
)


def _registered_before(text: str) -> bool:
    """Someone named is registered already and nobody new is added in the same words."""
    return bool(
        (_ALREADY.search(text) or _WAS_REGISTERED.search(text))
        and not (_ANOTHER.search(text) and not _CANCEL.search(text))
    )


_ANOTHER = re.compile(
    r"(?i)\b(?:anmelden|melde[nt]?|nachmelden|kommt|kommen|nimmt|nehmen|begleite\w*|auch"
    r"|teilnehm\w*|wird|werden|dabei)\b"
)
_ADDRESS_LINE = re.compile(r"\s*(?:E-?Mail:\s*)?<?\s*(" + _EMAIL.pattern + r")\s*>?\s*", re.I)
_BUT = re.compile(r"(?i),?\s+(?:aber|but|jedoch|dafür|stattdessen|instead)\b")
# Where a sentence about two people turns to the next: a dash, a semicolon, or a comma before a
# new subject ("Herr X muss absagen, ich komme aber wie geplant").
_CLAUSE_BREAK = re.compile(r"(?i)\s+[–—-]\s+|;\s*|,\s+(?=(?:ich|wir|er|sie|i|we|he|she)\s)")


def _clauses(sentence: str) -> list[str]:
    return [c for c in _CLAUSE_BREAK.split(sentence) if c.strip()]


_FOR_ME = re.compile(r"(?i)\b(?:für|for)\s+(?:mich|me|uns|us|myself)\b")
# Where the confirmation goes ("senden Sie die Bestätigungen an mich") is not who attends.
_MAIL_TO_ME = re.compile(
    r"(?i)\b(?:an|to)\s+(?:mich|uns|me|us)\b|\bfür uns\b(?!\s+beide)"
    r"|\b(?:mit\s+)?(?:mich|uns|me|us)\s+in\s+(?:kopie|cc)\b|\bcc\s+(?:me|us)\b"
    r"|\büber\s+(?:uns|mich)\b"
)


@dataclass(frozen=True)
class Mention:
    person: PersonName
    email: str | None = None
    organisation: str | None = None
    function: str | None = None
    source: str = "text"


_LOWER_IN_NAME = frozenset(
    "von van vom zu zum der de den di da op ten ter rer. pol. nat. med. phil. h. c. h.c. jur. oec."
    " theol. paed. habil. sc. dent. vet. iur.".split()
)


_EVENTS = ("forum", "tagung", "tag", "symposium", "veranstaltung", "konferenz", "treffen",
           "workshop", "seminar", "kongress", "conference", "meeting")  # fmt: skip
_PARTICLE_END = frozenset("von vom van der den de zu zum zur".split())
_NOUN_AFTER_VON = frozenset(
    "Liste Teilnehmerliste Tagung Fachtagung Veranstaltung Anmeldung Konferenz Symposium Stadt"
    " Gemeinde Kreis Landkreis Verwaltung Kämmerei Stadtwerke Universität Hochschule".split()
)


# Endings of the nouns that name a unit or a body, not a family ("vom Beteiligungsmanagement").
_UNIT_NOUN = re.compile(
    r"(?i)(?:ung|ment|amt|ämter|heit|keit|schaft|tion|ion|ei|referat|bereich|büro|team|dezernat"
    r"|stelle|wesen|abteilung|verwaltung|werke?|verband|kreis|rat|ressort|zentrum|institut|dienst"
    r"|kämmerei|gericht|ministerium|behörde|direktion|sektor)$"
)


def _body_after_particle(words: list[str]) -> int:
    """Index of the "von"/"vom" that starts a body's name ("Maria Ufer von der Sächsischen
    Energieagentur"), else len(words); "von der Leyen" and "vom Stein" are family names."""
    for k, word in enumerate(words):
        if not k or word.lower() not in ("von", "vom", "aus"):
            continue
        window = words[k + 1 : k + 5]
        stop = next((i for i, w in enumerate(window) if w.lower() in ("von", "vom")), len(window))
        window = window[:stop]
        if len(window) > 1 and _BODY.search(" ".join(window)):
            return k
    return len(words)


def _take_person(text: str, with_salutation: bool) -> tuple[PersonName | None, int]:
    """The longest name at the start of text; returns (person, characters consumed)."""
    tokens = list(re.finditer(r"[^\s,;:()<>\"]+", text[:200]))
    stop = len(tokens)
    for i, tok in enumerate(tokens):
        word = tok.group(0)
        gap = text[tokens[i - 1].end() : tok.start()] if i else ""
        if i and re.search(r"[,;:()<>\"\n]", gap):
            stop = i
            break
        if i >= 9 or (word[:1].islower() and word not in _LOWER_IN_NAME):
            stop = i
            break
    body_at = _body_after_particle([t.group(0) for t in tokens[:stop]])
    for n in range(stop, 0, -1):
        chunk = text[: tokens[n - 1].end()].rstrip(".")
        if chunk.endswith(("Dr", "Prof")):
            continue
        last = tokens[n - 1].group(0)
        after_particle = n > 1 and tokens[n - 2].group(0).lower() in _PARTICLE_END
        if n > body_at:
            continue  # "Herrn X vom Zweckverband Elbe": a body after "vom", not a family name
        if (
            last.lower() in _PARTICLE_END
            or last in _NOUN_AFTER_VON
            or last.lower().endswith(_EVENTS)
            # "Frau X vom Beteiligungsmanagement", "Herr Y von der Kämmerei": a unit, no name
            or (after_particle and len(last) > 7 and _UNIT_NOUN.search(last.rstrip(".")))
        ):
            continue  # "Frau Vera Lind von der Liste": "von der" starts no name here
        person = parse_person(chunk, min_tokens=1 if with_salutation else 2)
        if person:
            return person, tokens[n - 1].end()
    return None, 0


def mentions(main: str, cancelling: bool = False) -> list[Mention]:
    """People registered (or cancelled) in the text: list items and named people next to a verb."""
    found: list[Mention] = []
    in_list = False  # lines after "Es nehmen teil:" are a list even without bullets
    last_was_item = just_listed = False
    lines = main.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^\s*(?:\d{1,2}[.)]|[-*•–—·])\s+(.+)$", line)
        below = lines[i + 1] if i + 1 < len(lines) else ""
        if not m and _ADDRESS_LINE.fullmatch(below) and not _EMAIL.search(line) and line.strip():
            # "Hinrich op de Hipt, Sachgebietsleiter\nh.opdehipt@…": a person over an address
            first = line.split(",")[0]
            if parse_person(first) and not _VERB.search(line):
                m = re.match(r"^\s*(.+)$", line)
        # An unbulleted "Name, Funktion, address" line is an entry; a paragraph of several
        # sentences with an address somewhere is prose, read sentence by sentence below.
        entry = _EMAIL.search(line) and "," in line and len(sentences(line)) == 1
        item = m.group(1) if m else line if entry else None
        alone = _ADDRESS_LINE.fullmatch(line)
        if alone and found and found[-1].email is None and last_was_item:
            # "Prof. Dr. X\nx@uni.example": the address on its own line under the name
            found[-1] = replace(found[-1], email=alone.group(1).lower())
            last_was_item = False
            just_listed = True
            continue
        if item is None and in_list and line.strip():
            item = line.strip()
        last_was_item = False
        if item:
            mention = _item(item)
            if mention:
                found.append(mention)
                last_was_item = just_listed = True
        if not line.strip():
            # A blank line between list entries ("Name\naddress\n\nName\naddress") goes on.
            in_list = in_list and just_listed
            just_listed = False
        elif line.rstrip().endswith(":") and _VERB.search(line):
            in_list = just_listed = True  # a blank line may follow the intro
    listed = {x.person.name for x in found}
    sents = sentences(main)
    for i, sent in enumerate(sents):
        if _STAYS.search(sent) or _ON_THEIR_OWN.search(sent):
            # "Herr X muss leider absagen, ich komme aber wie geplant": only the clause that
            # says who stays is left out
            sent = " ".join(
                c for c in _clauses(sent) if not (_STAYS.search(c) or _ON_THEIR_OWN.search(c))
            )
            if not sent.strip() or _STAYS.search(sent) or _ON_THEIR_OWN.search(sent):
                continue
        if cancelling and not _CANCEL.search(sent) and _WAS_REGISTERED.search(sent):
            continue  # "wir hatten uns zu zweit angemeldet, Frau X und ich": history, not who
        if not cancelling:
            # "mein Kollege X hat sich schon angemeldet, ich möchte mich ebenfalls anmelden":
            # the clause about X is history; the rest of the sentence still counts
            kept = [c for c in _clauses(sent) if not _registered_before(c)]
            sent = sent if len(kept) == len(_clauses(sent)) else " ".join(kept)
        if not cancelling and (not sent.strip() or _registered_before(sent)):
            continue  # "Herr X ist bereits angemeldet, muss aber passen": not registered anew
        if not cancelling and _CANCEL.search(sent):
            # "Ich selbst bin verhindert, aber unsere Kämmerin Frau X kommt": keep the clauses
            # that do not cancel; a name in a cancelling clause is not registered here.
            clauses = _BUT.split(sent)
            sent = " ".join(c for c in clauses if not _CANCEL.search(c))
            if not sent.strip():
                continue
        verb_here = bool(_VERB.search(sent)) or (
            # "melde ich an:\n\nHerrn X sowie Frau Y": the list's verb ends the paragraph before
            i > 0 and sents[i - 1].rstrip().endswith(":") and bool(_VERB.search(sents[i - 1]))
        )
        # "Could you book two places? One for me and one for my colleague X": the verb may be
        # in the sentence before, for a colleague named with an address.
        verb_before = i > 0 and bool(_VERB.search(sents[i - 1]))
        if not (verb_here or verb_before):
            continue
        pos = 0
        while (m := _MENTION_START.search(sent, pos)) is not None:
            pos = m.end() + 1
            if _GREETING.search(sent[max(0, m.start() - 20) : m.start()]):
                continue
            before = sent[max(0, m.start() - 60) : m.start()]
            if _REPLACED.search(before) or _REPLACED_COLLEAGUE.search(before[-50:]):
                continue  # "statt Herrn X, … wird Herr Y teilnehmen": X is replaced
            colleague = m.group("colleague")
            if not verb_here and not colleague:
                continue
            start = m.end() if colleague else m.start()
            person, used = _take_person(
                sent[start:], with_salutation=bool(m.group(0)) and not colleague
            )
            if person is None:
                continue
            end = start + used
            pos = end
            if person.name in listed:
                continue
            if not re.match(r"(?:Herrn?|Frau|Mrs?|Ms)\b", m.group(0)) and re.match(
                r"\s*,\s*(?:Herrn?|Frau)\s", sent[end:]
            ):
                # "unser Abteilungsleiter Kommunale Infrastruktur, Herr X": the words after the
                # office name the unit; the person is the one the salutation introduces.
                continue
            if re.match(
                r"(?i)\s*(?:(?:am telefon|telefonisch|persönlich|per e-?mail|kurz)\s+)?"
                r"(?:gewünscht|gebeten|erbeten|angeregt|vorgeschlagen|beauftragt|asked|vereinbart"
                r"|abgesprochen|besprochen)\b",
                sent[end:],
            ):
                continue  # "wie von Herrn Kreisdirektor X gewünscht": who asked, not who comes
            if re.search(r"(?i)\b(?:für|for)\s*$", before) and re.match(
                r"(?i)\s*(?:kommt|nimmt|wird|comes|will)\b", sent[end:]
            ):
                continue  # "Für Herrn Dr. X kommt Frau Y": X is replaced by Y

            email = None
            # "Herrn X von den Stadtwerken Pirna": the body named right after the person
            gap = len(sent[end:]) - len(sent[end:].lstrip(" ,"))
            at = _ORG_PHRASE_ANY.match(sent, end + gap)
            at = at if at and not at.group(0).startswith("für") else None
            own_org = _org_of_phrase(at) if at else _org_beside(sent[end:])
            # "(x@…)", "<x@…>", "(Mail: x@…)", "(E-Mail x@…)"; "Irina Wójcik-Schmid, B.A.
            # (irina.wojcik@…)": a short degree may come between.
            em = re.match(
                r"(?i)(?:,\s*[^,()<>]{1,12}?)?\s*(?:[(<]|[–—]\s)\s*(?:(?:e-?)?mail\s*:?\s*)?("
                + _EMAIL.pattern
                + r")\s*(?:[)>]|\s[–—]|[–—]?\s*$)",
                sent[end:],
            )
            if em:
                email = em.group(1).lower()
            elif not verb_here:
                continue
            found.append(Mention(person, email, own_org))
            for more in _chained_names(sent, end):  # "meine Kollegen X, Y und Z"
                if more.person.name not in listed:
                    found.append(more)
        if verb_here:
            found.extend(m for m in _listed_after_colon(sent) if m.person.name not in listed)
        # "… sowie unsere Senior Managerin Irina Wójcik-Schmid, B.A. (irina.wojcik@…)": a name
        # right before an address in brackets is a person, whatever office words precede it.
        for em in [] if _CONTACT_FOR.search(sent) else _BRACKET_ADDR.finditer(sent):
            addr = em.group(1).lower()
            if any(x.email == addr for x in found):
                continue
            person = _name_before(sent[: em.start()], addr)
            if person is None or any(same_person(x.person.name, person.name) for x in found):
                continue
            found.append(Mention(person, addr))

    # Keep the order of the mail: list items are collected before names in sentences.
    def where(mention: Mention) -> int:
        at = main.find(mention.person.tokens[-1]) if mention.person.tokens else -1
        return at if at >= 0 else len(main)

    if cancelling:
        # "… Frau Dr. X kommt wie geplant": whoever stays is not cancelled, wherever named.
        # The clause that says so ("…, aber Herr Y bleibt angemeldet"), else the whole sentence
        # ("Herr Demir nimmt aber weiterhin teil", where "aber" splits the phrase).
        staying = [
            c
            for x in sents
            for c in (
                [c for c in _clauses(x) if _STAYS.search(c)]
                or [c for c in _BUT.split(x) if _STAYS.search(c)]
                or [x] * bool(_STAYS.search(x))
            )
        ]
        found = [
            f for f in found
            if not any(re.search(rf"\b{re.escape(f.person.tokens[-1])}\b", x) for x in staying)
        ]  # fmt: skip
    return sorted(_dedupe([_completed(f, main) for f in found]), key=where)


def _completed(mention: Mention, main: str) -> Mention:
    """ "Frau Kessler" named in full elsewhere in the writer's own text ("meine Kollegin Jasmin
    Kessler und ich"): the full name, so the desk finds the registration it cancels."""
    if len(mention.person.tokens) != 1:
        return mention
    family = re.escape(mention.person.tokens[0])
    for m in re.finditer(rf"(?<![\w-])[A-ZÄÖÜ][\w'-]+\s+{family}\b", main):
        full = parse_person(m.group(0))  # the given name right before: no office or noun
        if full and len(full.tokens) == 2 and full.tokens[-1] == mention.person.tokens[0]:
            title = mention.person.title or full.title
            return replace(mention, person=replace(mention.person, name=full.name, title=title))
    return mention


# After a person named in a sentence: ", Y" / "und Y" / "sowie Y", a further name without
# a salutation (one with "Herrn"/"Frau"/"Dr." is found on its own).
_NEXT_IN_LIST = re.compile(
    r"(?:\s*[(<][^()<>]{0,120}[)>])?\s*(?:,\s*(?:und\s+|sowie\s+)?|\s+(?:und|sowie|and)\s+)"
    r"(?!(?:Herrn?|Frau|Dr\.|Prof\.|Mrs?\.?|Ms\.?)\s)(?=[A-ZÄÖÜ])"
)


def _chained_names(sent: str, end: int) -> list[Mention]:
    """ "meine Kolleginnen Maria Ufer und Eva Rau", "Frau X, Y Z und W V": the names that
    follow a person in the same list, each with its address in parentheses if written."""
    out: list[Mention] = []
    while (nxt := _NEXT_IN_LIST.match(sent, end)) is not None:
        rest = sent[nxt.end() :]
        person, used = _take_person(rest, with_salutation=False)
        tail = re.match(r"(?:\s+(?:[A-ZÄÖÜ&][\w.&/-]*|e\.\s?V\.|eG|mbH|gGmbH))*", rest[used:])
        segment = rest[:used] + (tail.group(0) if tail else "")
        if person is None or part_kind(segment) != "person":
            break  # "…, Kraft Kommunalberatung GmbH": a body, not a further person
        end = nxt.end() + used
        em = re.match(r"\s*[(<]\s*(?:E-?Mail:\s*)?(" + _EMAIL.pattern + r")\s*[)>]", sent[end:])
        out.append(Mention(person, em.group(1).lower() if em else None))
    return out


_SELF_ITEM_LINE = re.compile(
    r"(?i)^\s*(?:(?:[-*•–·]|\d{1,2}[.)])\s*(?:und\s+|sowie\s+)?|(?:und|sowie)\s+)(?:mich|ich)"
    r"(?:\s+selbst)?\s*(?:[,.(]|$)"
)
_LIST_INTRO = re.compile(r":|,?\s+(?:nämlich|und zwar|namely)\s+")
# The writer as a list item, also in dialect ("isch selwer", "i selber").
_SELF_ITEM = re.compile(
    r"(?i)^(?:ich|mich|meine wenigkeit|myself|me|i|isch)"
    r"(?:\s+(?:selbst|selber|selwer|selbscht|sölbst))?$"
)
# Dialect "un"/"unn" ("isch un de Georg") joins a list like "und".
_LIST_SEP = re.compile(r",\s*|\s+(?:und|un|unn|sowie|and|as well as|&)\s+")
# "mei Kämmerer, der Bernd X", "unsern Kassenverwalter, de Georg Y", "de Bernd Z": an office
# and an article before a name (southern and western dialects put the article before names).
_ROLE_THEN_NAME = re.compile(
    r"(?i:\b(?:mein(?:e[nmr]?)?|mei|minge|unser(?:e[nmr]?)?|unsern|unsre)\s+)"
    r"(?:[a-zäöüß]+\s+)?[A-ZÄÖÜ][a-zäöüß]+,?\s+(?i:der|die|de|dr|d')\s+"
    r"(?=[A-ZÄÖÜ][a-zäöüß]+\s+[A-ZÄÖÜ])"
)
_OWN_ROLE = re.compile(
    r"^(?i:mein(?:e[nmr]?)?|unser(?:e[nmr]?)?)\s+(?:[a-zäöüß]+\s+)?[A-ZÄÖÜ][a-zäöüß]+\s+"
    r"(?=(?:Herrn?|Frau|Dr\.|Prof\.)\s|[A-ZÄÖÜ][\w'-]+\s+[A-ZÄÖÜ][\w'-]+(?:\s|$))"
)
_ARTICLE_NAME = re.compile(
    r"^(?i:der|die|de|dr|d')\s+(?:(?i:kolle\w*|chef\w*|nachbar\w*)\s+)?"
    r"(?=[A-ZÄÖÜ][a-zäöüß]+\s+[A-ZÄÖÜ])"
)


def _listed_after_colon(sent: str) -> list[Mention]:
    """ "Wir kommen zu dritt: ich selbst, Anna Roth und Dr. Udo Kern.": people listed in prose
    after a colon, without salutations. Every item must be a name (an address in parentheses
    or a lower-case remark may follow) or the writer; otherwise it is no list of people."""
    intro = _LIST_INTRO.search(sent)
    head, tail = (sent[: intro.start()], sent[intro.end() :]) if intro else (sent, "")
    if not intro or not _VERB.search(head) or re.search(r"(?i)mail\s*$", head):
        return []
    tail = _ROLE_THEN_NAME.sub("", tail)
    chunks = [c.strip(" .;") for c in _LIST_SEP.split(tail) if c.strip(" .;")]
    if len(chunks) < 2:
        return []
    out: list[Mention] = []
    for chunk in chunks:
        # "meine Stellvertreterin Frau X": the relation and office before a salutation or title
        chunk = _OWN_ROLE.sub("", chunk)
        if out and re.match(r"(?:der|die|das|den|dem|wo|who|which)\b", chunk):
            break  # "…, der wo bei uns für die Straßen zuständig ist": a remark, not a person
        chunk = _ARTICLE_NAME.sub("", chunk)
        if _SELF_ITEM.match(chunk):
            continue
        salutation = bool(re.match(r"(?:Herrn?|Frau)\s", chunk))
        person, used = _take_person(chunk, with_salutation=salutation)
        rest = chunk[used:].strip() if person else ""
        if person is None or (rest and not (rest[0] in "(<–—" or rest[0].islower())):
            return []
        # "Anna Roth (a.roth@…)", "Anna Roth – a.roth@… – aus dem Bauamt"
        em = re.match(
            r"(?i)(?:[(<]|[–—]\s)\s*(?:(?:e-?)?mail\s*:?\s*)?("
            + _EMAIL.pattern
            + r")\s*(?:[)>]|[–—]|$)",
            rest,
        )
        at = _ORG_PHRASE_ANY.match(rest)  # "Bernd X vom Zweckverband Y": the item's own body
        org = _org_of_phrase(at) if at else None
        out.append(Mention(person, em.group(1).lower() if em else None, org))
    # "Wir melden uns an: Wärmeplanung Konvoi und Fördermittel Bund" lists no people: the head
    # must count people, or the writer be among them, or every name carry a title or address.
    writer = any(_SELF_ITEM.match(c) for c in chunks)
    counted = bool(_PEOPLE_HEAD.search(head))
    marked = all(m.email or m.person.title or m.person.salutation for m in out)
    return out if writer or counted or marked else []


_PEOPLE_HEAD = re.compile(
    r"(?i)\bzu\s+(?:zweit|zwett|zweid|zwoit|zwoat|dritt|viert|fünft|sechst)|\b(?:zwei|drei|vier|fünf|two|three|four"
    r"|five|\d)\s+(?:personen|teilnehmer\w*|kolleg\w*|people|persons|colleagues|studierende"
    r"|student\w*|mitarbeiter\w*|auszubildende|azubis|gäste|guests|doktorand\w*)\b|\bfolgende"
    r"|\bkolleg|\bcolleague|\bteilnehmer|\bperson|\bpeople"
)


# Whom to ask or bill ("Rückfragen an Kai Ott (k.ott@…)") is not an attendee.
_CONTACT_FOR = re.compile(
    r"(?i)rückfrage|erreichen sie|ansprech|kontaktperson|zuständig|rechnung|invoice|questions"
    r"|contact person|bestätigung\w* (?:bitte )?an\b"
)
_BRACKET_ADDR = re.compile(r"(?i)[(<]\s*(?:(?:e-?)?mail\s*:?\s*)?(" + _EMAIL.pattern + r")\s*[)>]")
_TRAILING_DEGREES = re.compile(
    r"(?:,?\s*(?:[A-Z][a-z]{0,3}\.\s?){1,3}|,?\s*(?:MBA|MPA|MPP|PhD|LL\.\s?M\.))\s*$"
)
_NAME_START_WORD = re.compile(r"^(?:Herrn?|Frau|Dr\.|Prof\.|Mr\.?|Ms\.?|Mrs\.?)$")


def _name_before(prefix: str, address: str) -> PersonName | None:
    """The person named just before an address in brackets: the capitalised words after the last
    comma or clause word, from the word the address's local part spells (else the last two)."""
    prefix = _TRAILING_DEGREES.sub("", prefix.rstrip())
    tail = re.split(r"[,;:()<>\"]", prefix)[-1]
    run: list[str] = []
    for word in reversed(tail.split()):
        if word[:1].isupper() or word in _PARTICLE_END or _NAME_START_WORD.match(word):
            run.insert(0, word)
            if len(run) >= 6:
                break
        else:
            break
    if len(run) < 2:
        return None
    local = address.split("@")[0]
    start = next(
        (
            i
            for i, w in enumerate(run)
            if len(w) > 2 and not w.endswith(".") and _in_local(w, local)
        ),
        None,
    )
    if start is None:
        start = max(0, len(run) - 2) if len(run) > 3 else 0
    while start > 0 and _NAME_START_WORD.match(run[start - 1]):
        start -= 1  # keep "Dr." and "Frau" with the name
    chunk = run[start:]
    if len([w for w in chunk if not _NAME_START_WORD.match(w)]) < 2:
        return None
    return parse_person(" ".join(chunk))


def _item(item: str) -> Mention | None:
    emails = _EMAIL.findall(item)
    text = _EMAIL.sub("", item)
    text = re.sub(r"[(<]\s*[)>]", "", text)
    # "Birte Ohlendorf (Leiterin Haushalt) <b.o@…>": the parenthesis says what she does
    noted = [n.strip() for n in re.findall(r"\(([^()]{2,80})\)", text)]
    text = re.sub(r"\s*\([^()]{2,80}\)", "", text).strip(" ,;–—·|-")
    # "… –\nund Herrn Dr. Udo Kern.": the last entry of a list written as a sentence
    text = re.sub(r"^(?:und|sowie|and|as well as)\s+", "", text)
    text = re.sub(r"(?<=[a-zäöüß]{3})\.$", "", text)
    parts = [p.strip(" –—·|") for p in re.split(r",\s*|\s+[–—·|]\s+", text) if p.strip(" –—·|")]
    if not parts:
        return None
    person = parse_person(parts[0])
    if person is None and len(parts) > 1 and parse_person(parts[0], min_tokens=1):
        # "Leberecht, Tilo – …", "Nowak-Schindler, Dr. Grit": family name first
        given = parse_person(parts[1], min_tokens=1)
        family = parse_person(parts[0], min_tokens=1)
        if given and family and len(given.tokens) == 1 and len(family.tokens) <= 2:
            title = " ".join(t for t in (family.title, given.title) if t)
            person = parse_person(f"{title} {given.name} {family.name}".strip())
            parts = parts[1:]
    if person is None:
        return None
    org: str | None = None
    function = person.function
    for part in [*parts[1:], *noted]:
        kind = part_kind(part)
        if kind == "org" and org is None:
            org = organisation_of(part)[0]
        elif function is None and kind in ("function", "other", "dept"):
            function = part
    return Mention(person, emails[0].lower() if emails else None, org, function, "list")


def _dedupe(found: list[Mention]) -> list[Mention]:
    out: list[Mention] = []
    for mention in found:
        twin = next((x for x in out if same_person(x.person.name, mention.person.name)), None)
        if twin is None:
            twin = next((x for x in out if mention.email and x.email == mention.email), None)
            if twin is None:
                out.append(mention)
            elif _fits_address(mention) and not _fits_address(twin):
                # "die Leiterin unserer Kläranlage X, Frau Dr. Y (y@…)": one address, one
                # person; the name the address spells wins over the words before it.
                out[out.index(twin)] = mention
        elif len(mention.person.tokens) > len(twin.person.tokens):
            out[out.index(twin)] = mention
    return out


def _fits_address(mention: Mention) -> bool:
    """The address's local part spells a word of the name ("i.petrescu@" for Ioana Petrescu)."""
    local = fold(mention.email.split("@")[0]) if mention.email else ""
    return any(len(w) > 2 and fold(w) in local for w in mention.person.name.split())


# --- the sender ---------------------------------------------------------------------------

_ANGLE_ADDR = re.compile(r"<\s*([^<>\s]+@[^<>\s]+)\s*>\s*$")
_INJECTION = re.compile(
    r"(?i)(?:^|\s)(?:bcc|cc|to|from|subject|reply-to|content-type|x-[\w-]+)\s*:"
)
_VALID_ADDR = re.compile(r"^[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]+(?:\.[\w-]+)+$")


def sender_address(msg: ParsedMessage) -> str:
    """The From address; the angle address of the raw header wins over a decoded display name.

    A display name with an encoded CR LF and "Bcc: x@evil.example" must not become the sender.
    """
    raw = msg.header("from") or ""
    m = _ANGLE_ADDR.search(raw)
    if m and _VALID_ADDR.match(m.group(1)):
        return m.group(1).lower()
    return msg.sender if _VALID_ADDR.match(msg.sender or "") else ""


def display_name(msg: ParsedMessage) -> str:
    """The From display name, read from the decoded header (commas inside are kept)."""
    raw = msg.header("from") or ""
    m = _ANGLE_ADDR.search(raw)
    if m:
        name = raw[: m.start()].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"')
        return clean_line(name)
    return msg.sender_name


# --- putting it together --------------------------------------------------------------------


@dataclass
class _Sender:
    email: str
    person: PersonName | None = None
    organisation: str | None = None
    function: str | None = None
    confidence: float = 0.3
    suspicious: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def extract_attendees(msg: ParsedMessage, kind: str | None = None) -> list[Attendee]:
    """Everyone this message registers (or cancels); empty when nobody can be identified.

    ``kind`` ("registration"/"cancellation") is optional; without it cancellation wording in
    the message decides whether "ich komme wie angemeldet" counts the sender in.
    """
    address = sender_address(msg)
    if not address:
        return []
    body = own_text(msg.text)
    if msg.html:
        body_html = own_text(html_to_text(msg.html))
        table = html_table_lines(msg.html, body_html or body)
    else:
        table = ""
    main, sig_lines = split_signature(body)
    # A table with a header row ("Name | Funktion | E-Mail") is read by columns first: read as
    # "label<TAB>value" lines its header row would look like a name.
    records = (
        column_records(html_table_rows(msg.html))
        or column_records(text_table_rows(main))
        or key_values(main + "\n" + "\n".join(sig_lines))
        or row_records(html_table_rows(msg.html))
        or key_values(table)
    )
    if kind:
        cancelling = kind == "cancellation"
    else:  # guessed: what the writer says about themselves alone cancels nothing for others
        told = " ".join("" if _NOT_ME.search(x) else x for x in sentences(main))
        cancelling = bool(_CANCEL.search(f"{msg.subject}\n{told}"))

    sender = _read_sender(msg, address, sig_lines, main)
    # "dienstlich bin ich unter x@… erreichbar", "meine Adresse lautet x@…": the writer's own
    # address for the confirmation, written from another (private) mailbox.
    mine = _MY_ADDRESS.search(main)
    given = (mine.group(1) or mine.group(2)).lower() if mine else ""
    if given and _VALID_ADDR.match(given) and given != address:
        address = sender.email = given
    shared_org: str | None = None
    people: list[Attendee] = []
    for rec in records:
        person = _record_person(rec)
        org = _record_org(rec)
        if person is None:
            shared_org = shared_org or org
            if shared_org is None and sender.organisation is None:
                sender.organisation = org
            if rec.get("function") and sender.function is None:
                sender.function = rec["function"]
            continue
        email = rec.get("email", "").lower()
        email = email if _VALID_ADDR.match(email) else address
        people.append(_attendee(email, person, org, rec.get("function"), 0.95))
    if shared_org:
        people = [a if a.organisation else replace(a, organisation=shared_org) for a in people]

    if not people:
        for mention in _addresses_in_prose(mentions(main, cancelling), main, address):
            people.append(
                _attendee(
                    mention.email or address,
                    mention.person,
                    mention.organisation,
                    mention.function or mention.person.function,
                    0.9 if mention.email else 0.8,
                )
            )
        people = _merge_sender(people, sender, main, cancelling)

    org = sender.organisation
    out = []
    for a in people or [_attendee(address, sender.person, org, sender.function, sender.confidence)]:
        if a.organisation is None and org:
            a = replace(a, organisation=org)
        if a.email == address and a.name is None and sender.person:
            a = replace(a, name=sender.person.name, title=sender.person.title)
        if sender.suspicious:
            a = replace(a, confidence=min(a.confidence, REVIEW_BELOW - 0.05))
        out.append(_cleaned(a))
    return out[:20]


def _merge_sender(
    people: list[Attendee], sender: _Sender, main: str, cancelling: bool
) -> list[Attendee]:
    """Third parties named in the text; the sender too when they say "mich"/"wir"/"und ich"."""
    if not people:
        return []
    merged: list[Attendee] = []
    has_sender = False
    for a in people:
        if a.email == sender.email and sender.person is None and _names_local(a, sender.email):
            has_sender = True
        elif sender.person and a.name and same_person(a.name, sender.person.name):
            has_sender = True
            if not _personal_elsewhere(a, sender):
                a = replace(a, email=sender.email)
        merged.append(a)
    if has_sender:
        return merged
    verbs = _CANCEL if cancelling else _VERB
    if cancelling and any(
        _STAYS.search(c) and _FIRST_PERSON.search(c) and not _CANCEL.search(c)
        for s in sentences(main)
        # "Bitte streichen Sie nur sie – ich komme wie geplant": clause by clause
        for c in _clauses(s)
    ):
        return merged  # "Meine eigene Anmeldung bleibt bestehen": the writer is not cancelled
    sents = [_MAIL_TO_ME.sub(" ", _OFFICE_WE.sub(" ", s)) for s in sentences(main)]
    if not cancelling:
        # "ich hatte mich im Dezember angemeldet": the writer's earlier registration, not a new one
        # clause by clause: "mein Kollege X hat sich schon angemeldet, ich möchte mich
        # ebenfalls anmelden" keeps its second clause
        sents = [
            " ".join(c for c in _clauses(s) if not (_NOT_ME.search(c) or _WAS_REGISTERED.search(c)))
            if _NOT_ME.search(s) or _WAS_REGISTERED.search(s)
            else s
            for s in sents
        ]
    selfish = any(
        (_SELF.search(s) or _SELF_BESIDES.search(s))
        and (
            verbs.search(s)
            # "… two places? One for me and one for my colleague": the verb came before.
            or (i > 0 and _FOR_ME.search(s) and not _VERB.search(s) and verbs.search(sents[i - 1]))
        )
        for i, s in enumerate(sents)
    )
    # "• und mich selbst, Sandra Oetken": the writer as an item of the list
    selfish = selfish or any(_SELF_ITEM_LINE.match(line) for line in main.split("\n"))
    if selfish:
        me = _attendee(sender.email, sender.person, sender.organisation, sender.function,
                       sender.confidence)  # fmt: skip
        position = _self_position(main)
        merged.insert(0 if position == "first" else len(merged), me)
    return merged


def _personal_elsewhere(a: Attendee, sender: _Sender) -> bool:
    """The writer gives a personal address of their own while writing from a shared mailbox
    ("info@amt-….example" sends, "(s.hargens@amt-….example)" written after her name)."""
    return (
        a.email != sender.email and _names_local(a, a.email) and not _names_local(a, sender.email)
    )


_FOR_THEM = re.compile(
    r"(?i)\ban\s+(?:ihn|sie)\b|\bto\s+(?:him|her)\b|\b(?:seine|ihre)\s+(?:e-?mail-?)?adresse\b"
    r"|\b(?:his|her)\s+(?:e-?mail\s+)?address\b|\bdirekt\s+an\b"
    r"|\b(?:sie|er)\s+ist\s+(?:unter|per)\b|\berreichbar\s+unter\b|\b(?:he|she) can be reached\b"
)


def _addresses_in_prose(found: list[Mention], main: str, sender: str) -> list[Mention]:
    """Give a named person the address written elsewhere in the text ("Bitte senden Sie die
    Bestätigung direkt an ihn: x@…"): one whose local part names them, or the only one."""
    taken = {m.email for m in found if m.email}
    free = [e.lower() for e in dict.fromkeys(_EMAIL.findall(main))]
    free = [e for e in free if e not in taken and e != sender and _VALID_ADDR.match(e)]
    if not free:
        return found
    out: list[Mention] = []
    for mention in found:
        if mention.email is None:
            local = _ascii(free[0].split("@")[0]) if len(free) == 1 else ""
            match = next(
                (
                    e
                    for e in free
                    if sum(len(w) > 2 and _in_local(w, e)
                           for w in mention.person.tokens) >= 2
                ),
                None,
            )  # fmt: skip
            family = mention.person.tokens[-1] if mention.person.tokens else ""
            if match is None and len(family) > 2:
                # "Frau Roth erreichen Sie unter m.roth@…": the family name, then the address.
                match = next(
                    (
                        e
                        for e in free
                        if _in_local(family, e.split("@")[0])
                        and re.search(rf"\b{re.escape(family)}\b[^.;]{{0,80}}{re.escape(e)}", main)
                    ),
                    None,
                )
            if match is None and local and _FOR_THEM.search(main):
                unnamed = [m for m in found if m.email is None]
                match = free[0] if len(unnamed) == 1 else None
            if match:
                mention = replace(mention, email=match)
                free.remove(match)
        out.append(mention)
    return out


def _names_local(a: Attendee, email: str) -> bool:
    local = email.split("@")[0].lower()
    return bool(a.name) and any(len(w) > 2 and w.lower() in local for w in (a.name or "").split())


def _self_position(main: str) -> str:
    """'first' for "ich melde mich und meinen Kollegen …", else 'last' ("… und ich")."""
    # The salutation ("Sehr geehrte Frau Dr. X,") names the desk, not an attendee.
    main = re.sub(
        r"(?i)^\s*(?:sehr geehrte\w*|liebe\w*|hallo|guten tag|dear|hi)\b[^\n]*\n", "", main
    )
    m = re.search(
        r"(?i)\b(?:mich|myself|me|(?:ich|isch) selbst|(?:i|ich|isch) (?:selber|selbscht|selwer)"
        r"|(?:ich|isch)\s+(?:nehme|komme?|kumme?|bin|ben|melde|und|un|unn|sowie|würde|möchte|werde)"
        r"|i\s+(?:will|shall|am|'ll)"
        r"|(?:meine|my)\s+(?:teilnahme|anmeldung|zusage|registration|attendance|place|booking)"
        r"|(?:neben|außer|zusammen mit|gemeinsam mit)\s+mir)\b",
        main,
    )
    # Another person named first, or a list item; not the salutation ("Sehr geehrte Frau X").
    n = next(
        (
            x
            for x in re.finditer(
                r"(?im)\b(?:Herrn?\b|Frau\b|Kolleg|Mr\b|Ms\b|Dr\.)|^\s*(?:[-*•–·]|\d{1,2}[.)])\s",
                main,
            )
            if not _GREETING.search(main[max(0, x.start() - 20) : x.start()])
        ),
        None,
    )
    return "first" if m and (n is None or m.start() < n.start()) else "last"


_UNIT_FIRST = re.compile(
    r"(?i)\s*(?:fb|fd|fachbereich|fachdienst|fachgebiet|stabsstelle|abteilung|abt\.|referat"
    r"|sachgebiet|dezernat|team|bereich|geschäftsbereich|department|unit)\b"
)


def _record_org(rec: dict[str, str]) -> str | None:
    if "organisation" not in rec:
        return None
    org, kind = organisation_of(rec["organisation"])
    unit = _UNIT_FIRST.match(rec["organisation"])
    if kind == "dept" or unit or (org is None and _DEPT.search(rec["organisation"])):
        return None  # a "Dienststelle"/"Bereich" column names a unit; the body is elsewhere
    return org or rec["organisation"]


# "Name: Anna Roth, M.A." ends in a degree or title; that comma does not reverse the name.
_DEGREE_AFTER = re.compile(r",\s*(?:[A-Z][\w]*\.|MBA|MPA|PhD|LL\.?M\.?|Dr\.?)")


def _titled_family(value: str) -> PersonName | None:
    """ "Dr. Lührs" in a Name column next to a Vorname column: a title and one family name."""
    family = parse_person(value, min_tokens=1)
    return family if family and family.title and len(family.tokens) == 1 else None


_TITLES_FIRST = re.compile(r"^\s*(?:(?:Prof|Dr|PD)\.?(?:[\s-]+|$)(?:[a-z]{2,5}\.\s*)*)+")


def _full_name(text: str) -> bool:
    """Given and family name ("Dr. Theresa Lindqvist-Berg"), not a family name alone ("von der
    Heide", "Nowak-Schindler"): what comes after its comma is a unit, not the given name."""
    person = parse_person(text)
    if person is None:
        return False
    return sum(t.lower() not in _PARTICLE_END for t in person.tokens) >= 2


def _record_person(rec: dict[str, str]) -> PersonName | None:
    if "name_rev" in rec and "," in rec["name_rev"]:
        family, _, given = rec["name_rev"].partition(",")
        text = f"{given.strip()} {family.strip()}"
    elif "name" in rec and "given" in rec and " " not in _TITLES_FIRST.sub("", rec["name"]).strip():
        # "Name: Schröder / Vorname: Karl-Heinz": Name is the family name here ("Dr. Lührs" too).
        titles = _TITLES_FIRST.match(rec["name"])
        family = rec["name"][titles.end() :] if titles else rec["name"]
        text = f"{titles.group(0) if titles else ''}{rec['given']} {family.strip()}"
    elif "name" in rec and "given" in rec and (titled := _titled_family(rec["name"])):
        # "Dr. Lührs | Henning": the title written with the family name
        text = f"{titled.title} {rec['given']} {titled.name}"
    elif (
        "name" in rec
        and rec["name"].count(",") == 1
        and not _DEGREE_AFTER.search(rec["name"])
        and not _full_name(rec["name"].partition(",")[0])
    ):
        # "Name: Ostermann-Yıldız, Derya": family name first, as in directories.
        family, _, given = rec["name"].partition(",")
        text = f"{given.strip()} {family.strip()}"
    elif "name" in rec:
        text = rec["name"]
        if text.count(",") == 1 and _full_name(text.partition(",")[0]):
            text = text.partition(",")[0]  # "Dr. X Y, Programmbereich Finanzen"
    elif "given" in rec or "family" in rec:
        text = f"{rec.get('given', '')} {rec.get('family', '')}"
    else:
        return None
    person = parse_person(text) or parse_person(text, min_tokens=1)
    if person is None:
        return None
    title = rec.get("title")
    if title and not re.match(r"(?i)^(?:prof|dr|ph\.?d|jun\.-prof|pd\b|priv)", title):
        title = None
    salutation = rec.get("salutation")
    salutation = salutation.capitalize() if salutation else person.salutation
    return PersonName(person.name, person.title or title, salutation, person.function)


_OWN_WORDS = re.compile(
    r"(?i)\b(?:mich|ich)\s*\(([^()]{3,120})\)|\bmich\b[^.:\n(]{0,25}:\s*([^\n]{3,160})"
)


_MY_ADDRESS = re.compile(
    r"(?i)\b(?:bin ich|ich bin)\s+(?:\w+\s+){0,3}?unter\s+(" + _EMAIL.pattern + r")\s+erreichbar"
    r"|\b(?:meine|my)\s+(?:dienstliche\s+|berufliche\s+|work\s+|office\s+)?(?:e-?mail-?)?"
    r"(?:adresse|address)\s+(?:lautet|ist|is)\s*:?\s*(" + _EMAIL.pattern + r")"
)


def _read_sender(msg: ParsedMessage, address: str, sig_lines: list[str], main: str) -> _Sender:
    display = display_name(msg)
    suspicious = bool(_INJECTION.search(display))
    shown, hint = (None, None) if suspicious else parse_display_name(display)
    if shown and "\ufffd" in shown.name:
        shown = None  # raw 8-bit header bytes that could not be decoded
    sig = read_signature(sig_lines, shown)
    # "melde ich mich (Dr. X, Org) an", "Melde mich an: X, Org"
    own = _OWN_WORDS.search(main)
    if own:
        bits = [b.strip(" .") for b in (own.group(1) or own.group(2)).split(",")]
        person = parse_person(bits[0])
        if sig.person is not None and not (person and same_person(sig.person.name, person.name)):
            person = None  # the signature names someone else: it wins
        if person:
            org = next((organisation_of(b)[0] for b in bits[1:] if organisation_of(b)[1]), None)
            sig = Signature(person, org or sig.organisation, False, sig.function)
    person, confidence = _choose_name(sig.person, shown, address)
    hint_org, hint_kind = organisation_of(hint) if hint else (None, "")
    org = sig.organisation
    if (org is None or sig.org_is_dept) and hint_kind == "org":
        org = hint_org
    org = org or hint_org
    if org is None:
        m = _not_the_host(_ORG_PHRASE, main) or _ORG_PHRASE_EN.search(main)
        org = m.group(1) if m else _org_in_prose(main)
        if org:  # "als Mitglied des Gemeinderats der Stadt X": the council in the nominative
            org = re.sub(r"^(Rat|Kreistag|Gemeinderat|Stadtrat)e?s\b", r"\1", org)
        if org and _COUNCIL_NAME.match(org):
            # "(Bürgerliste)": the group, not the council; "(Wümme)" belongs to the place
            org = re.sub(
                r"\s*\((?=[^()]*(?i:liste|fraktion|gruppe|partei|wähler|bündnis|grün|spd|cdu|csu"
                r"|fdp|afd|linke|ödp|bsw|volt|piraten|uwg|fwg))[^()]*\)$",
                "",
                org,
            )
        if org is None and (caps := _ORG_CAPS.search(main)):
            org = caps.group(1)
        if org and not re.search(r"/\w+\.$", org):
            org = re.sub(r"(?<=\w{3})\.$", "", org)  # the sentence's full stop, not "/Erzgeb."
        org = re.sub(r"^Beirats ", "Beirat ", org) if org else None  # "des Beirats Vegesack"
    function = sig.function or (sig.person.function if sig.person else None)
    return _Sender(address, person, org, function, confidence, suspicious)


def _initials(p: PersonName) -> bool:
    return any(len(t) <= 2 and t.endswith(".") for t in p.tokens)


def _choose_name(
    sig: PersonName | None, shown: PersonName | None, address: str
) -> tuple[PersonName | None, float]:
    local = address.split("@")[0].lower()

    def in_local(p: PersonName) -> bool:
        return any(len(w) > 2 and _in_local(w, local) for w in p.tokens)

    if sig and shown and not re.search(r"[A-Za-z]", shown.name):
        return sig, 0.9  # "Ελένη Παπαδοπούλου" in From, "Eleni Papadopoulou" signed
    if sig and shown:
        if sorted(_ascii(w) for w in sig.tokens) == sorted(_ascii(w) for w in shown.tokens):
            # "Zieliński Łukasz" in the From header, "Łukasz Zieliński" signed: people sign
            # their own name in its natural order; directories put the family name first.
            return replace(sig, title=sig.title or shown.title), 0.95
        if same_person(sig.name, shown.name):
            best = sig if len(sig.tokens) >= len(shown.tokens) else shown
            if _initials(best) and not _initials(shown):
                best = shown  # "W. Tiedemann-Kraus" signed, "Wolfgang Tiedemann-Kraus" in From
            title = sig.title or shown.title
            salutation = sig.salutation or shown.salutation
            return PersonName(best.name, title, salutation, sig.function), 0.97
        if in_local(sig) and not in_local(shown):
            return sig, 0.75
        if _extends(sig, shown):
            # "Rosi Schnell" in From, "Rosemarie Schnell-Bräuchle" signed: the full name
            return replace(sig, title=sig.title or shown.title), 0.85
        return PersonName(shown.name, shown.title, shown.salutation, sig.function), 0.7
    if sig:
        return sig, 0.9 if in_local(sig) else 0.75
    if shown:
        return shown, 0.85
    return None, 0.3


def _extends(full: PersonName, short: PersonName) -> bool:
    """Each word of the short name begins the matching word of the full one ("Rosi Schnell",
    "Rosemarie Schnell-Bräuchle"): a nickname and a shortened double name."""
    a, b = full.tokens, short.tokens
    return (
        len(a) == len(b) >= 2
        and a != b
        and all(
            len(y) >= 3
            and _ascii(x).lower().startswith(_ascii(y).lower()[:2])
            and (i < len(a) - 1 or _ascii(x).lower().startswith(_ascii(y).lower()))
            for i, (x, y) in enumerate(zip(a, b, strict=True))
        )
    )


def _ascii(text: str) -> str:
    return fold(text)


def _plain(text: str) -> str:
    """Accents dropped without spelling umlauts out ("Baştürk" -> "basturk")."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if c.isascii())


def _in_local(word: str, local: str) -> bool:
    """Whether an address's local part (or the whole address) spells the name word, with "ü"
    as "ue" or as "u", as people and mail admins both do."""
    folded = _ascii(local.split("@")[0])
    return _ascii(word) in folded or _plain(word) in folded


def _attendee(
    email: str, person: PersonName | None, org: str | None, function: str | None, conf: float
) -> Attendee:
    return Attendee(
        email=email,
        name=person.name if person else None,
        title=person.title if person else None,
        salutation=person.salutation if person else None,
        organisation=org,
        function=function,
        confidence=conf if person else min(conf, 0.3),
    )


# "Kommunale Hochschule für Verwaltung in Niedersachsen (HSVN)": the short form repeated in
# parentheses is not part of the name; "Stadt Halle (Saale)" and "(Oldb)" are.
_ACRONYM_NOTE = re.compile(r"\s+\((?-i:[A-ZÄÖÜ][A-ZÄÖÜ0-9&-]{2,9})\)$")


def _without_acronym(org: str | None) -> str | None:
    if org is None:
        return None
    return _ACRONYM_NOTE.sub("", org) or org


def _cleaned(a: Attendee) -> Attendee:
    """Every value one clean line, capped; a name never carries markup or header syntax."""

    def one(value: str | None, limit: int = MAX_FIELD_CHARS) -> str | None:
        if value is None:
            return None
        text = clean_line(re.sub(r"<[^>]{0,200}>", " ", value), limit)
        return text or None

    name = one(a.name, MAX_NAME_CHARS)
    if name and (_INJECTION.search(name) or "@" in name):
        name = None
    email = a.email.lower() if _VALID_ADDR.match(a.email) else ""
    return Attendee(
        email=email,
        name=name,
        title=one(a.title, 60),
        salutation=one(a.salutation, 20),
        organisation=_without_acronym(one(a.organisation)),
        function=one(a.function),
        confidence=round(max(0.0, min(1.0, a.confidence if name else min(a.confidence, 0.3))), 2),
    )


def detect_language(msg: ParsedMessage, default: str = "de") -> str:
    """'de' or 'en' from common words in the subject and body; the default when unsure."""
    text = f" {msg.subject}\n{own_text(msg.text)} ".lower()
    de = sum(text.count(w) for w in (" ich ", " und ", " mit ", " der ", " die ", "anmeld", "grüß"))
    en = sum(text.count(w) for w in (" i ", " and ", " the ", " with ", "register", "regards"))
    if en > de:
        return "en"
    if de > en:
        return "de"
    return default


# A substitute mail names whom the newcomer replaces: "statt Herrn X", "Herr X kann leider nicht".
_REPLACED_WORDS = re.compile(
    r"(?i)\b(?:statt|anstatt|anstelle von|an stelle von|instead of|in place of|replacing)\b"
)


def replaced_attendees(msg: ParsedMessage, newcomers: Sequence[Attendee]) -> list[Attendee]:
    """Whom a substitute mail ("An seiner Stelle kommt Frau Y") replaces: people named where
    the mail declines or says "statt", or the writer who says they cannot come. Pure."""
    address = sender_address(msg)
    if not address:
        return []
    body = own_text(msg.text or html_to_text(msg.html or ""))
    main, sig_lines = split_signature(body)
    declining = [x for x in sentences(main) if _CANCEL.search(x) or _REPLACED_WORDS.search(x)]
    new_names = [a.name for a in newcomers if a.name]
    out: list[Attendee] = []
    for m in mentions(_REPLACED_WORDS.sub(" ", " ".join(declining)), cancelling=True):
        if any(same_person(m.person.name, n) for n in new_names):
            continue
        out.append(_attendee(m.email or address, m.person, None, None, 0.8))
    if any(_NOT_ME.search(x) or (_CANCEL.search(x) and re.search(r"(?i)\bich\b", x))
           for x in declining):  # fmt: skip
        sender = _read_sender(msg, address, sig_lines, main)
        if sender.person and not any(same_person(sender.person.name, n) for n in new_names):
            out.append(_attendee(address, sender.person, None, None, sender.confidence))
    return [_cleaned(a) for a in out]
