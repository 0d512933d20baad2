"""Pure: raw message bytes -> a cleaned, typed ParsedMessage (mail-parser lives behind this module).

Everything that comes out of here is safe to store and to show: no lone surrogates, no control
characters, no line breaks in single-line fields, bounded lengths. Nothing here opens a socket,
a file or a database session.
"""

from __future__ import annotations

import datetime as dt
import email
import email.errors
import email.policy
import hashlib
import html
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

log = logging.getLogger(__name__)

MAX_HEADER_CHARS = 998  # RFC 5322 section 2.1.1 line limit; longer values are cut, not rejected
MAX_NAME_CHARS = 200
MAX_BODY_CHARS = 200_000

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WS = re.compile(r"\s+")
_MSGID = re.compile(r"<([^<>\s]+)>")


@dataclass(frozen=True)
class ParsedMessage:
    """What anmeldung knows about one inbound message, cleaned for storage and display."""

    message_key: str  # normalised Message-ID, or "sha256:<hex>" of the raw bytes when it has none
    message_id: str | None  # the Message-ID without angle brackets, as sent
    content_hash: str
    sender: str  # lower-case address from From ("" when there is none)
    sender_name: str  # display name of From, cleaned ("" when there is none)
    subject: str
    date: dt.datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    reply_to: tuple[tuple[str, str], ...]
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    return_path: str | None  # None when absent; "" for the null sender <>
    content_type: str
    text: str  # the plain-text body, or text made from the HTML body
    html: str
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # lower-case names
    defects: tuple[str, ...] = ()
    size: int = 0

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw RFC 5322 bytes; broken input gives a best-effort result rather than an error."""
    return parse_message_tree(raw)[0]


def parse_message_tree(raw: bytes) -> tuple[ParsedMessage, Message]:
    """parse_message(), and the stdlib's compat32 view of the same bytes it was read from
    (what the bounce rules read), so a message is parsed once."""
    content_hash = hashlib.sha256(raw).hexdigest()
    msg, text_parts, html_parts, defects = _parse_parts(raw)

    headers: dict[str, list[str]] = {}
    # raw_items(), not items(): compat32 wraps undeclared 8-bit values in Header(unknown-8bit),
    # whose str() is U+FFFD, so the bytes could no longer be repaired (RFC 6532 / legacy Latin-1).
    for name, value in msg.raw_items():
        headers.setdefault(name.lower(), []).append(_header_text(value))

    def first(name: str) -> str:
        values = headers.get(name.lower())
        return values[0] if values else ""

    msgid_raw = first("message-id")
    message_id = normalize_message_id(msgid_raw)
    sender_name, sender = _first_address(msg, "from")
    html_body = "\n".join(html_parts)
    text_body = "\n".join(text_parts).strip("\n") or html_to_text(html_body)

    rp_values = headers.get("return-path")
    return_path: str | None = None
    if rp_values:
        return_path = parseaddr(rp_values[-1])[1].lower() if "<>" not in rp_values[-1] else ""

    parsed = ParsedMessage(
        message_key=message_id or f"sha256:{content_hash}",
        message_id=message_id,
        content_hash=content_hash,
        sender=sender,
        sender_name=sender_name,
        subject=clean_line(first("subject"), MAX_HEADER_CHARS),
        date=_date(first("date")),
        in_reply_to=tuple(parse_message_ids(first("in-reply-to"))),
        references=tuple(parse_message_ids(" ".join(headers.get("references", [])))),
        reply_to=_addresses(msg, "reply-to"),
        to=_addresses(msg, "to"),
        cc=_addresses(msg, "cc"),
        return_path=return_path,
        content_type=msg.get_content_type(),
        text=clean_text(text_body, MAX_BODY_CHARS),
        html=clean_text(html_body, MAX_BODY_CHARS),
        headers={
            k: tuple(clean_line(v, MAX_HEADER_CHARS) for v in vs) for k, vs in headers.items()
        },
        defects=tuple(defects),
        size=len(raw),
    )
    return parsed, msg


def _parse_parts(raw: bytes) -> tuple[Message, list[str], list[str], list[str]]:
    """Return the message and its text/HTML bodies, via mail-parser with a stdlib fallback.

    Either way the message is ``email.message_from_bytes(raw)`` with the compat32 policy
    (mail-parser's own parse, unchanged by it).
    """
    try:
        import mailparser

        mp: Any = mailparser.parse_from_bytes(raw)
        msg: Message = mp.message
        defects = [str(d) for d in (mp.defects_categories or [])]
        return msg, list(mp.text_plain or []), list(mp.text_html or []), defects
    except Exception as exc:  # mail-parser gives up on some broken MIME; we do not
        log.debug("mail-parser failed (%s: %s); using the stdlib parser", type(exc).__name__, exc)
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    texts: list[str] = []
    htmls: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = decode_bytes(payload, part.get_content_charset())
        (texts if ctype == "text/plain" else htmls).append(text)
    return msg, texts, htmls, ["fallback-parser"]


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode body bytes: declared charset, then UTF-8, then windows-1252 (never fails)."""
    for cs in (charset, "utf-8", "cp1252"):
        if not cs:
            continue
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def repair_surrogates(text: str) -> str:
    """Turn lone surrogates (raw 8-bit bytes smuggled through surrogateescape) back into text.

    mail-parser returns e.g. 'L\\udcfctkebohle' for a raw Latin-1 byte in a From header; such a
    string cannot be stored or put into a header. We re-read the bytes as UTF-8, else cp1252.
    """
    if not _SURROGATE.search(text):
        return text
    data = text.encode("utf-8", "surrogateescape") if _only_escapes(text) else None
    if data is None:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return decode_bytes(data)


def _only_escapes(text: str) -> bool:
    return all(not ("\ud800" <= ch <= "\udfff") or "\udc80" <= ch <= "\udcff" for ch in text)


def clean_text(text: str, max_chars: int = MAX_BODY_CHARS) -> str:
    """Multi-line text: repaired, NFC, no control characters but tab and newline, capped."""
    text = repair_surrogates(text).replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)  # tab and newline are not in _CONTROL
    return text[:max_chars]


