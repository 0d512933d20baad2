"""Pure: who registers, from the sender's header and what people write in the body."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .parse import ParsedMessage, clean_line

# Attendees extracted with less confidence than this go to review instead of being registered.
REVIEW_BELOW = 0.5


@dataclass(frozen=True)
class Attendee:
    email: str  # lower-case; the sender's address when the attendee has none of their own
    name: str | None = None  # given and family name, without title or salutation
    title: str | None = None  # academic title, e.g. "Dr." or "Prof. Dr."
    salutation: str | None = None  # "Herr" / "Frau"
    organisation: str | None = None
    function: str | None = None
    confidence: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def extract_attendees(msg: ParsedMessage) -> list[Attendee]:
    """Everyone this message registers (or cancels); empty when nobody can be identified."""
    if not msg.sender:
        return []
    name = clean_line(msg.sender_name) or None
    if name and "," in name and "@" not in name:
        # Exchange shows "Family, Given"; people are called "Given Family".
        family, _, given = name.partition(",")
        name = f"{given.strip()} {family.strip()}".strip()
    return [Attendee(email=msg.sender, name=name, confidence=0.9 if name else 0.6)]


def detect_language(msg: ParsedMessage, default: str = "de") -> str:
    """'de' or 'en' from common words in the subject and body; the default when unsure."""
    text = f"{msg.subject}\n{msg.text}".lower()
    de = sum(text.count(w) for w in (" ich ", " und ", " mit ", " der ", " die ", "anmeld", "grüß"))
    en = sum(text.count(w) for w in (" i ", " and ", " the ", " with ", "register", "regards"))
    if en > de:
        return "en"
    if de > en:
        return "de"
    return default
