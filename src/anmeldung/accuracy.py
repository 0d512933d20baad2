"""Per-field accuracy of analyse() over a labelled folder of .eml files and expected.json.

``expected.json`` maps a file name to ``{"kind": …, "attendees": [{"email", "name", "title",
"organisation"}, …]}``. Kind and attendee count are scored per message; email, name, title and
organisation per expected attendee, matched to what was extracted by email and name, then by
email, then by position. Values compare after whitespace is collapsed and case is folded.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .analyse import analyse
from .classify import ClassifyContext
from .extract import Attendee, extract_attendees

FIELDS = ("kind", "count", "email", "name", "title", "organisation")
# The labelled corpus plays the symposium of "Musterstadt": our address, and the Message-ID
# domain of the confirmations we send (replies to them carry it in In-Reply-To).
OWN_ADDRESSES = frozenset({"anmeldung@symposium.musterstadt.example"})
OWN_MESSAGE_ID_DOMAIN = "@anmeldung.symposium.musterstadt.example"


def _own_message_id(mid: str) -> bool:
    return mid.lower().endswith(OWN_MESSAGE_ID_DOMAIN)


# A value that would split a header we write: any CR or LF (a "Bcc:" after it would be a header).
_HEADERISH = re.compile(r"[\r\n\u2028\u2029\x85]")


@dataclass(frozen=True)
class Failure:
    file: str
    field: str
    expected: Any
    got: Any


@dataclass
class AccuracyReport:
    messages: int = 0
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    failures: list[Failure] = field(default_factory=list)
    # The same attendee fields from extract_attendees() alone on every message labelled a
    # registration or cancellation, so a classification miss does not hide extraction quality.
    alone_right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS[1:], 0))
    alone_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS[1:], 0))
    alone_failures: list[Failure] = field(default_factory=list)
    injected: int = 0  # extracted values carrying a line break (header injection)
    review: int = 0  # attendees below REVIEW_BELOW

    def ratio(self, name: str) -> float:
        return self.right[name] / self.total[name] if self.total[name] else 1.0

    def alone_ratio(self, name: str) -> float:
        total = self.alone_total.get(name, 0)
        return self.alone_right[name] / total if total else 1.0


def _norm(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split()).casefold()
    return text or None


def _same(exp: dict[str, Any], got: Attendee, with_name: bool) -> bool:
    if _norm(exp.get("email")) != _norm(got.email):
        return False
    return not with_name or _norm(exp.get("name")) == _norm(got.name)


def _match(expected: list[dict[str, Any]], got: list[Attendee]) -> list[Attendee | None]:
    """For each expected attendee the extracted one it is compared with (or None)."""
    free = list(range(len(got)))
    pairs: list[int | None] = [None] * len(expected)
    for with_name in (True, False):
        for i, exp in enumerate(expected):
            if pairs[i] is not None:
                continue
            j = next((j for j in free if _same(exp, got[j], with_name)), None)
            if j is not None:
                pairs[i] = j
                free.remove(j)
    for i in range(len(expected)):
        if pairs[i] is None and i in free:
            pairs[i] = i
            free.remove(i)
    return [got[j] if j is not None else None for j in pairs]


def measure(folder: Path) -> AccuracyReport:
    """Run the real analyse() on every labelled message in ``folder`` and score each field."""
    labels: dict[str, dict[str, Any]] = json.loads(
        (folder / "expected.json").read_text(encoding="utf-8")
    )
    ctx = ClassifyContext(own_addresses=OWN_ADDRESSES, is_own_message_id=_own_message_id)
    report = AccuracyReport()
    for name in sorted(labels):
        expected = labels[name]
        result = analyse((folder / name).read_bytes(), ctx)
        report.messages += 1
        got = list(result.attendees)
        kind = expected["kind"]
        _score(report.right, report.total, report.failures, name, "kind", kind, result.kind)
        exp_people: list[dict[str, Any]] = expected.get("attendees", [])
        _score_people(report.right, report.total, report.failures, name, exp_people, got)
        alone: list[Attendee] = []
        if expected["kind"] in ("registration", "cancellation"):
            alone = extract_attendees(result.parsed, kind=expected["kind"])  # the true kind
            _score_people(report.alone_right, report.alone_total, report.alone_failures, name,
                          exp_people, alone)  # fmt: skip
        for att in {*got, *alone}:
            report.review += att.needs_review
            values = (att.email, att.name, att.title, att.salutation, att.organisation,
                      att.function)  # fmt: skip
            report.injected += sum(1 for v in values if v and _HEADERISH.search(v))
    return report


def _score_people(
    right: dict[str, int],
    total: dict[str, int],
    failures: list[Failure],
    file: str,
    expected: list[dict[str, Any]],
    got: list[Attendee],
) -> None:
    _score(right, total, failures, file, "count", len(expected), len(got))
    for exp, att in zip(expected, _match(expected, got), strict=True):
        for fld in ("email", "name", "title", "organisation"):
            value = getattr(att, fld) if att is not None else None
            _score(right, total, failures, file, fld, exp.get(fld), value)


def _score(
    right: dict[str, int],
    total: dict[str, int],
    failures: list[Failure],
    file: str,
    fld: str,
    expected: Any,
    got: Any,
) -> None:
    total[fld] += 1
    if _norm(expected) == _norm(got):
        right[fld] += 1
    else:
        failures.append(Failure(file, fld, expected, got))


def format_report(report: AccuracyReport) -> str:
    """A table of per-field percentages, then every failing case."""
    lines = [
        f"{report.messages} messages; 'analyse' is the real pipeline, 'extract alone' skips",
        "classification (messages labelled registration or cancellation)",
        "",
        f"{'field':<14}{'right':>7}{'total':>7}{'analyse':>9}{'extract alone':>15}",
    ]
    for fld in FIELDS:
        pct = f"{100 * report.ratio(fld):.1f}%"
        alone = f"{100 * report.alone_ratio(fld):.1f}%" if fld in report.alone_total else "-"
        lines.append(f"{fld:<14}{report.right[fld]:>7}{report.total[fld]:>7}{pct:>9}{alone:>15}")
    lines.append(f"{'injected':<14}{report.injected:>7}")
    lines.append(f"{'to review':<14}{report.review:>7}")
    if report.failures:
        lines += ["", "failures (file, field, expected, got):"]
        lines += [f"  {f.file}  {f.field}: {f.expected!r} != {f.got!r}" for f in report.failures]
    seen = {(f.file, f.field) for f in report.failures}
    extra = [f for f in report.alone_failures if (f.file, f.field) not in seen]
    if extra:
        lines += ["", "failures of extraction alone not listed above:"]
        lines += [f"  {f.file}  {f.field}: {f.expected!r} != {f.got!r}" for f in extra]
    return "\n".join(lines)


def combine(reports: dict[str, AccuracyReport]) -> AccuracyReport:
    """One report over several folders: counts added, failures named "folder/file"."""
    total = AccuracyReport()
    for folder, r in reports.items():
        total.messages += r.messages
        total.injected += r.injected
        total.review += r.review
        pairs = (
            (r.right, total.right),
            (r.total, total.total),
            (r.alone_right, total.alone_right),
            (r.alone_total, total.alone_total),
        )
        for src, dst in pairs:
            for k, v in src.items():
                dst[k] += v
        total.failures += [
            Failure(f"{folder}/{f.file}", f.field, f.expected, f.got) for f in r.failures
        ]
        total.alone_failures += [
            Failure(f"{folder}/{f.file}", f.field, f.expected, f.got) for f in r.alone_failures
        ]
    return total


def format_summary(reports: dict[str, AccuracyReport]) -> str:
    """One line per folder and one for all of them: messages and each field's percentage."""
    width = max(len("all"), *(len(name) for name in reports))
    head = f"{'folder':<{width}}{'msgs':>6}" + "".join(f"{f[:5]:>8}" for f in FIELDS)
    lines = [head + f"{'inj.':>6}"]
    rows = {**reports, "all": combine(reports)}
    for name, r in rows.items():
        pcts = "".join(f"{100 * r.ratio(f):>7.1f}%" for f in FIELDS)
        lines.append(f"{name:<{width}}{r.messages:>6}{pcts}{r.injected:>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path("tests/labelled")
    print(format_report(measure(folder)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