def clean_line(text: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """One-line text: like clean_text, and every line break (also decoded ones) becomes a space.

    RFC 2047 words can carry an encoded CR LF (=0D=0A); once decoded it would split a header we
    write, so single-line values never keep one.
    """
    text = clean_text(text, max_chars * 4)
    return _WS.sub(" ", _CONTROL.sub(" ", text)).strip()[:max_chars]


def normalize_message_id(value: str) -> str | None:
    """``<Abc@Example.org>`` -> ``Abc@Example.org``; None when there is no usable id."""
    ids = parse_message_ids(value)
    if ids:
        return ids[0]
    bare = value.strip().strip("<>").strip()
    if bare and "@" in bare and not any(c.isspace() for c in bare):
        return bare[:MAX_HEADER_CHARS]
    return None


def parse_message_ids(value: str) -> list[str]:
    return [m[:MAX_HEADER_CHARS] for m in _MSGID.findall(clean_line(value, 20 * MAX_HEADER_CHARS))]


def _header_text(value: Any) -> str:
    """Decode one header value (str, email.header.Header, RFC 2047 words) to text."""
    raw = repair_surrogates(value) if isinstance(value, str) else str(value)
    try:
        if not isinstance(value, str) or "=?" in raw:
            text = str(make_header(decode_header(raw)))
        else:
            text = raw
    except (UnicodeError, LookupError, ValueError, email.errors.HeaderParseError):
        text = raw
    return repair_surrogates(text)


def _addresses(msg: Message, name: str) -> tuple[tuple[str, str], ...]:
    # Split on the raw header first and decode only the display names afterwards: RFC 2047
    # section 5 forbids encoded words in an addr-spec, and decoding first would let an encoded
    # ':' or '@' (or CR LF) in a display name replace the real address.
    values = [str(v) for k, v in msg.raw_items() if k.lower() == name]
    out: list[tuple[str, str]] = []
    for disp, addr in getaddresses(values):
        addr = clean_line(repair_surrogates(addr), 320).lower()
        if "@" not in addr:
            continue
        out.append((clean_line(_header_text(disp)), addr))
    return tuple(out)


def _first_address(msg: Message, name: str) -> tuple[str, str]:
    found = _addresses(msg, name)
    return found[0] if found else ("", "")


def _date(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        # RFC 5322 3.3: "-0000" means the zone is unknown; UTC is the honest reading.
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


class _TextFromHtml(HTMLParser):
    _BLOCK = frozenset(
        "p div br tr li h1 h2 h3 h4 h5 h6 table blockquote pre hr section article".split()
    )
    _SKIP = frozenset(("script", "style", "head", "title"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(_WS.sub(" ", data))


def html_to_text(markup: str) -> str:
    """Readable text from HTML: tags dropped, blocks and table rows become lines."""
    if not markup:
        return ""
    parser = _TextFromHtml()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:  # html.parser on some malformed declarations
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    lines = [line.strip(" ") for line in "".join(parser.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
