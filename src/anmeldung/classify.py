"""Pure: ordered, named rules decide what kind of message this is; the first match wins.

Each rule is a small function registered in ``RULES`` as ``(name, rule)``. It returns None
("not mine") or a ``Classification`` whose ``reason`` is the rule's name or a more specific
sub-name (``bounce_dsn_failed``, ``precedence_bulk`` ...), so the database can answer "why?".

The order, and why:

 1. ``own_address``       our own From address or our own Message-ID coming back: first, so
                           that nothing we sent ourselves can ever start a mail loop.
 2. ``dsn``               ``multipart/report; report-type=delivery-status`` or any
                           ``message/delivery-status`` part (RFC 3462/6522, RFC 3464). Failed
                           vs delayed is read from ``Action:``, not the status code. Bounces
                           come before auto-replies because many bounces also carry
                           ``Auto-Submitted`` and ``Precedence``, and a bounce must reach the
                           bounce handling (it marks a registration unreachable).
 3. ``read_receipt``      RFC 8098 MDNs (``report-type=disposition-notification``) and the
                           subject-only receipts of Outlook ("Gelesen:", "Read:").
 4. ``report``            any other ``multipart/report``: ARF complaints (RFC 5965,
                           ``feedback-report``) go to review as kind "other" (a recipient
                           called our mail spam; a person should look), the rest auto_reply.
 5. ``bounce_sender``     MAILER-DAEMON / "Mail Delivery System" senders; postmaster only
                           with a bounce subject or a readable failure report.
 6. ``bounce_header``     ``X-Failed-Recipients`` (Exim).
 7. ``bounce_subject``    "Undelivered Mail Returned to Sender", "Unzustellbar:", ...
 8. ``bounce_null_sender`` null return path (RFC 5321 4.5.5) and a readable failure report.
    ``bounce_text``       a bounce layout with failed recipients in the unquoted text (KDDI,
                           Amazon SES JSON notifications), with typical error words.
    ``untyped_report``    a multipart/report without report-type that no bounce rule took.
 9. ``auto_submitted``    RFC 3834 5.1: any ``Auto-Submitted`` other than "no".
10. ``x_autoreply``       vendor headers: X-Autoreply, X-Autorespond, X-Apple-Action, ...
11. ``auto_response_suppress``  Exchange/Outlook ``X-Auto-Response-Suppress``.
12. ``precedence``        ``Precedence: bulk|junk|list`` (RFC 3834 3.1.8 lists it as a sign).
13. ``list_mail``         ``List-Id`` (RFC 2919) or ``List-Unsubscribe``/``List-Post`` (RFC 2369).
14. ``null_sender``       null return path without a bounce report: some robot; never answered.
15. ``out_of_office``     subject, then first unquoted lines, for auto-replies without headers
                           ("Automatische Antwort", "Abwesenheitsnotiz", "Out of Office").
16. ``ticket_system``     "[Ticket#123]" style acknowledgements of help-desk software.
17. ``no_sender``         no From address at all: nobody to answer; review.
    Header facts (9-14) come before text heuristics (15-16): reliable reasons win.
18. ``cancellation``      cancellation words in the subject or the unquoted body. Before
                           registration because "cancel my registration" contains both.
                           For replies to our mail only the body counts: the subject is ours.
19. ``reply_to_own_message``  a person answering one of our Message-IDs (In-Reply-To /
                           References): corrections, questions; a person must read them.
                           One that asks to register somebody more is a registration
                           (``registration_in_reply``).
20. ``registration``      registration words in the subject or the unquoted body.
    (A plain match whose words read strongly like a question or thanks to the learned
    intent model, intent.py, is ``intent_veto``: kind "other", for review.)
21. ``no_intent``         anything else: kind "other", for review; unless the learned intent
                           model reads a registration in it (``intent_model``).

Only kinds "registration" and "cancellation" may ever be answered (``may_reply``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property
from typing import Literal

from .bounces import (
    BounceReport,
    analyse_bounce,
    has_dsn_part,
    is_ses_bounce,
    parse_raw,
    text_failures,
)
from .intent import IntentModel, shipped_model
from .parse import ParsedMessage

Kind = Literal["registration", "cancellation", "auto_reply", "bounce", "other"]
KINDS: tuple[Kind, ...] = ("registration", "cancellation", "auto_reply", "bounce", "other")

__all__ = [
    "KINDS",
    "RULES",
    "Classification",
    "ClassifyContext",
    "Incoming",
    "Kind",
    "Rule",
    "classify",
    "unquoted_text",
]


@dataclass(frozen=True)
class ClassifyContext:
    """What the rules may know beyond the message itself."""

    own_addresses: frozenset[str] = frozenset()
    # Message-IDs (without brackets) of mail we sent; used to spot replies and bounces to us.
    is_own_message_id: Callable[[str], bool] = field(default=lambda _mid: False)
    # The learned second opinion on intent (intent.py); None: the rules alone decide.
    intent_model: IntentModel | None = field(default_factory=shipped_model)


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: str  # the name of the rule that matched (or its more specific sub-name)
    bounced: tuple[str, ...] = ()  # lower-case recipients a bounce reports as failed
    temporary: bool = False  # a bounce that only reports a delay (nobody failed yet)
    # Message-IDs (no brackets) a bounce quotes: In-Reply-To/References and those of the
    # returned original; the pipeline looks them up to find the confirmation that bounced.
    original_message_ids: tuple[str, ...] = ()
    delayed: tuple[str, ...] = ()  # lower-case recipients a bounce reports as only delayed

    @property
    def may_reply(self) -> bool:
        """Only a person's registration or cancellation ever gets an answer."""
        return self.kind in ("registration", "cancellation")


class Incoming:
    """One message as the rules see it: the parsed message, the raw bytes when known, and the
    costlier views (unquoted text, bounce report) computed once, on first use."""

    def __init__(
        self, msg: ParsedMessage, raw: bytes | None = None, stdlib: Message | None = None
    ) -> None:
        self.msg = msg
        self.raw = raw
        if stdlib is not None and raw is not None:
            self.__dict__["stdlib"] = stdlib  # already parsed from raw: no second parse

    @cached_property
    def stdlib(self) -> Message | None:
        return parse_raw(self.raw)

    @cached_property
    def has_dsn(self) -> bool:
        return self.stdlib is not None and has_dsn_part(self.stdlib)

    @cached_property
    def bounce(self) -> BounceReport:
        msg = self.msg
        return analyse_bounce(
            self.stdlib,
            msg.text,
            reply_ids=(*msg.in_reply_to, *msg.references),
            exclude_ids=(msg.message_id,) if msg.message_id else (),
        )

    @cached_property
    def unquoted(self) -> str:
        return unquoted_text(self.msg.text)

    @cached_property
    def report_type(self) -> str:
        """The report-type of a multipart/report, lower-case ("" otherwise)."""
        if self.msg.content_type != "multipart/report":
            return ""
        found = _REPORT_TYPE.search(self.msg.header("content-type") or "")
        return found.group(1).lower() if found else ""

    def is_reply_to_own(self, ctx: ClassifyContext) -> bool:
        ids = (*self.msg.in_reply_to, *self.msg.references)
        return any(_own_id(ctx, mid) for mid in ids)


