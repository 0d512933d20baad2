"""Local message sources for `anmeldung import`: .eml files, folders of them, Maildirs, mboxes."""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError


@dataclass(frozen=True)
class LocalMessage:
    label: str  # where it came from, for logs and the messages table ("import:/path#3")
    raw: bytes


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _is_mbox(path: Path) -> bool:
    """An mbox starts with a "From " line (RFC 4155); an .eml file does not."""
    try:
        with path.open("rb") as fh:
            return fh.read(5) == b"From "
    except OSError:
        return False


# A body line "From ..." is stored as ">From ..." in an mbox (mboxo and mboxrd alike); mboxrd
# also quotes ">From " as ">>From ".
_FROM_QUOTED = re.compile(rb"(?m)^>(>*From )")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _unquote_from(raw: bytes) -> bytes:
    """Undo the mbox From-quoting in the body, which Python's mailbox.mbox leaves in place.

    Left quoted, a line like "From next week on I cannot attend, please cancel" reads as a
    quoted reply line: the classifier ignores it and the cancellation went to review. mboxrd
    unquoting; in an mboxo file a literal ">From " in a body loses its ">" (rare and harmless).
    """
    end = _HEADER_END.search(raw)
    if end is None:
        return raw
    return raw[: end.end()] + _FROM_QUOTED.sub(rb"\1", raw[end.end() :])


def count(paths: Sequence[Path]) -> int:
    """How many messages ``iterate`` will yield (for a progress bar)."""
    return sum(1 for _ in _walk(paths, read=False))


def iterate(paths: Sequence[Path]) -> Iterator[LocalMessage]:
    """Every message under ``paths``, one at a time (memory stays flat for big mboxes)."""
    for label, raw in _walk(paths, read=True):
        assert raw is not None
        yield LocalMessage(label, raw)


def _walk(paths: Sequence[Path], *, read: bool) -> Iterator[tuple[str, bytes | None]]:
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if _is_maildir(path):
            md = mailbox.Maildir(path, create=False)
            for key in sorted(md.iterkeys()):
                yield f"import:{path}#{key}", (md.get_bytes(key) if read else None)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            yield from _walk(files, read=read)
        elif _is_mbox(path):
            box = mailbox.mbox(path, create=False)
            for i, key in enumerate(box.iterkeys()):
                raw = _unquote_from(box.get_bytes(key)) if read else None
                yield f"import:{path}#{i + 1}", raw
        else:
            yield f"import:{path}", (path.read_bytes() if read else None)
