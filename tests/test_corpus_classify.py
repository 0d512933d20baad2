"""parse_message + classify over the shared corpus: no crash, five kinds, no reply to robots."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from anmeldung.classify import KINDS, Classification, ClassifyContext, classify
from anmeldung.parse import ParsedMessage, parse_message

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SKIP_NAMES = frozenset({"SOURCES.md", "MANIFEST.tsv"})
BOUNCE_FOLDERS = ("flufl.bounce/", "sisimai-set-of-emails/maildir/")
CTX = ClassifyContext(
    own_addresses=frozenset({"anmeldung@stadt.example"}),
    is_own_message_id=lambda mid: mid.endswith("@stadt.example"),
)

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS} (it lives outside the repo)"
)


def corpus_files(root: Path = CORPUS) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name not in SKIP_NAMES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


@cache
def corpus_results(
    root: Path = CORPUS,
) -> tuple[tuple[str, ParsedMessage, Classification], ...]:
    """(relative path, parsed, classification) for every corpus message; computed once."""
    out = []
    for path in corpus_files(root):
        raw = path.read_bytes()
        parsed = parse_message(raw)
        out.append((path.relative_to(root).as_posix(), parsed, classify(parsed, CTX, raw=raw)))
    return tuple(out)


def corpus_counts(root: Path = CORPUS) -> dict[str, int]:
    """Per-kind counts over the corpus (every kind present, zero when unused)."""
    counts = Counter(c.kind for _name, _p, c in corpus_results(root))
    return {kind: counts.get(kind, 0) for kind in KINDS}


def is_robot_by_header(msg: ParsedMessage) -> bool:
    """What a header or DSN says about automatic mail, independent of classify's rules."""
    auto = (msg.header("auto-submitted") or "").split(";")[0].strip().lower()
    prec = (msg.header("precedence") or "").strip().lower()
    return (
        msg.content_type == "multipart/report"
        or (bool(auto) and auto != "no")
        or prec in ("bulk", "junk", "list")
        or bool(msg.headers.get("list-id"))
        or msg.return_path == ""
        or msg.sender.split("@", 1)[0] == "mailer-daemon"
    )


def _bounce_sample(name: str) -> bool:
    """The MTA bounces of the corpus: flufl.bounce and sisimai's lhost/rhost/rfc3464 samples."""
    if name.startswith("flufl.bounce/"):
        return True
    return bool(re.search(r"maildir/(?:bsd|dos|mac|err)/(?:lhost|rhost|rfc3464|make-test)", name))


def test_corpus_has_messages() -> None:
    assert len(corpus_results()) > 200


def test_every_message_gets_one_of_the_five_kinds() -> None:
    for name, _parsed, result in corpus_results():
        assert result.kind in KINDS, name
        assert result.reason, name


def test_no_reply_to_automatic_mail() -> None:
    offenders = [
        (name, result.kind, result.reason)
        for name, parsed, result in corpus_results()
        if is_robot_by_header(parsed) and result.may_reply
    ]
    assert offenders == []


def test_bounces_are_mostly_recognised() -> None:
    samples = [(n, c) for n, _p, c in corpus_results() if _bounce_sample(n)]
    missed = [(n, c.kind, c.reason) for n, c in samples if c.kind != "bounce"]
    # Known misses (2 of 133): flufl simple_27, a "Warning: x - User unknown" notice with
    # Precedence: bulk (auto_reply, still never answered), and sisimai lhost-apachejames-01,
    # whose inner multipart boundary is not folded, so no parser finds its text.
    assert len(missed) <= 5, missed
    assert len(samples) - len(missed) >= 0.95 * len(samples)


def test_counts_cover_all_messages() -> None:
    counts = corpus_counts()
    assert sum(counts.values()) == len(corpus_results())
    print("corpus per-kind counts:", counts)  # shown with pytest -s