Rule = Callable[[Incoming, ClassifyContext], Classification | None]

_REPORT_TYPE = re.compile(r"(?i)report-type\s*=\s*\"?([a-z0-9._-]+)")


def _own_id(ctx: ClassifyContext, mid: str) -> bool:
    try:
        return bool(ctx.is_own_message_id(mid))
    except Exception:  # a lookup bug must not stop the worker; "not ours" is the safe answer
        return False


def _header_value(msg: ParsedMessage, name: str) -> str:
    return (msg.header(name) or "").split(";")[0].strip().lower()


def _has_header(msg: ParsedMessage, name: str) -> bool:
    return bool(msg.headers.get(name))


# --- 1. loops -----------------------------------------------------------------------------------


def own_address(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    msg = inc.msg
    own = {a.lower() for a in ctx.own_addresses}
    if msg.sender and msg.sender in own:
        return Classification("other", "own_address")
    if msg.message_id and _own_id(ctx, msg.message_id):
        return Classification("other", "own_message_id")
    return None


# --- 2-8. bounces and reports -------------------------------------------------------------------


def _bounce(
    inc: Incoming, ctx: ClassifyContext, reason: str, extra: Iterable[str] = ()
) -> Classification:
    """A bounce result from the bounce report; "<reason>_delayed" when it is only a delay."""
    report = inc.bounce
    own = {a.lower() for a in ctx.own_addresses}
    failed = tuple(a for a in dict.fromkeys((*report.failed, *extra)) if a not in own)
    delayed = tuple(a for a in report.delayed if a not in own)
    temporary = not failed and (bool(delayed) or bool(_DELAY_SUBJECT.search(inc.msg.subject)))
    return Classification(
        "bounce",
        f"{reason}_delayed" if temporary else reason,
        bounced=failed,
        temporary=temporary,
        original_message_ids=report.original_message_ids,
        delayed=delayed,
    )


def dsn(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # RFC 3464 / RFC 6522: the report part is the evidence; a delivery-status part outside a
    # multipart/report (seen from old MTAs) counts too when we have the raw bytes.
    if inc.report_type != "delivery-status" and not inc.has_dsn:
        return None
    report = inc.bounce
    if report.source == "dsn" and not report.found:
        # Action delivered/relayed/expanded only: a success notice, nothing bounced.
        return Classification(
            "auto_reply", "dsn_success", original_message_ids=report.original_message_ids
        )
    result = _bounce(inc, ctx, "bounce_dsn")
    if result.temporary:
        return result
    return Classification(
        "bounce",
        "bounce_dsn_failed" if result.bounced else "bounce_dsn_unreadable",
        bounced=result.bounced,
        original_message_ids=result.original_message_ids,
        delayed=result.delayed,
    )


_READ_SUBJECT = re.compile(
    r"(?i)^\s*(?:gelesen|read|nicht gelesen|not read|ungelesen gelöscht|zugestellt|delivered"
    r"|lesebestätigung|read receipt|return receipt|read report)\s*:"
)


def read_receipt(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # RFC 8098 (MDN); Outlook and Exchange also send subject-only receipts without the report.
    if inc.report_type == "disposition-notification" or _READ_SUBJECT.search(inc.msg.subject):
        return Classification("auto_reply", "read_receipt")
    return None


def report(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # A multipart/report without report-type (seen from old MTAs) is left to the bounce rules;
    # ``untyped_report`` catches it after them.
    if inc.msg.content_type != "multipart/report" or not inc.report_type:
        return None
    if inc.report_type == "feedback-report":
        # RFC 5965 ARF: someone marked our mail as spam. Never answered; a person should see it.
        return Classification("other", "feedback_report")
    return Classification("auto_reply", "report")


_DAEMON_LOCALPARTS = frozenset(
    ("mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "maildaemon")
)
# Postmasters are people too: their mail is a bounce only with a bounce subject or report.
_POSTMASTER_LOCALPARTS = frozenset(("postmaster", "post_master"))
_DAEMON_NAMES = re.compile(
    r"(?i)^(?:mail delivery (?:system|subsystem|service)|mail administrator|mailer[- ]daemon"
    r"|post office|e-?mail delivery system)$"
)


def bounce_sender(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    msg = inc.msg
    local = msg.sender.split("@", 1)[0]
    if local in _DAEMON_LOCALPARTS or _DAEMON_NAMES.match(msg.sender_name.strip()):
        return _bounce(inc, ctx, "bounce_mailer_daemon")
    if local in _POSTMASTER_LOCALPARTS and (
        _BOUNCE_SUBJECT.search(msg.subject) or inc.bounce.found
    ):
        return _bounce(inc, ctx, "bounce_postmaster")
    return None


def bounce_header(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # Exim names the failed recipients in X-Failed-Recipients.
    values = inc.msg.headers.get("x-failed-recipients")
    if not values:
        return None
    extra = [a.strip().strip("<>").lower() for v in values for a in v.split(",") if "@" in a]
    return _bounce(inc, ctx, "bounce_failed_recipients", extra)


_BOUNCE_SUBJECT = re.compile(
    r"(?i)^\s*(?:\[[^\]]*\]\s*)?(?:"
    r"undeliver(?:ed|able)|undelivered mail returned to sender|delivery status notification"
    r"|delivery (?:failure|failed|notification|report|problem)|failure notice|returned mail"
    r"|mail delivery (?:failed|failure|problem)|message delivery failure|mail returned"
    r"|unzustellbar|nicht zustellbar|zustellung fehlgeschlagen|benachrichtigung zum übermittlungs"
    r"|non[- ]?deliver(?:y|able)|warning: could not send message|delayed mail"
    r"|delivery delayed|zustellung verzögert|message not delivered|unable to deliver"
    r"|could not send message|mail system error|returned to sender|delivery has failed"
    r"|permanent delivery failure|mail error\b|(?:mail|message) could not be delivered"
    r"|mail delivery warning|there was an error sending your mail|failed mail"
    r"|(?:e-?mail )?bounce notification"
    r")"
)
_DELAY_SUBJECT = re.compile(
    r"(?i)(?:\(delay\)|delayed mail|delivery delayed|warning: could not send message"
    r"|zustellung verzögert|\(verzögerung\)|still being retried|delivery status notification "
    r"\(delay\)|mail delivery warning)"
)


def bounce_subject(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    if _BOUNCE_SUBJECT.search(inc.msg.subject):
        return _bounce(inc, ctx, "bounce_subject")
    return None


def bounce_null_sender(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # A null reverse-path alone also marks auto-replies (Exchange sends OOF with <>), so only a
    # readable failure report makes it a bounce.
    if inc.msg.return_path == "" and inc.bounce.found:
        return _bounce(inc, ctx, "bounce_null_sender")
    return None


def bounce_text(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # Last bounce chance: a bounce layout in the sender's own text (not in a quoted or forwarded
    # part) that names failed recipients, e.g. KDDI's Japanese notices; Amazon SES JSON.
    if is_ses_bounce(inc.msg.text):
        return _bounce(inc, ctx, "bounce_ses")
    failed, delayed = text_failures(inc.unquoted[:_HEAD_CHARS])
    if (failed or delayed) and _BOUNCE_WORDS.search(inc.unquoted[:_HEAD_CHARS]):
        return _bounce(inc, ctx, "bounce_text")
    return None


_BOUNCE_WORDS = re.compile(
    r"(?i)(?:\b550\b|\b5\.\d\.\d+\b|user unknown|mailbox (?:is )?full|no such user"
    r"|permanent error|could not be delivered|delivery (?:has )?failed|unzustellbar)"
)


def untyped_report(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    if inc.msg.content_type == "multipart/report":
        return Classification("auto_reply", "report")
    return None


# --- 9-14. automatic mail by header -------------------------------------------------------------


def auto_submitted(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # RFC 3834 5.1: any value other than "no" means the message was generated automatically.
    value = _header_value(inc.msg, "auto-submitted")
    if value and value != "no":
        return Classification("auto_reply", "auto_submitted")
    return None


_AUTOREPLY_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-autoreply-from",
    "x-mail-autoreply",
    "x-fc-machinegenerated",
)


def x_autoreply(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    msg = inc.msg
    if any(_has_header(msg, name) for name in _AUTOREPLY_HEADERS):
        return Classification("auto_reply", "x_autoreply")
    if _header_value(msg, "x-autogenerated") == "reply":  # Outlook.com
        return Classification("auto_reply", "x_autoreply")
    if _header_value(msg, "x-apple-action") == "vacation":  # iCloud vacation: no other sign
        return Classification("auto_reply", "x_autoreply")
    if "autoresponder" in (msg.header("x-post-messageclass") or "").lower():
        return Classification("auto_reply", "x_autoreply")
    return None


def auto_response_suppress(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # Exchange marks its own automatic mail (OOF, receipts) so that others do not answer it.
    value = _header_value(inc.msg, "x-auto-response-suppress")
    if value and value != "none":
        return Classification("auto_reply", "auto_response_suppress")
    return None


def precedence(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    value = _header_value(inc.msg, "precedence")
    if value in ("bulk", "junk", "list"):
        return Classification("auto_reply", f"precedence_{value}")
    return None


def list_mail(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    msg = inc.msg
    # RFC 2369/2919: List-Id and List-Post mark mail distributed by a mailing list; RFC 8058
    # one-click List-Unsubscribe-Post marks a mass mailing (newsletters must send it).
    if any(_has_header(msg, h) for h in ("list-id", "list-post", "list-unsubscribe-post")):
        return Classification("auto_reply", "list_mail")
    # List-Unsubscribe alone is a sender with an opt-out (CRM campaign, vendor) writing to us:
    # never answered, but a person may want to read it (an exhibitor's inquiry): "other".
    if _has_header(msg, "list-unsubscribe"):
        return Classification("other", "bulk_mail")
    return None


def null_sender(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    # RFC 5321 4.5.5: the null reverse-path <> marks notifications that must not be answered.
    if inc.msg.return_path == "":
        return Classification("auto_reply", "null_sender")
    return None


# --- 15-17. automatic mail by text --------------------------------------------------------------

_OOO_SUBJECT = re.compile(
    r"(?i)(?:automatische antwort|abwesenheitsnotiz|abwesenheitsmeldung|abwesenheit:"
    r"|out of (?:the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response"
    r"|automatische rückantwort|automatische benachrichtigung|vacation (?:reply|notice)"
    r"|urlaubsbenachrichtigung|urlaubsnotiz|\bOOO\b|away from (?:the )?office"
    r"|nicht im büro|außer haus|ausser haus|abwesend bis|^abwesend:"
    r"|réponse automatique|message d'absence|absente? du bureau)"
)
# Phrases only robots write; they decide alone.
_AUTO_BODY_STRONG = re.compile(
    r"(?i)(?:dies ist eine automatische (?:antwort|nachricht|benachrichtigung)"
    r"|diese (?:nachricht|e-?mail) wurde automatisch (?:generiert|erstellt|versendet)"
    r"|this is an? (?:automatic|automated|auto-generated) (?:reply|response|message)"
    r"|this (?:message|e-?mail) (?:was|has been) (?:automatically|auto-?)generated"
    r"|automatische antwort|abwesenheitsnotiz|automatic reply"
    r"|ceci est une réponse automatique|ce message est envoyé automatiquement"
    r"|dies ist eine automatisch (?:erzeugte|generierte|erstellte|versandte) (?:nachricht|e-?mail"
    r"|antwort|benachrichtigung)|unter der vorgangsnummer\b)"
)
# Phrases a person may also write ("I am out of office next week, but register me"): they decide
# only when the text has no registration or cancellation words.
_AUTO_BODY_WEAK = re.compile(
    # Dialect: Swabian/Bavarian "i bin", "net"/"ned" for "nicht".
    r"(?i)(?:\b(?:ich bin|bin ich|i bin|bin i|i am|i'm|i will be|ich befinde mich)\b"
    r"(?:[^.\n]|(?<=\d)\.){0,80}?"
    r"(?:nicht im büro|nicht im hause|außer haus|ausser haus|abwesend|nicht erreichbar|im urlaub"
    r"|in (?:elternzeit|mutterschutz|elternurlaub|kur|reha)\b|auf dienstreise|in urlaub"
    r"|nicht im dienst"
    r"|out of (?:the )?office|on (?:vacation|holiday|annual leave|leave)|away from (?:the|my)"
    r" (?:office|desk)|currently away|not in the office)"
    r"|\bout of (?:the )?office\b|\bthank you for your (?:e-?mail|message)\. i am\b"
    # French: "je suis absente jusqu'au 3 mai", "je serai en congé"
    r"|\bje (?:suis|serai)\s+(?:actuellement\s+)?(?:absente?|en congés?|en vacances"
    r"|en déplacement)\b"
    r"|\bdès mon retour\b|\bà mon retour\b"
    r"|\bvielen dank für ihre (?:e-?mail|nachricht)\. ich bin\b"
    r"|\b(?:nach meiner rückkehr|after my return|upon my return)\b"
    r"|\bwird nicht (?:automatisch )?weitergeleitet\b|\bwill not be forwarded\b"
    r"|\bwird\b[^.\n]{0,30}\b(?:nicht|net|ned)\b[^.\n]{0,20}\b(?:gelesen|weitergeleitet"
    r"|bearbeitet)\b"
    r"|\bles\w* (?:meine|ihre) (?:e-?mails|mails|nachrichten|post)\b(?:[^.\n]){0,30}"
    r"\b(?:nicht|net|ned)\b)"
)
_TICKET_SUBJECT = re.compile(
    r"(?i)(?:\[(?:ticket|case|request|anfrage|vorgang|incident)\s*(?:#|nr\.?|no\.?|:)?\s*\d+\]"
    r"|\bticket\s*#\s*\d+|\[#\d{3,}\])"
)


def out_of_office(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    if _OOO_SUBJECT.search(inc.msg.subject):
        return Classification("auto_reply", "out_of_office_subject")
    head = inc.unquoted[:_HEAD_CHARS]
    if _AUTO_BODY_STRONG.search(head):
        return Classification("auto_reply", "out_of_office_body")
    if _AUTO_BODY_WEAK.search(head) and not (_intent(_CANCEL, head) or _intent(_REGISTER, head)):
        return Classification("auto_reply", "out_of_office_body")
    return None


def ticket_system(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    if _TICKET_SUBJECT.search(inc.msg.subject):
        return Classification("auto_reply", "ticket_system")
    return None


def no_sender(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    if not inc.msg.sender:
        return Classification("other", "no_sender")
    return None


# --- 18-21. what a person wants -----------------------------------------------------------------

_HEAD_CHARS = 3000  # intent lives at the top; long mails (newsletters) should not match by chance

# The gap inside a sentence: any character but a sentence end, and a single line break, because
# mail clients wrap long lines ("hiermit melde ich\nmich verbindlich an"); a blank line ends it.
_G = r"(?:[^.\n!?]|\n(?![ \t>]*\n))"

_CANCEL = re.compile(
    r"(?im)(?:\babmeld\w*|\bmelde[nt]?\b" + _G + r"{0,60}?\bab\b(?=\s*(?:[.!,;]|$|und\b))"
    r"|\bstornier\w*|\bstorno\b|\babsage\b|\bsage[n]? (?:\w+ ){0,3}ab\b|\babsagen\b"
    r"|\b(?:kann|können|könnte|werde|werden)\b(?:[^.\n]{0,40}?)\bnicht\b"
    r"(?:[^.\n]{0,30}?)\b(?:teilnehmen|kommen|dabei sein)\b"
    r"|\bnehmen? (?:\w+ )?nicht teil\b|\bziehe (?:meine|unsere) anmeldung zurück\b"
    # "ziehe ich meine Anmeldung zum Forum am 3.5. zurück", "Rückzug meiner Anmeldung"
    r"|\b(?:ziehe|ziehen|nehme|nehmen)\b[^.\n]{0,20}\b(?:meine|unsere|die|seine|ihre)\s+"
    r"(?:anmeldung|zusage|teilnahme)\b" + _G + r"{0,60}?\bzurück\b"
    r"|\brückzug\b[^.\n]{0,20}\b(?:anmeldung|zusage|teilnahme)\b"
    r"|\b(?:anmeldung|zusage|teilnahme)\b" + _G + r"{0,60}?\bzurück(?:ziehen|nehmen)\b"
    # "Rücktritt Anmeldung Kommunaltag", "Rücktritt von der Teilnahme"
    r"|\brücktritt\b[^.\n]{0,20}\b(?:anmeldung|teilnahme|registrierung)\b"
    r"|\bcancel(?:l?ing|l?ed)? (?:my|our|the|his|her) (?:registration|booking|attendance|place"
    r"|seat|spot|participation)|\bcancell?ation\b|\bplease cancel\b"
    r"|\b(?:i|we) (?:have to|must|need to|would like to|want to) cancel\b"
    r"|\bunsubscribe (?:me|us) from the (?:event|symposium|conference)"
    r"|(?<!who )(?<!which )\b(?:can|could|will) (?:no longer|not|n't) (?:be able to )?attend\b"
    r"|\b(?:can't|cannot|won't|unable to) (?:be able to )?(?:attend|make it|come)\b"
    r"|\bwithdraw (?:my|our) registration\b"
    # Bavarian: "i ko ned kemma", "streichts mi vo da Listn"
    r"|\b(?:ned|net)\s+(?:kemma|kumma|kommen)\b"
    r"|\b(?:kommet|kommed|kemmet|kemma|kumma|komm|kumm)\b[^.\n]{0,20}\b(?:ned|net)\b"
    r"|\bstreich\w*\s+(?:mi|mich|uns)\b"
    # French: "annuler mon inscription", "je ne pourrai pas venir", "me désinscrire"
    r"|\bannul(?:er|e|ons|ez)\b[^.\n]{0,40}\b(?:inscription|participation|réservation|venue)\b"
    r"|\bannulation\b|\bdésinscri\w*|\bme désister\b"
    r"|\b(?:ne|n')\s*(?:pourrai|pourrons|pourra|pourrais|pourrions|peux|pouvons|peut)\s+(?:pas|plus)"
    r"\s+(?:venir|participer|assister|être présente?s?)\b"
    # Swiss German "chume nöd", Dutch "afmelden", "kan helaas niet komen", Italian "disdire"
    r"|\b(?:chume|chömed|chömmed)\s+(?:\w+\s+){0,2}(?:nöd|nid|ned)\b|\bafmeld\w*|\bafmell\w*"
    r"|\b(?:kan|kunnen)\s+(?:helaas\s+)?niet\s+(?:komen|deelnemen|aanwezig zijn)\b"
    r"|\bdisdir\w*|\bannullare\b|\bnon (?:potrò|potremo|posso) (?:partecipare|venire)\b"
    r"|\bschaffe es\b[^.\n]{0,30}\bnicht\b|\bbitte streichen\b)"
)
_REGISTER = re.compile(
    # "Anmeldung", "anmelden", the form; not "Anmeldeteam", "Anmeldeschluss", "Anmeldefrist".
    r"(?im)(?:\banmeld(?:e|en|et|est|ung|ungen|eformular\w*|ebogen\w*)\b"
    r"|\bmelde[nt]?\b" + _G + r"{0,200}?\ban\b(?=\s*(?:[.!,;:]|$|und\b|and\b))"
    r"|\bangemeldet\b"
    # Casual yeses to an invitation: "bin gern dabei", "ich komme gerne", "trag mich ein".
    r"|\b(?:bin|sind|wäre|wären|wir sind|ich bin)\b[^.\n!?]{0,40}?\bdabei\b"
    r"|^\s*(?:sehr\s+)?gerne?\s+dabei\b"
    r"|\b(?:ich komme?|komme? ich|wir kommen|kommen wir)\s+(?:sehr\s+)?gerne?\b"
    r"|\b(?:ja,?\s+)?(?:ich komme|wir kommen|komme ich|kommen wir)"
    r"(?=\s*(?:[.!:]|$|zu (?:zweit|dritt|viert|fünft)\b))"
    # "ich komme zusammen mit unserer Kassenleiterin zum Kongress": coming, with whom or where
    r"|\b(?:ich komme|wir kommen|komme ich|kommen wir)\b(?![^.\n!?]{0,40}\bnicht\b)"
    r"[^.\n!?]{0,60}?\b(?:zusammen mit|gemeinsam mit|in begleitung|mit (?:meine[rm]?|unsere[rm]?)\b"
    r"|zu[mr]\s+(?:\w+\s+)?(?:kongress|tagung|symposium|veranstaltung|fachtag|forum|konferenz"
    r"|workshop|seminar|treffen)\w*)"
    # Swabian/Bavarian "mir kommet", "mia kemma", "i komm gern": dialect "wir"/"ich" + kommen
    # Hessian "mir komme gern", "isch komm"
    r"|\b(?:mir|mia)\s+(?:kommet|kommed|kemmet|kemma|kumma|komme)\b"
    r"(?!\s+(?:\w+\s+)?(?:nicht|net|ned)\b)"
    r"|\b(?:i|ich|isch)\s+(?:komm|kumm|kimm)(?:e|a)?\b"
    r"(?=\s*(?:[.!]|$|gern|zu (?:zweit|zwoit|dritt|viert)))"
    r"|\btrag\w*\s+(?:sie\s+|du\s+)?(?:mich|uns)\b[^.\n!?]{0,40}?\bein\b"
    r"|\bnotieren sie (?:mich|uns)\b|\bmerken sie (?:mich|uns)\b[^.\n!?]{0,60}\bvor\b|\bvormerk\w*"
    r"|\b(?:platz|plätze)\b[^.\n!?]{0,30}?\breservier\w*"
    r"|\b(?:i|we)(?:'ll| will| shall) be there\b|\b(?:i|we)(?:'d| would) (?:love|like) to come\b"
    r"|\b(?:put|add) (?:me|us) (?:down|on the list)\b"
    r"|\b(?:reserve|book|save|hold)\b(?: (?:me|us))?(?: (?:a|one|two|three|four|\d+))?"
    r"(?: more)? (?:seats?|places?|spots?|tickets?)\b"
    r"|\b(?:nehme[n]?|nimmt)\b" + _G + r"{0,160}?\bteil\b(?=\s*(?:[.!,;:]|$|und\b))"
    r"|\baufnahme in die teilnehme\w*"
    r"|\bzusage\b|\bsage[n]?\b" + _G + r"{0,60}?\bzu\b(?=\s*(?:[.!,;]|$|und\b))|\bzusagen\b"
    r"|\bteilnahme\b|\bteilnehmen\b|\bteilnehmer(?:in|innen|n)?\b"
    r"|\bregistrier(?:e|en|t|ung)\b"  # German: "registrieren Sie mich", "Registrierung"
    r"|\bregist(?:er|ration|ering)\w*|\bsign (?:me|us) up\b|\battend\w*|\bcount (?:me|us) in\b"
    r"|\bwould like to (?:join|participate)\b|\bparticipat\w*"
    # French: "je souhaite m'inscrire", "je participerai", "je serai présente"
    r"|\bm['’]inscri\w*|\bnous inscri\w*|\binscrivez[- ](?:moi|nous)\b|\bparticiper\w*"
    r"|\b(?:je serai|nous serons) présente?s?\b"
    # Swiss German "i chume gärn", "mir chömed"; Dutch "ik meld me aan", "aanmelding",
    # "ik kom graag"; Italian "mi iscrivo", "iscrizione", "parteciperò"
    r"|\b(?:i|ich)\s+chume\b(?!\s+(?:\w+\s+)?(?:nöd|nid|ned)\b)"
    r"|\bmir\s+(?:chömed|chömmed)\b(?!\s+(?:\w+\s+)?(?:nöd|nid|ned)\b)"
    r"|\baanmeld\w*|\bmeld\w*\s+(?:ik\s+|wij\s+|we\s+)?(?:me|mij|ons)\s+aan\b"
    r"|\b(?:ik kom|wij komen|we komen)\s+graag\b"
    r"|\bmi iscriv\w*|\biscrizione\b|\bparteciper\w*)"
)


# A filled-in reply form ("Name: …" and "Organisation: …" lines) says yes without a verb.
_FORM_NAME = re.compile(r"(?im)^[ \t>*]*(?:vor-? und zuname|name|full name)\s*:[ \t]*\S")
_FORM_MORE = re.compile(
    r"(?im)^[ \t>*]*(?:organisation|organization|institution|behörde|dienststelle|verwaltung"
    r"|kommune|firma|funktion|position|amt|e-?mail)\s*:[ \t]*\S"
)
# Asking before deciding is not a registration, whatever words it uses ("bevor ich mich
# anmelde", "whether I can attend"); such mail goes to a person.
_UNDECIDED = re.compile(
    r"(?i)\b(?:bevor|ehe|falls|wenn|ob)\s+(?:ich|wir)\s+(?:mich|uns|es)?\s*(?:[\w.]+\s+){0,4}?"
    r"(?:anmelde\w*|teilnehme\w*|teilnehmen|komme\w*|dabei sein|schaffe\w*|einrichten)\b"
    r"|\bweiß (?:\w+ ){0,2}noch nicht\b"
    r"|\b(?:whether|if|before)\s+(?:i|we)\s+(?:can|could|will|would|should)?\s*"
    r"(?:be able to\s+)?(?:attend|register|come|participate|join)\b"
    r"|\b(?:noch nicht|not yet)\s+(?:sicher|entschieden|decided|sure)\b"
    r"|\bif so\b[^.!?]{0,40}\b(?:i|we)\s*(?:would|will|'d|'ll|shall)\b"
    r"|\büberlegt noch\b"
    # "wir überlegen, mit drei Leuten teilzunehmen", "sobald das geklärt ist, melde ich … an"
    r"|\b(?:wir überlegen|ich überlege|überlegen wir|überlege ich)\b"
    r"|\bsobald\b[^.!?]{0,60}\b(?:melde|anmelden|anmelde)\b"
    # "Die Anmeldung schicke ich Ihnen, sobald die Genehmigung vorliegt", "wir melden uns dann
    # mit unseren Anmeldungen": a registration promised for later
    r"|\b(?:anmeldung|anmeldungen|zusage)\b[^.!?]{0,40}\b(?:schicke|sende|senden|schicken|folgt"
    r"|kommt|kommen)\b[^.!?]{0,40}\b(?:sobald|wenn|nachdem|später)\b"
    r"|\b(?:wir|ich)\s+melden?\s+(?:uns|mich)\s+(?:dann|später|noch|wieder)\b"
    r"|\b(?:dann|in dem fall|falls ja|je nachdem),?\s+würden?\b[^.!?]{0,100}\banmelden\b"
    r"|\bob\s+jemand\b[^.!?]{0,60}\b(?:teilnimmt|kommt|anmeldet)\b"
    r"|\bwürden?\s+(?:ich|wir)\s+(?:mich|uns)\s+dann\b[^.!?]{0,40}\banmelden\b"
    # "Falls das möglich ist, würde ich mich anschließend gerne anmelden."
    r"|\b(?:falls|wenn|sofern)\b[^.!?]{0,80},\s*würden?\s+(?:ich|wir)\b[^.!?]{0,60}"
    r"\b(?:anmelden|teilnehmen|kommen)\b"
)


# Full stops that do not end a sentence: dates ("12.3.", "12. März") and abbreviations ("Dr.",
# "z. B."). The intent patterns stay inside one sentence by refusing "."; these must not stop them.
_INNER_DOTS = re.compile(
    # A dot between two letters sits inside an address, a domain or "z.B.", not at a sentence end.
    r"(?<=\d)\.|(?<=\w)\.(?=\w)"
    r"|(?i:\b(?:dr|prof|hr|hrn|fr|nr|bzw|ca|mr|mrs|ms|dipl|ing|st|inkl|evtl|ggf|geb"
    r"|z\.\s?b|u\.\s?a|i\.\s?a|i\.\s?v|rer|pol|nat|med|phil|jur|vgl)\.)"
)


def intent_text(text: str) -> str:
    """``text`` with the full stops removed that do not end a sentence. Pure."""
    text = re.sub(r"\b([sS])\.\s?([uUoO])\.", r"\1 \2", text)  # "(s. u.)", "s. o."
    return _INNER_DOTS.sub(lambda m: m.group(0)[:-1], text)


def _intent(pattern: re.Pattern[str], text: str) -> bool:
    return bool(pattern.search(intent_text(text)))


# Passing the invitation on ("meldet euch ggf. an", "melden Sie sich bitte direkt an") asks
# others to register; it registers nobody.
_OTHERS_ASKED = re.compile(
    r"(?i)\b(?:meldet\s+(?:ihr\s+)?euch|melde\s+dich|melden\s+sie\s+sich"
    r"|wer\b[^.!?\n]{0,40}\bmeldet\s+sich)\b" + _G + r"{0,80}?(?:\ban\b|[.!?\n]|$)"
    # "weitergeleitet, damit sich Interessierte direkt bei Ihnen anmelden können"
    r"|\bdamit sich\b[^.!?\n]{0,60}\banmelden\b"
)


# Saying one is registered already ("ich bin bereits angemeldet und hätte eine Frage", "ich habe
# mich vor zwei Wochen angemeldet") or that something is no registration registers nobody.
_REG_WORD = r"(?:anmeld\w*|angemeldet|registr\w*|teilnahme|zusage|teilnehmen)"
_NOT_NEW = re.compile(
    r"(?i)\b(?:bereits|schon|already)\b" + _G + r"{0,60}?\b(?:angemeldet|registered|bestätigt"
    r"|confirmed)\b"
    r"|\b(?:habe|hatte|hatten)\s+(?:ich\s+|wir\s+)?(?:mich|uns)\b" + _G + r"{0,60}?\bangemeldet\b"
    r"|\bdoppelt\s+an(?:zu)?melden\b"
    # (a long role in between, "ich bin als … für die Tagung angemeldet", but not "ich bin
    # dabei und habe … angemeldet")
    r"|\b(?:ich bin|wir sind|bin ich|sind wir)\b(?:(?!\b(?:dabei|und|sowie|aber|habe|haben)\b)"
    r"[^.!?]){0,110}\bangemeldet\b"
    r"|\b(?:i|we)\s+(?:have\s+|'ve\s+)?(?:already\s+)?registered\b"
    r"|\b(?:i am|i'm|we are|we're)\s+(?:already\s+)?registered\b"
    # "I sent my registration on Monday", "ich habe meine Anmeldung letzte Woche geschickt": a
    # sentence with a registration noun, a verb of sending and a time before now.
    r"|(?:^|(?<=[.!?\n]))(?=[^.!?\n]*\b(?:last week|yesterday|ago|on (?:mon|tues|wednes|thurs"
    r"|fri)day|earlier|already|letzte[nr]? woche|vorige[nr]? woche|vergangene[nr]? woche|gestern"
    r"|vorgestern|bereits|schon|vor (?:\w+ )?(?:tagen|wochen)|am (?:montag|dienstag|mittwoch"
    r"|donnerstag|freitag))\b)(?=[^.!?\n]*\b(?:registration|anmeldung|anmeldeformular)\b)"
    r"[^.!?\n]*\b(?:sent|submitted|e-?mailed|mailed|geschickt|gesendet|gesandt|übermittelt"
    r"|abgeschickt|eingereicht)\b[^.!?\n]*"
    r"|\b(?:keine?|nicht|niemand)\b[^,;.!?\n]{0,40}?\b" + _REG_WORD + r"\b"
    r"|\b" + _REG_WORD + r"\b[^,;.!?\n]{0,30}?\b(?:nicht|not)\b"
)


# Asking whether one still can ("Ist die Anmeldung noch möglich?") is a question for a person.
_CAN_I_STILL = re.compile(
    r"(?i)[^.!?\n]*\b(?:noch möglich|noch offen|noch frei|noch plätze|kann man|still (?:possible"
    r"|open)|any (?:places|seats) left|angekommen|eingegangen|erhalten|nötig|notwendig"
    r"|erforderlich|receive[d]?|arrived?|come through|gone through|necessary|needed|required"
    r"|bien reçue?|arrivée?)\b[^.!?\n]*\?"
)


# A question about others taking part ("dürfen auch ehrenamtliche Ratsmitglieder teilnehmen?",
# "is the workshop open to students?") registers nobody; a question that asks for the writer
# ("Können Sie mich noch anmelden?", "could you register us?") still does.
_QUESTION_ABOUT_OTHERS = re.compile(
    r"(?i)(?:^|(?<=[.!?:\n]))(?![^.!?:\n]*\b(?:mich|uns|mir|me|us|my|our|meine\w*|unsere\w*"
    r"|ich|wir|i|we|herrn?|frau|kolleg\w*|sie|you)\b)[^.!?:\n]*\?"
)
# "die Anmeldungen kämen dann direkt von den Gemeinderäten": others will register themselves.
_OTHERS_WILL = re.compile(
    r"(?i)\b(?:die\s+)?(?:anmeldung(?:en)?|registrierung(?:en)?)\s+(?:kämen|kommen|würden|werden"
    r"|erfolgen|laufen)\b[^.!?\n]{0,60}\b(?:von|selbst|direkt|durch)\b[^.!?\n]*"
)


def _register_intent(text: str) -> bool:
    text = _NOT_NEW.sub(" ", _OTHERS_ASKED.sub(" ", intent_text(text)))
    text = _CAN_I_STILL.sub(" ", text)
    asks = "?" in text
    text = _OTHERS_WILL.sub(" ", _QUESTION_ABOUT_OTHERS.sub(" ", text))
    if _UNDECIDED.search(text):
        text = _UNDECIDED.sub(" ", text)
        # Whoever asks before deciding and says nothing else about it wants an answer.
        return bool(_REGISTER.search(text)) and not asks
    return bool(_REGISTER.search(text)) or (
        bool(_FORM_NAME.search(text)) and bool(_FORM_MORE.search(text))
    )


# "Ich selbst nehme nicht teil" in a mail that registers colleagues says who is NOT
# registered; it cancels nothing, so the sentence is left out of the cancellation check.
_SELF_EXCLUDED = re.compile(
    r"(?i)[^.\n!?]*\b(?:ich selbst|i myself|myself)\b[^.\n!?]*\b(?:nicht|not)\b[^.\n!?]*[.!]?"
)


# A sales mail's footer ("Keine weiteren Nachrichten? Antwort mit „Abmelden“ genügt.") tells how
# to unsubscribe; the word in quotes cancels nothing.
_UNSUBSCRIBE_HINT = re.compile(
    r"(?i)[„\"»‚'‹]\s*(?:abmelden|abmeldung|austragen|unsubscribe|remove|stop)\s*[“\"«‘'›”’]"
    r"|\bkeine weiteren (?:nachrichten|e-?mails|newsletter|informationen)\b"
)


# A substitute ("An seiner Stelle kommt Frau X", "instead, my colleague Y will attend"): the
# desk registers the newcomer; the mail is a registration, the cancelled name is left out.
_SUBSTITUTE = re.compile(
    r"(?i)\b(?:an (?:seiner|ihrer) stelle|statt (?:seiner|ihrer|herrn?|frau)|stattdessen"
    r"|an meiner stelle|als (?:ersatz|vertretung)|in (?:seiner|ihrer) vertretung"
    r"|vertritt (?:ihn|sie)|teilnehmerwechsel|in (?:his|her) place"
    # "Statt meiner kommt Frau X", "Für Herrn Dr. Y kommt Frau Z", "an meiner statt"
    r"|(?:an)?statt meiner|anstelle meiner|an meiner statt"
    r"|für (?:herrn|frau)\s+(?:[\w.-]+\s+){1,4}(?:kommt|nimmt)"
    r"|instead)\b"
)


# A maybe about someone else ("my colleague may be interested in attending instead; he will
# contact you himself") names no substitute.
_MAYBE_SOMEONE = re.compile(
    r"(?i)[^.!?\n]*\b(?:(?:may|might|could) be interested|will contact you (?:him|her|them)sel"
    r"|(?:hätte|hat|haben) (?:eventuell|vielleicht|ggf|möglicherweise) (?:auch )?interesse"
    r"|meldet sich (?:\w+ ){0,3}selbst"
    # "Ob jemand anderes an seiner Stelle kommen kann, gebe ich Ihnen noch Bescheid": open
    r"|\bob\b[^.!?\n]{0,60}\b(?:an (?:seiner|ihrer) stelle|stattdessen|als ersatz|instead))"
    r"[^.!?\n]*[.!?]?"
)


def cancellation(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    head = _UNSUBSCRIBE_HINT.sub(" ", intent_text(inc.unquoted[:_HEAD_CHARS]))
    if _SUBSTITUTE.search(_MAYBE_SOMEONE.sub(" ", head)) and (
        _register_intent(head) or re.search(r"(?i)\b(?:kommt|kommen|nimmt|nehmen|comes?)\b", head)
    ):
        return Classification("registration", "substitute")
    if _SELF_EXCLUDED.search(head) and _register_intent(_SELF_EXCLUDED.sub(" ", head)):
        head = _SELF_EXCLUDED.sub(" ", head)
    # In a reply to our mail the subject is ours ("Re: Ihre Abmeldung ..."), so only the body.
    subject = "" if inc.is_reply_to_own(ctx) else inc.msg.subject
    if _intent(_CANCEL, subject) or _intent(_CANCEL, head):
        return Classification("cancellation", "cancellation")
    return None


# An answer to our confirmation that adds somebody ("Bitte melden Sie auch meine Kollegin
# Frau Berg an") is a new registration; thanks, corrections and questions stay with a person.
_ADDS = re.compile(
    r"(?i)\b(?:auch|noch|zusätzlich|ebenfalls|außerdem|weitere[nr]?|also|additionally|as well"
    r"|another|too)\b"
)


def _adds_someone(text: str) -> bool:
    for sentence in re.split(r"(?<=[.!?])\s+|\n[ \t]*\n", intent_text(text)):
        sentence = sentence.strip()
        if sentence.endswith("?") or not _ADDS.search(sentence):
            continue
        if _REGISTER.search(sentence) and not re.search(r"(?i)\b(?:dank|thank)", sentence):
            return True
    return False


def reply_to_own_message(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    if inc.is_reply_to_own(ctx):
        if _adds_someone(inc.unquoted[:_HEAD_CHARS]):
            return Classification("registration", "registration_in_reply")
        return Classification("other", "reply_to_own_message")
    return None


_OUR_SUBJECT = re.compile(
    r"(?i)\b(?:ihre[rsmn]?|deine[rsmn]?|your|meine[rmns]?|unsere[rmns]?|my|our)\s+(?:anmeldung"
    r"|teilnahme|registration"
    r"|teilnahmebestätigung)\b|^.*\?\s*$"
)


def registration(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    head = inc.unquoted[:_HEAD_CHARS]
    if _UNDECIDED.search(head):
        if _register_intent(head):
            return _unless_vetoed(inc, ctx)
        return None
    # "AW: Ihre Anmeldung zum …" is our confirmation's subject, not the writer's intent.
    subject = _OUR_SUBJECT.sub(" ", inc.msg.subject)
    if _intent(_REGISTER, subject) or _register_intent(head):
        return _unless_vetoed(inc, ctx)
    return None


def _unless_vetoed(inc: Incoming, ctx: ClassifyContext) -> Classification:
    """A registration word matched; a text that reads strongly like a question or thanks
    ("ich bin schon angemeldet … muss man sich gesondert anmelden?") goes to a person."""
    model = ctx.intent_model
    if model is not None and model.score(inc.msg.subject, inc.unquoted) < model.veto:
        return Classification("other", "intent_veto")
    return Classification("registration", "registration")


# Somebody who registers speaks for themselves or their office: "ich", "wir", "unser", in
# dialect "isch", "mir", "mia", "i". An announcement or a test message does not.
_FIRST_PERSON = re.compile(
    r"(?i)\b(?:ich|wir|mich|uns|mir|meine?[rsmn]?|unse?re?[rsmn]?|isch|mia|i|we|me|us|my|our"
    r"|je|nous|moi|mon|ma|mes|notre|nos)\b"
)


def no_intent(inc: Incoming, ctx: ClassifyContext) -> Classification | None:
    model = ctx.intent_model
    head = inc.unquoted[:_HEAD_CHARS]
    if (
        model is not None
        and _FIRST_PERSON.search(head)
        # Registration words the rules saw and set aside ("schon angemeldet", "bevor ich mich
        # anmelde", "keine neue Anmeldung") were read; the model does not overrule that.
        and not _REGISTER.search(intent_text(head))
        and model.evidence(inc.msg.subject, inc.unquoted) > model.accept
    ):
        # No rule knows the phrase, but the words read like a registration ("gerne nehmen
        # wir die Einladung an", dialect): the learned model decides (intent.py).
        return Classification("registration", "intent_model")
    return Classification("other", "no_intent")


RULES: tuple[tuple[str, Rule], ...] = (
    ("own_address", own_address),
    ("dsn", dsn),
    ("read_receipt", read_receipt),
    ("report", report),
    ("bounce_sender", bounce_sender),
    ("bounce_header", bounce_header),
    ("bounce_subject", bounce_subject),
    ("bounce_null_sender", bounce_null_sender),
    ("bounce_text", bounce_text),
    ("untyped_report", untyped_report),
    ("auto_submitted", auto_submitted),
    ("x_autoreply", x_autoreply),
    ("auto_response_suppress", auto_response_suppress),
    ("precedence", precedence),
    ("list_mail", list_mail),
    ("null_sender", null_sender),
    ("out_of_office", out_of_office),
    ("ticket_system", ticket_system),
    ("no_sender", no_sender),
    ("cancellation", cancellation),
    ("reply_to_own_message", reply_to_own_message),
    ("registration", registration),
    ("no_intent", no_intent),
)


def classify(
    msg: ParsedMessage,
    ctx: ClassifyContext,
    raw: bytes | None = None,
    stdlib: Message | None = None,
) -> Classification:
    """Run the rules in order; the first that matches decides.

    ``raw`` (the message's bytes) is optional; with it, bounces are read from their
    message/delivery-status parts and by flufl.bounce, without it only from the text.
    ``stdlib`` is the compat32 parse of ``raw`` when the caller has it (parse_message_tree()).
    """
    inc = Incoming(msg, raw, stdlib)
    for _name, rule in RULES:
        result = rule(inc, ctx)
        if result is not None:
            return result
    return Classification("other", "no_rule_matched")


# --- quoted text --------------------------------------------------------------------------------

_QUOTE_HEADER = re.compile(
    r"(?i)^\s*(?:am\b.{0,120}\bschrieb\b.{0,200}:\s*$|on\b.{0,160}\bwrote:\s*$"
    r"|le\b.{0,120}\ba écrit\s*:\s*$)"
)
_WRAPPED_START = re.compile(r"(?i)^\s*(?:am|on|le)\b")
_QUOTE_START = re.compile(
    r"(?i)^\s*(?:-{2,}\s*(?:ursprüngliche nachricht|original message|weitergeleitete nachricht"
    r"|forwarded message|nachricht im original)\s*-{2,}|_{10,}\s*$|begin forwarded message:)"
)
_OUTLOOK_FROM = re.compile(r"(?i)^\s*\*?(?:von|from)\s*:\*?\s+\S")
_OUTLOOK_FIELDS = re.compile(
    r"(?i)^\s*\*?(?:gesendet|sent|datum|date|an|to|betreff|subject|cc)\s*:\*?(?:\s|$)"
)


def unquoted_text(text: str) -> str:
    """The part of a mail body the sender wrote now: quoted lines and quoted originals removed.

    Drops lines starting with ">" and cuts at the first "Am … schrieb …:", "On … wrote:" (also
    when the mail client wrapped it over two lines), "-----Ursprüngliche Nachricht-----",
    "-----Original Message-----", an Outlook "Von: / Gesendet: / An: / Betreff:" block or an
    Outlook underscore rule. Signatures are kept (extraction may want the name in them). Pure.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    skip_until = 0
    for i, line in enumerate(lines):
        if i < skip_until:
            continue
        if _QUOTE_START.match(line):
            break
        header_lines = 0
        if _QUOTE_HEADER.match(line):
            header_lines = 1
        elif (
            i + 1 < len(lines)
            and _WRAPPED_START.match(line)
            and _QUOTE_HEADER.match(f"{line} {lines[i + 1].strip()}")
        ):
            header_lines = 2
        if header_lines:
            # An attribution line followed by ">" lines is a bottom or inline reply: skip the
            # quote, keep what the sender wrote below it. Otherwise everything below is quoted.
            if _quoted_block_follows(lines[i + header_lines :]):
                skip_until = i + header_lines
                continue
            break
        if _OUTLOOK_FROM.match(line) and _outlook_block(lines[i + 1 : i + 6]):
            break
        if line.lstrip().startswith(">"):
            continue
        out.append(line)
    return "\n".join(out).strip()


def _quoted_block_follows(following: list[str]) -> bool:
    """True when the first non-blank line below an attribution line is quoted with ">"."""
    for line in following:
        if line.strip():
            return line.lstrip().startswith(">")
    return False


def _outlook_block(following: list[str]) -> bool:
    """True when at least two header-like lines (Gesendet/An/Betreff ...) follow a "Von:" line."""
    return sum(1 for line in following if _OUTLOOK_FIELDS.match(line)) >= 2
