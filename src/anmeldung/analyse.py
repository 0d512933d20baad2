"""Pure: parse, classify and extract in one step; what `anmeldung parse` shows is what is stored."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Any

from .classify import Classification, ClassifyContext, classify
from .extract import Attendee, detect_language, extract_attendees, replaced_attendees
from .parse import ParsedMessage, parse_message_tree


@dataclass(frozen=True)
class Analysis:
    parsed: ParsedMessage
    classification: Classification
    attendees: tuple[Attendee, ...]
    language: str
    # Whom a substitute mail (reason "substitute") replaces; they are cancelled when handled.
    replaced: tuple[Attendee, ...] = ()

    @property
    def kind(self) -> str:
        return self.classification.kind

    @property
    def reason(self) -> str:
        return self.classification.reason

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.classification.kind,
            "reason": self.classification.reason,
            "attendees": [a.as_json() for a in self.attendees],
            "bounced": list(self.classification.bounced),
            "language": self.language,
            "replaced": [a.as_json() for a in self.replaced],
        }


def analyse(raw: bytes, ctx: ClassifyContext, default_language: str = "de") -> Analysis:
    parsed, tree = parse_message_tree(raw)
    return analyse_parsed(parsed, ctx, default_language, raw=raw, stdlib=tree)


def analyse_parsed(
    parsed: ParsedMessage,
    ctx: ClassifyContext,
    default_language: str = "de",
    *,
    raw: bytes | None = None,
    stdlib: Message | None = None,
) -> Analysis:
    """Classify, then extract people only from mail that registers or cancels."""
    # The raw bytes let the bounce rules read delivery-status parts the parsed view drops.
    classification = classify(parsed, ctx, raw=raw, stdlib=stdlib)
    attendees: tuple[Attendee, ...] = ()
    if classification.kind in ("registration", "cancellation"):
        attendees = tuple(extract_attendees(parsed, kind=classification.kind))
    replaced: tuple[Attendee, ...] = ()
    if classification.reason == "substitute":
        replaced = tuple(replaced_attendees(parsed, attendees))
    return Analysis(
        parsed=parsed,
        classification=classification,
        attendees=attendees,
        language=detect_language(parsed, default_language),
        replaced=replaced,
    )
