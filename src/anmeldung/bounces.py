"""Pure: which recipients a bounce reports as failed or delayed, and which mail of ours it quotes.

Three sources, most authoritative first:

1. our own RFC 3464 parser of ``message/delivery-status`` parts (``Final-Recipient`` /
   ``Original-Recipient`` and ``Action``).  RFC 3464 2.3.3 makes ``Action`` the verdict, so a
   block with ``Action: failed`` and ``Status: 4.0.0`` counts as failed (seen in the wild);
   ``delayed`` is only a delay, ``delivered``/``relayed``/``expanded`` are no failure at all;
2. flufl.bounce (about 20 MTA-specific detectors) for the non-standard bounces.  Every call is
   wrapped: flufl.bounce 6.0.0 raises on some real messages (an ``IndexError`` on an empty From,
   an ``AttributeError`` in one detector), and a library bug must never stop the worker;
3. a few regexes over the plain text for common non-DSN layouts (qmail, Postfix, Exim,
   Exchange/Office 365, Gmail), also used when the raw bytes are not at hand.

Nothing here opens a file or a socket; the raw bytes, when given, are parsed with the stdlib.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr

log = logging.getLogger(__name__)

__all__ = [
    "BounceReport",
    "analyse_bounce",
    "dsn_recipients",
    "find_message_ids",
    "flufl_failures",
    "has_dsn_part",
    "is_ses_bounce",
    "parse_dsn_fields",
    "parse_raw",
    "text_failures",
]

_ADDR = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_VALID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
_MSGID_LINE = re.compile(r"(?im)^[ \t>]*Message-ID:[ \t]*(?:\r?\n[ \t]+)?<([^<>\s]+@[^<>\s]+)>")
_MSGID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_HEADER_TYPES = ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers")
_MESSAGE_TYPES = ("message/rfc822", "message/global")
MAX_ADDRESSES = 50  # a bounce listing more is a list explosion; we keep the first ones


@dataclass(frozen=True)
class BounceReport:
    """What one bounce says; empty tuples when nothing could be read."""

    failed: tuple[str, ...] = ()  # lower-case recipients that failed permanently
    delayed: tuple[str, ...] = ()  # lower-case recipients only delayed (still being retried)
    delivered: tuple[str, ...] = ()  # DSN blocks with Action delivered/relayed/expanded
    original_message_ids: tuple[str, ...] = ()  # quoted Message-IDs, without angle brackets
    source: str = ""  # "dsn", "flufl", "text" or "" for the evidence that gave the recipients
    has_dsn: bool = False  # a message/delivery-status part was present

    @property
    def found(self) -> bool:
        return bool(self.failed or self.delayed)


def analyse_bounce(
    raw: bytes | Message | None,
    text: str = "",
    reply_ids: Sequence[str] = (),
    exclude_ids: Iterable[str] = (),
) -> BounceReport:
    """Read a (suspected) bounce: from the raw bytes (or their stdlib ``Message``, parsed with
    ``policy=compat32``) when given, otherwise from its text only.

    ``reply_ids`` are the bounce's In-Reply-To/References (some MTAs thread bounces);
    ``exclude_ids`` are ids never to report (the bounce's own Message-ID).
    """
    message = raw if isinstance(raw, Message) else parse_raw(raw)
    ids: list[str] = []
    if message is not None:
        ids.extend(_quoted_ids(message))
    ids.extend(find_message_ids(text))
    ids.extend(reply_ids)
    id_like = [i.lower() for i in ids]

    def plausible(addresses: Iterable[str]) -> list[str]:
        # flufl.bounce's loosest detectors sometimes return a quoted Message-ID as an "address".
        return [a for a in addresses if not any(i.startswith(a) for i in id_like)]

    failed: list[str] = []
    delayed: list[str] = []
    delivered: list[str] = []
    source = ""
    has_dsn = False
    if message is not None:
        has_dsn = has_dsn_part(message)
        if has_dsn:
            failed, delayed, delivered = dsn_recipients(message)
            source = "dsn" if failed or delayed or delivered else ""
        if not source:
            flufl = flufl_failures(message)
            if flufl is not None:
                delayed, failed = plausible(flufl[0]), plausible(flufl[1])
                source = "flufl" if failed or delayed else ""
    if not source:
        if not text.strip() and message is not None:
            text = _plain_text(message)  # mail-parser finds no text in some odd structures
        failed, delayed = (plausible(found) for found in text_failures(text))
        source = "text" if failed or delayed else ""

    excluded = {i.lower() for i in exclude_ids}
    failed_set = set(failed)
    return BounceReport(
        failed=_unique(failed),
        delayed=tuple(a for a in _unique(delayed) if a not in failed_set),
        delivered=_unique(delivered),
        original_message_ids=tuple(i for i in _unique_ids(ids) if i.lower() not in excluded),
        source=source,
        has_dsn=has_dsn,
    )


def parse_raw(raw: bytes | None) -> Message | None:
    """The stdlib's compat32 view of the raw bytes (what flufl.bounce expects), or None."""
    if raw is None:
        return None
    try:
        return email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # the stdlib parser is lenient, but a bounce must never crash us
        log.warning("bounce: stdlib parser failed (%s)", type(exc).__name__)
        return None


def has_dsn_part(message: Message) -> bool:
    """True when some part is an RFC 3464 (or RFC 6533 global) delivery-status report."""
    return any(part.get_content_type() in _DSN_TYPES for part in _walk(message))


# --- RFC 3464 ---------------------------------------------------------------------------------


def dsn_recipients(message: Message) -> tuple[list[str], list[str], list[str]]:
    """(failed, delayed, delivered) recipients from every message/delivery-status part."""
    failed: list[str] = []
    delayed: list[str] = []
    delivered: list[str] = []
    for part in _walk(message):
        if part.get_content_type() not in _DSN_TYPES:
            continue
        for block in _dsn_blocks(part):
            action = block.get("action", "").strip().lower()
            address = _dsn_address(block)
            if not address:
                continue
            # RFC 3464 2.3.3; "error" is OpenSMTPD's non-standard word for failed.
            if action.startswith(("failed", "error")):
                failed.append(address)
            elif action.startswith("delayed"):
                delayed.append(address)
            elif action.startswith(("delivered", "relayed", "expanded")):
                delivered.append(address)
            elif not action and block.get("status", "").strip().startswith("5"):
                # No Action at all (broken DSN): a 5.x.x status is still a permanent failure.
                failed.append(address)
    return failed, delayed, delivered


def _dsn_blocks(part: Message) -> list[dict[str, str]]:
    """The per-recipient field blocks of one delivery-status part (per-message block skipped)."""
    text: str
    payload = part.get_payload()
    if isinstance(payload, list):
        # compat32 parses message/delivery-status into a list of header blocks.
        text = "\n\n".join(
            "\n".join(f"{k}: {v}" for k, v in block.items())
            for block in payload
            if isinstance(block, Message)
        )
    else:
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
    fields = ("final-recipient", "original-recipient")
    return [b for b in parse_dsn_fields(text) if any(f in b for f in fields)]


def parse_dsn_fields(text: str) -> list[dict[str, str]]:
    """Split DSN text into blocks of lower-case field -> value (continuation lines joined)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or " " in name.strip():
            continue
        last = name.strip().lower()
        current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _dsn_address(block: dict[str, str]) -> str:
    """The recipient of one block: Original-Recipient when it is rfc822, else Final-Recipient.

    The Original-Recipient is the address we wrote to (RFC 3464 2.3.1); the Final-Recipient may
    be an alias after forwarding, so the former matches our registrations better.
    """
    for field in ("original-recipient", "final-recipient", "x-actual-recipient"):
        value = block.get(field, "")
        addr_type, sep, addr = value.partition(";")
        if not sep:
            addr_type, addr = "rfc822", value  # some MTAs leave out the address type
        if addr_type.strip().lower() not in ("rfc822", "utf-8"):
            continue
        address = _clean_address(addr)
        if address:
            return address
    return ""


# --- flufl.bounce -----------------------------------------------------------------------------


def flufl_failures(message: Message) -> tuple[list[str], list[str]] | None:
    """(temporary, permanent) from flufl.bounce, or None when it is missing or crashed."""
    try:
        from flufl.bounce import all_failures

        temporary, permanent = all_failures(message)
        return _decode_all(temporary), _decode_all(permanent)
    except Exception as exc:  # flufl.bounce 6.0.0 raises on some real bounces; never fatal
        log.info("bounce: flufl.bounce failed (%s: %s)", type(exc).__name__, exc)
        return None


def _decode_all(values: Iterable[bytes]) -> list[str]:
    out: list[str] = []
    for value in values:
        address = _clean_address(value.decode("ascii", "replace"))
        if address:
            out.append(address)
    return sorted(out)


# --- plain text -------------------------------------------------------------------------------

# A line that introduces failed recipients; the addresses follow on the next lines.
_FAILED_INTRO = re.compile(
    r"(?i)("
    r"the following address\(es\) failed"  # Exim
    r"|delivery has failed to these recipients or groups"  # Exchange 2010+/Office 365
    r"|fehler bei der zustellung an (?:die )?folgende[n]? empf(?:ä|ae)nger"  # Exchange, German
    r"|die zustellung an folgende empf(?:ä|ae)nger oder gruppen ist fehlgeschlagen"
    r"|the following recipient\(s\) (?:could not be reached|cannot be reached)"  # Exchange 2003
    r"|to the following recipients? (?:failed(?: permanently)?|was aborted)"  # Gmail and others
    r"|could not be delivered to the following recipients?"
    r"|your message cannot be delivered to the following recipients"
    r"|i'm afraid i wasn't able to deliver your message to the following addresses"  # qmail
    r"|the following addresses had (?:permanent )?(?:fatal )?(?:errors|delivery problems)"
    r"|an error occurred while trying to deliver the mail to the following recipients"  # WorkMail
    r"|the following list of recipients"  # OpenSMTPD
    r"|-+ ?failure reasons ?-+"  # Lotus Notes
    r"|this is a permanent error\.?\s*$"  # Zoho, Exim
    r"|could not be delivered to:"
    r"|die folgenden empf(?:ä|ae)nger konnten nicht erreicht werden"
    r"|folgende adressen? (?:ist|sind) fehlgeschlagen"
    r")"
)
_DELAY_INTRO = re.compile(
    r"(?i)("
    r"delivery to the following recipients? (?:has been|is) delayed"  # Gmail
    r"|message (?:has not yet been|could not be) delivered to the following recipients.*retry"
    r"|the following address\(es\) (?:are|is) still being retried"
    r"|delivery to these recipients or groups is delayed"  # Exchange
    r"|this is a warning message only"
    r")"
)
# qmail "<x@y>:" and Postfix "<x@y>: host ... said" / "<x@y> (expanded from <z>): ..."
_ANGLE_LINE = re.compile(r"(?m)^<([^<>\s]+@[^<>\s]+)>(?: \(expanded from <[^<>]*>\))?:")
# Gmail and Office 365 one-liners.
_INLINE = re.compile(
    r"(?i)(?:your message wasn't delivered to|ihre nachricht wurde nicht an"
    r"|couldn't be delivered to|konnte nicht an|could not be delivered to:?|rcpt to:"
    r"|target mail address:|recipients returned permanent errors:)\s+<?([^\s<>]+@[^\s<>,;]+)"
)
_ORIGINAL_STARTS = re.compile(
    r"(?im)^(?:-+ ?(?:below this line is a copy of the message|original message|"
    r"this is a copy of the message|the header of the original message)"
    r"|original message headers:)"
)


def text_failures(text: str) -> tuple[list[str], list[str]]:
    """(failed, delayed) recipients found by layout in a non-DSN bounce text."""
    if not text:
        return [], []
    cut = _ORIGINAL_STARTS.search(text)
    report = text[: cut.start()] if cut else text
    ses = _ses_failures(report)
    if ses is not None:
        return ses
    inline_dsn = _text_dsn(report)
    if inline_dsn[0] or inline_dsn[1]:
        return inline_dsn
    delayed = _addresses_after(report, _DELAY_INTRO)
    failed = _addresses_after(report, _FAILED_INTRO)
    if not failed and not delayed:
        failed = [a for a in (_clean_address(m) for m in _ANGLE_LINE.findall(report)) if a]
    if not failed and not delayed:
        failed = [a for a in (_clean_address(m) for m in _INLINE.findall(report)) if a]
    return failed, delayed


def _text_dsn(text: str) -> tuple[list[str], list[str]]:
    """DSN fields pasted into the text part (Amazon WorkMail, some gateways)."""
    if "final-recipient" not in text.lower():
        return [], []
    failed: list[str] = []
    delayed: list[str] = []
    for block in parse_dsn_fields(text):
        action = block.get("action", "").lower()
        address = _dsn_address(block) if "final-recipient" in block else ""
        if address and action.startswith(("failed", "error")):
            failed.append(address)
        elif address and action.startswith("delayed"):
            delayed.append(address)
    return failed, delayed


_SES_BOUNCE = re.compile(r'"notificationType\\?"\s*:\s*\\?"Bounce')
_SES_TRANSIENT = re.compile(r'"bounceType\\?"\s*:\s*\\?"Transient')
_SES_ADDRESS = re.compile(r'"emailAddress\\?"\s*:\s*\\?"([^"\\]+)')


def _ses_failures(text: str) -> tuple[list[str], list[str]] | None:
    """Amazon SES bounce notifications (JSON body, maybe inside an SNS envelope).

    Read with regexes, not json: real samples arrive with folded lines that break the JSON.
    """
    if not is_ses_bounce(text):
        return None
    head = text[:20_000]
    found = [a for a in (_clean_address(m) for m in _SES_ADDRESS.findall(head)) if a]
    return ([], found) if _SES_TRANSIENT.search(head) else (found, [])


def is_ses_bounce(text: str) -> bool:
    """True for an Amazon SES/SNS bounce notification (JSON body, notificationType Bounce)."""
    return text.lstrip().startswith("{") and bool(_SES_BOUNCE.search(text[:5000]))


def _addresses_after(text: str, intro: re.Pattern[str]) -> list[str]:
    """Addresses on the few lines after each intro line, until the first line without one."""
    out: list[str] = []
    for match in intro.finditer(text):
        lines = text[match.end() :].split("\n")[1:12]
        seen_any = False
        for line in lines:
            found = [a for a in (_clean_address(m) for m in _ADDR.findall(line)) if a]
            if found:
                out.extend(found[:1])  # "x@y (x@y)" or "x@y<mailto:x@y>" name one recipient
                seen_any = True
            elif line.strip() and seen_any:
                break
    return out


# --- Message-IDs of our original mail ---------------------------------------------------------


def _quoted_ids(message: Message) -> Iterator[str]:
    """Message-IDs in message/rfc822 and text/rfc822-headers parts (the returned original)."""
    for part in _walk(message):
        ctype = part.get_content_type()
        if ctype in _MESSAGE_TYPES:
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                yield from _MSGID.findall(str(inner.get("message-id", "")))
        elif ctype in _HEADER_TYPES:
            data = part.get_payload(decode=True)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
            headers = HeaderParser(policy=email.policy.compat32).parsestr(text)
            yield from _MSGID.findall(str(headers.get("message-id", "")))


def find_message_ids(text: str) -> list[str]:
    """Message-IDs on "Message-ID:" lines of a bounce text (qmail and Exchange quote inline)."""
    return _MSGID_LINE.findall(text) if text else []


# --- helpers ----------------------------------------------------------------------------------


def _plain_text(message: Message) -> str:
    """The decoded text/plain parts of a message, for when the caller has no text."""
    texts: list[str] = []
    for part in _walk(message):
        if part.get_content_type() != "text/plain" or part.is_multipart():
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            texts.append(data.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(texts)


def _walk(message: Message) -> Iterator[Message]:
    """Message.walk() that stops quietly on the odd structure the stdlib cannot walk."""
    try:
        yield from message.walk()
    except Exception as exc:  # e.g. a payload that is neither list nor str after a defect
        log.info("bounce: cannot walk message (%s)", type(exc).__name__)


def _clean_address(value: str) -> str:
    value = value.strip().strip("<>").strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    address = parseaddr(value)[1] if ("<" in value or " " in value) else value
    address = address.strip().strip("<>.,;:").lower()
    return address if _VALID.match(address) else ""


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))[:MAX_ADDRESSES]


def _unique_ids(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.lower(), value)
    return tuple(seen.values())
