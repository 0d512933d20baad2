"""Pure: person names apart from salutations, offices, academic titles and degrees.

Conventions (what the issue leaves to us):
- ``title`` is the academic title as written, normalised to single spaces: "Dr.", "Prof. Dr.",
  "Dr.-Ing.", "Prof. Dr. rer. pol.", "Dr. Dr."; a postnominal "PhD"/"Ph.D." is a title too.
- Professional degrees ("Dipl.-Ing. (FH)", "M.A.", "MBA", "LL.M.", "M.Sc.") are dropped: they
  are neither part of the name nor a title.
- Salutations ("Herr", "Herrn", "Frau", "Mr", "Ms") become "Herr"/"Frau"/"Mr"/"Ms"/"Mrs".
- An office in front of a name ("Oberbürgermeister", "Landrat", "Stadtkämmerer") is a function.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .parse import MAX_NAME_CHARS, clean_line

_SALUTATIONS = {
    "herr": "Herr", "herrn": "Herr", "hr.": "Herr", "frau": "Frau", "fr.": "Frau",
    "mr": "Mr", "mr.": "Mr", "mrs": "Mrs", "mrs.": "Mrs", "ms": "Ms", "ms.": "Ms",
}  # fmt: skip
_SALUTATION_RE = re.compile(r"(?:Herrn?|Frau|Hr\.|Fr\.|Mrs?\.?|Ms\.?)(?=\s)", re.IGNORECASE)
# "i. A." (im Auftrag), "i. V." (in Vertretung), "ppa." sign for someone else: not part of a name.
_ON_BEHALF_RE = re.compile(r"(?:i\.\s?A\.|i\.\s?V\.|ppa\.|im Auftrag|in Vertretung)\s*", re.I)

_DR_SUFFIX = r"(?:\s?(?:rer\.\s?(?:nat|pol|soc|oec|publ|medic|cult|biol|hum|silv)\.|med\.(?:\s?(?:dent|vet)\.)?|phil\.|jur\.|iur\.|theol\.|oec\.|sc\.|paed\.|h\.\s?c\.|habil\.|E\.\s?h\.))*"  # noqa: E501
_TITLE_TOKEN = re.compile(
    r"(?:Prof\.|Professor(?:in)?|Jun\.-Prof\.|apl\.\s?Prof\.|Hon\.-Prof\.|Priv\.-Doz\.|PD"
    rf"|Dr\.-Ing\.{_DR_SUFFIX}|Dr\.{_DR_SUFFIX}|Dr|Prof"
    # Polish and Czech write academic titles in lower case: "dr hab.", "dr inż.", "prof. dr hab."
    # ("inż." is a degree)
    r"|prof\.\s?dr hab\.|dr hab\.|dr(?=\s+(?:inż\.\s+)?[A-ZŁŚŻŹĆŃ]))(?=\s|$|,)"
)
_DEGREE_TOKEN = re.compile(
    r"(?:Dipl\.-?\s?[\w.-]*(?:\s?\((?:FH|TU|Uni|BA)\))?|Mag\.(?:\s?\w+\.)?|Ass\.\s?jur\."
    r"|Mgr\.|Ing\.|Bc\.|inż\.|mgr"
    r"|M\.\s?A\.|M\.\s?Sc\.|M\.\s?Eng\.|B\.\s?A\.|B\.\s?Sc\.|B\.\s?Eng\.|LL\.\s?[MB]\.|MBA|MPA|MPP"
    r"|M\.\s?P\.\s?A\.|Bachelor|Master)(?=\s|$|,)"
)
_POSTNOMINAL_TITLE = re.compile(r"^(?:Ph\.\s?D\.?|PhD|DPhil)$")
# Offices written in front of a name; matched on the end of a German compound word.
FUNCTION_WORD = re.compile(
    # an office may carry its body's short form: "LVR-Kämmerin", "KDO-Geschäftsführer"
    r"^(?!Magistrat$)(?:[A-ZÄÖÜ][\wÄÖÜäöüß]*-)?"
    r"(?:[A-ZÄÖÜ][a-zäöüß]*(?:meister(?:in)?|kämmerer|kämmerin|leiter(?:in)?"
    # "-rat" needs a word before it ("Stadtrat", "Beirat"): "Murat", "Berat" are given names
    r"|(?<=^[A-ZÄÖÜ][a-zäöüß]{2})(?:rat|rätin)|(?<=[a-zäöüß]{3})(?:rat|rätin)"
    # weak nouns inflect after "Herrn": "Herrn Regierungsvizepräsidenten", "Dezernenten"
    r"|direktor(?:in)?|dezernent(?:in|en)?|referent(?:in|en)?|präsident(?:in|en)?|sekretär(?:in)?"
    r"|beigeordnete[nr]?|senator(?:in)?|minister(?:in)?|dirigent(?:in|en)?|inspektor(?:in|en)?"
    r"|amtmann|amtfrau|vorsteher(?:in)?)|Landrat|Landrätin|OB|Mayor|Councillor|Cllr\.?|Alderman"
    # council members: "Ratsherrn Jürgen X", "Gemeindevertreterin Y", "Stadtverordneter Z"
    r"|Ratsherrn?|Ratsfrau|Ratsmitglied|Stadtverordnete[nr]?|Gemeindevertreter(?:in)?"
    r"|Kreistagsabgeordnete[nr]?|Kreistagsmitglied"
    # professions written before a name: "Herr Rechtsanwalt Dr. X", "Frau Steuerberaterin Y"
    r"|Rechtsanw(?:alt|ältin)|Fachanw(?:alt|ältin)|Notar(?:in)?|Steuerberater(?:in)?"
    r"|Wirtschaftsprüfer(?:in)?|Architekt(?:in)?"
    r"|Beigeordnete[nr]?|Dezernent(?:in|en)?|Direktor(?:in)?|Präsident(?:in|en)?"
    r"|Minister|Senator|Kämmerer|Kämmerin"
    # civil-service ranks written before a name: "Herr MinR Dr. Gühne", "ORR Weber"
    r"|Referent(?:in|en)?|Leiter(?:in)?|Sachbearbeiter(?:in)?|Mitarbeiter(?:in)?|Stadtrat|Stadträtin"
    r"|MinR|MinRin|MinDirig|MinDir|LMR|LtdMinR|RD|RDin|ORR|ORRin|RR|RRin|OAR|AR|StD|OStD)$"
)
# Adjectives that are part of an office ("Erster Beigeordneter", "Stellvertretende Leiterin").
_OFFICE_ADJECTIVE = re.compile(
    r"^(?:Erste|Zweite|Dritte|Stellvertretende|Leitende|Kommissarische|Hauptamtliche"
    r"|Ehrenamtliche)[nrms]?$"
)
_PARTICLES = frozenset(
    (
        "von van vom zu zum zur de der den del della di da dos du le la ten ter op af al el bin y"
    ).split()
)
# Words that never occur in a person's name but do in mailbox names and signatures.
_NOT_NAME = re.compile(
    r"(?i)^(?:stadt|städt\w*|stadt(?:verwaltung|werke|kasse|kämmerei|rat|rätin|amt|teil)\w*"
    r"|gemeinde\w*|kreis(?:es|verwaltung|kasse|tag|rat|rätin|amt)?|landkreis|amt|ämter|\w+amt|\w*kämmerei|büro|buero"
    r"|sekretariat|vorzimmer|office|team|info|poststelle|mail|delivery|system|symposium"
    r"|anmeldung|finanz\w*|verwaltung|\w+verwaltung|referat|abteilung|fachbereich|the|of|and|und"
    r"|für|for|der|die|das|des|city|council|university|universität|hochschule|institut\w*"
    r"|gmbh|ag|e\.v\.|ltd|inc|mbh|bcc|cc|to|from|subject|noreply|no-reply|admin|support"
    r"|webmaster|postmaster|mailer-daemon|kontakt|contact|bürgermeister\w*|oberbürgermeister\w*"
    r"|landrat|via|im|auftrag|kanzlei|ministerium|bezirksamt|\w*führer\w*|\w*leiter(?:in)?"
    r"|kaufmännische[rn]?|technische[rn]?|sachbearbeiter\w*|\w*referent\w*"
    # (not "Fischer", "Ehrlicher", "Thaler": only the "-e" form after a long stem)
    r"|\w{3,}(?:ische|liche)n?|\w{5,}ale|\w*aufsicht"
    # a table's header row ("Name | Funktion | E-Mail") is no person
    r"|name|vorname|nachname|funktion|e-?mail|telefon|organisation)$"
)
_NAME_TOKEN = re.compile(r"^[^\W\d_](?:[^\W\d_]|['’.-](?=[^\W\d_]))*\.?$")
MAX_NAME_TOKENS = 6


@dataclass(frozen=True)
class PersonName:
    """A person as written: name without salutation, office, title or degree."""

    name: str
    title: str | None = None
    salutation: str | None = None
    function: str | None = None

    @property
    def tokens(self) -> list[str]:
        return self.name.split()


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_name(text: str) -> tuple[str | None, str | None]:
    """``"Prof. Dr. rer. pol. Hans-Peter von der Heide"`` -> ``("Prof. Dr. rer. pol.", name)``."""
    person = parse_person(text, min_tokens=1)
    if person is None:
        return None, None
    return person.title, person.name


def parse_person(text: str, *, min_tokens: int = 2) -> PersonName | None:
    """Split salutation, office, title and degrees off a name; None if no name remains.

    ``min_tokens=1`` accepts a family name alone ("Herr Bürgermeister Schiller").
    """
    rest = _norm(clean_line(text, MAX_NAME_CHARS * 2))
    rest = rest.strip(" ,;:()[]\"'")
    salutation: str | None = None
    titles: list[str] = []
    functions: list[str] = []
    changed = True
    while changed and rest:
        changed = False
        m = _ON_BEHALF_RE.match(rest)
        if m and m.end() > 0:
            rest, changed = rest[m.end() :], True
            continue
        m = _SALUTATION_RE.match(rest)
        if m:
            salutation = salutation or _SALUTATIONS[m.group(0).lower()]
            rest, changed = rest[m.end() :].lstrip(), True
            continue
        m = _TITLE_TOKEN.match(rest) or None
        if m:
            titles.append(m.group(0))
            rest, changed = rest[m.end() :].lstrip(" ,"), True
            continue
        m = _DEGREE_TOKEN.match(rest)
        if m:
            rest, changed = rest[m.end() :].lstrip(" ,"), True
            continue
        first, _, after = rest.partition(" ")
        if after and FUNCTION_WORD.match(first):
            functions.append(first)
            rest, changed = after.lstrip(), True
        elif after and _OFFICE_ADJECTIVE.match(first) and FUNCTION_WORD.match(after.split()[0]):
            # "Herrn Ersten Beigeordneten Dr. Brückner": the adjective belongs to the office.
            functions.append(first)
            rest, changed = after.lstrip(), True
    # Postnominal degrees and titles: "Anna Schulte, M.A.", "Maria Rossi, PhD", "Kübler, MBA".
    parts = [p.strip() for p in rest.split(",")]
    kept: list[str] = []
    for i, part in enumerate(parts):
        if i and _POSTNOMINAL_TITLE.match(part):
            titles.append(part.replace(" ", ""))
        elif i and _DEGREE_TOKEN.fullmatch(part):
            continue
        else:
            kept.append(part)
    if len(kept) != 1:
        return None
    words = [w for w in kept[0].split() if not _DEGREE_TOKEN.fullmatch(w)]
    if not valid_name_tokens(words, min_tokens):
        return None
    if len(words) == 1 and FUNCTION_WORD.match(words[0]):
        return None  # "Frau Staatsrätin": the office, no name
    return PersonName(
        name=" ".join(words)[:MAX_NAME_CHARS],
        title=_norm(" ".join(titles)) or None,
        salutation=salutation,
        function=" ".join(functions) or None,
    )


def valid_name_tokens(words: list[str], min_tokens: int = 2) -> bool:
    """True when the words read like a person's given and family name."""
    if not (min_tokens <= len(words) <= MAX_NAME_TOKENS):
        return False
    capitalised = 0
    for i, word in enumerate(words):
        if word.lower() in _PARTICLES:
            continue
        if (
            word == "und"
            and 0 < i < len(words) - 1
            and words[i - 1] == "von"
            and words[i + 1] == "zu"
        ):
            continue  # "Freiherr von und zu Thannhausen"
        if len(word) > 40 or _NOT_NAME.match(word) or word.lower() in _SALUTATIONS:
            return False  # "Herr Oberbürgermeister": the office is named, not the person
        if not _NAME_TOKEN.match(word) or not word[0].isupper():
            return False
        if word.endswith(".") and len(word) > 2:  # only initials carry a dot
            return False
        capitalised += 1
    return capitalised >= min(min_tokens, 2) and words[-1].lower() not in _PARTICLES


def parse_display_name(display: str) -> tuple[PersonName | None, str | None]:
    """A From display name -> (person, organisation hint).

    Handles Exchange's ``"Müller, Jürgen (Stadtkämmerei)"``, ``"Weiß, Dr. Christiane"`` and
    ``"Stefan Ortmann | Stadt Münster"``. Mailbox names ("Vorzimmer Oberbürgermeister") and
    addresses give no person.
    """
    text = _norm(clean_line(display)).strip("\"' ")
    if not text or "@" in text or ":" in text:
        return None, None
    hint: str | None = None
    m = re.search(r"\(([^()]*)\)\s*$", text)
    if m:
        hint, text = m.group(1).strip() or None, text[: m.start()].strip()
    for sep in (" | ", " – ", " - ", " / "):
        if sep in text:
            text, _, other = text.partition(sep)
            hint = hint or other.strip() or None
    if text.count(",") == 1:
        family, given = (p.strip() for p in text.split(","))
        family_p = parse_person(family, min_tokens=1)
        given_p = parse_person(given, min_tokens=1)
        if family_p and given_p:
            title = " ".join(t for t in (family_p.title, given_p.title) if t) or None
            person = parse_person(f"{given_p.name} {family_p.name}")
            if person:
                return PersonName(person.name, title, family_p.salutation), hint
    person = parse_person(text)
    if person is None and hint is not None and not re.search(r"\d", text):
        # "Landratsamt Passau - Poststelle": a mailbox; its first part names the body.
        hint = f"{text} - {hint}"
    return person, hint


def same_person(a: str, b: str) -> bool:
    """Whether two names share their family name (the last capitalised word)."""
    fa = [fold(w) for w in a.split() if w.lower() not in _PARTICLES]
    fb = [fold(w) for w in b.split() if w.lower() not in _PARTICLES]
    return bool(fa and fb) and fa[-1] == fb[-1]


_UMLAUTS = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "æ": "ae",
        "ø": "oe",
        "å": "aa",
        "ł": "l",
        "ı": "i",
    }
)


def fold(text: str) -> str:
    """Lower case, umlauts spelled out, other accents dropped, spaces collapsed: for comparing
    names with addresses and with each other ("Jürgen Müller" ~ "j.mueller"). Pure."""
    text = " ".join(text.lower().translate(_UMLAUTS).split())
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii())
