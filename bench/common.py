"""Shared plumbing for the benchmarks: servers, config, fast mailbox filling, timed CLI runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from anmeldung.devservers import DovecotServer, SmtpSink, find_dovecot

MAILBOX = "anmeldung@stadt.example"
PROCESSED = "Erledigt"
ROOT = Path(__file__).resolve().parent.parent

FIRST = ("Anna", "Jürgen", "Sabine", "Thomas", "Małgorzata", "Ayşe", "Klaus", "Petra", "Jan")
LAST = ("Müller", "Schmidt", "Wagner", "Becker", "Hoffmann", "Schäfer", "Koch", "Richter")
OFFICES = ("Stadtkämmerei", "Amt für Finanzen", "Kreisverwaltung", "Bürgermeisteramt")


def registration_mail(i: int, to: str = MAILBOX, tag: str = "bench") -> bytes:
    """A realistic registration (about 750 bytes, like the 10,000-mail sample in LIBRARY-NOTES).

    Every mail has its own sender address and Message-ID, so each one registers a new person.
    """
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    name = f"{first} {last}"
    town = f"stadt-{i % 97}"
    office = OFFICES[i % len(OFFICES)]
    return (
        f"From: {name} <person{i}@{town}.example>\r\n"
        f"To: {to}\r\n"
        "Subject: Anmeldung Symposium Kommunale Finanzen\r\n"
        f"Message-ID: <{tag}-{i}-{time.time_ns()}@{town}.example>\r\n"
        "Date: Wed, 25 Nov 2026 10:00:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Sehr geehrte Damen und Herren,\r\n\r\n"
        "hiermit melde ich mich verbindlich zum Symposium Kommunale Finanzen am 18. März an.\r\n"
        "Bitte senden Sie mir die Bestätigung an diese Adresse.\r\n\r\n"
        "Mit freundlichen Grüßen\r\n\r\n"
        f"{name}\r\n{office}\r\nStadt {town.title()}\r\nRathausplatz {i % 40 + 1}\r\n"
        f"12345 {town.title()}\r\nTel. 0228 {100000 + i}\r\n"
        f"E-Mail: person{i}@{town}.example\r\n"
    ).encode()


# -- servers and config ----------------------------------------------------------------------


@dataclass
class Servers:
    """A throwaway Dovecot and SMTP sink on loopback, with a work dir for configs and databases."""

    work: Path
    dovecot: DovecotServer
    sink: SmtpSink


@contextlib.contextmanager
def servers(keep: bool = False) -> Iterator[Servers]:
    if find_dovecot() is None:
        raise SystemExit("bench: Dovecot is missing (make deps installs dovecot-imapd/-lmtpd)")
    work = Path(tempfile.mkdtemp(prefix="anmeldung-bench-"))
    dovecot = DovecotServer(work / "dovecot")
    sink = SmtpSink()
    try:
        dovecot.start()
        sink.start()
        yield Servers(work, dovecot, sink)
    finally:
        sink.stop()
        dovecot.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def write_config(
    path: Path,
    srv: Servers,
    *,
    user: str = MAILBOX,
    db_url: str | None = None,
    batch_size: int = 100,
    idle: bool = True,
) -> Path:
    """An anmeldung.toml for ``user``'s mailbox; the loop fuse is opened wide for a backlog."""
    db_url = db_url or f"sqlite:///{path.with_suffix('.db')}"
    path.write_text(
        f"""
[event]
name = "Symposium Kommunale Finanzen 2027"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Altes Rathaus, Markt 2, 53111 Bonn"

[mailbox]
host = "127.0.0.1"
port = {srv.dovecot.imap_port}
security = "none"
username = "{user}"
password = "{srv.dovecot.password}"
processed_folder = "{PROCESSED}"
batch_size = {batch_size}
idle = {"true" if idle else "false"}

[smtp]
host = "127.0.0.1"
port = {srv.sink.port}
security = "none"
from = "Stadt Bonn – Anmeldung <{MAILBOX}>"

[database]
url = "{db_url}"

[schedule]
poll_seconds = 3600

[limits]
replies_per_hour = 1000000
""",
        encoding="utf-8",
    )
    return path


def fill_maildir(
    dovecot: DovecotServer, user: str, mails: Iterable[bytes], folder: str = "INBOX"
) -> int:
    """Write messages straight into the user's Maildir ``new/``; Dovecot indexes them on SELECT.

    APPEND costs about 3 ms a message (LIBRARY-NOTES); files in ``new/`` are instant. The
    ``,S=`` size in the name spares Dovecot a stat per message.
    """
    top = dovecot.maildir(user)
    box = top if folder == "INBOX" else top / f".{folder}"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    owner = pwd.getpwnam("dovecot") if os.geteuid() == 0 else None
    host = platform.node().replace("/", "_").replace(":", "_") or "bench"
    stamp = int(time.time())
    count = 0
    for count, raw in enumerate(mails, 1):
        name = box / "new" / f"{stamp}.M{count}P{os.getpid()}.{host},S={len(raw)}"
        name.write_bytes(raw)
        if owner is not None:
            os.chown(name, owner.pw_uid, owner.pw_gid)
    if owner is not None:
        for path in (top, *top.rglob("*")):
            if path.is_dir():
                os.chown(path, owner.pw_uid, owner.pw_gid)
    return count


def index_folder(dovecot: DovecotServer, user: str, folder: str) -> int:
    """Let Dovecot index a folder filled behind its back (as earlier polls would have)."""
    client = dovecot.imap(user)
    try:
        info = client.select_folder(folder, readonly=True)
        return int(info[b"EXISTS"])
    finally:
        client.logout()


# -- running the CLI and scripts -------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    # User + system CPU time of that child alone: on a shared machine the wall time grows with
    # the load, the CPU a process needed much less.
    cpu_seconds: float = 0.0


def run_timed(argv: Sequence[str], *, check: bool = True, cwd: Path | None = None) -> Run:
    """Run ``argv``; wall time, and the peak RSS and CPU time of that child alone (wait4, no
    psutil)."""
    env = {k: v for k, v in os.environ.items() if k != "ANMELDUNG_CONFIG"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)  # noqa: S603
        _pid, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Run(
            took,
            usage.ru_maxrss / 1024,  # Linux reports KiB
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
        )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def anmeldung(config: Path, *args: str) -> list[str]:
    """The real CLI, as an operator runs it (a fresh interpreter each time)."""
    return [sys.executable, "-m", "anmeldung", "--config", str(config), *args]


def bench_script(name: str, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "bench" / name), *args]


# -- reporting -------------------------------------------------------------------------------


@dataclass
class Figure:
    """One printed figure: the project's value, the baseline's, and the goal it is held to."""

    bench: str
    what: str
    size: int
    value: float
    unit: str
    baseline: float | None = None
    goal: str = ""
    ok: bool | None = None
    load: float = field(default_factory=lambda: os.getloadavg()[0])
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def line(self) -> str:
        base = f"{self.baseline:9.3f}" if self.baseline is not None else " " * 9
        ratio = f"{self.ratio:6.2f}x" if self.ratio is not None else " " * 7
        verdict = "" if self.ok is None else ("  ok" if self.ok else "  MISSED")
        goal = f"  goal {self.goal}" if self.goal else ""
        extra = "".join(f"  {k}={v}" for k, v in self.extra.items())
        return (
            f"{self.bench:<9} {self.what:<32} {self.size:>7} {self.value:10.3f} {self.unit:<4}"
            f" {base} {ratio}  load {self.load:4.2f}{goal}{verdict}{extra}"
        )


HEADER = (
    f"{'bench':<9} {'figure':<32} {'size':>7} {'value':>10} {'unit':<4} {'baseline':>9} "
    f"{'ratio':>7}"
)


class Report:
    """Collects figures, prints each as it comes (one line each), and optionally writes JSON."""

    def __init__(self, json_path: Path | None = None) -> None:
        self.figures: list[Figure] = []
        self.json_path = json_path
        print(HEADER, flush=True)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def close(self) -> None:
        if self.json_path is not None:
            data = [asdict(f) | {"ratio": f.ratio} for f in self.figures]
            self.json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def parser(doc: str, sizes: Sequence[int]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=list(sizes),
        help=f"comma-separated sizes (default {','.join(map(str, sizes))})",
    )
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, databases)")
    return p


def _first_line(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "not found"


def machine() -> dict[str, str]:
    """What the figures ran on: CPU, cores, RAM, load and the versions that matter."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else cpu
    ram = "unknown"
    with contextlib.suppress(OSError):
        m = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
        ram = f"{int(m.group(1)) / 1024 / 1024:.1f} GiB" if m else ram
    dovecot = find_dovecot()
    postgres = shutil.which("postgres") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)), None
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "dovecot": _first_line([dovecot, "--version"]) if dovecot else "not found",
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _first_line([str(postgres), "--version"]) if postgres else "not installed",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def print_machine() -> None:
    info = machine()
    print("# " + ", ".join(f"{k}: {v}" for k, v in info.items()), flush=True)


def clone_handled(db_path: Path, copies: int, spread_days: int = 0) -> None:
    """Copy the one handled message in ``db_path`` (and its registration and reply) ``copies``
    times, with fresh keys: a database as N earlier polls would have left it, in seconds.

    Every copy keeps the real row's sizes (raw mail, rendered reply), so indexes and pages are
    as large as the real thing. With ``spread_days`` the copies' times go back up to that
    many days (copy i by i mod spread_days days), as for a registration open for weeks.
    """

    def shift(col: str) -> str:
        if not spread_days:
            return col
        # Keep SQLAlchemy's storage format, microseconds included (SQLite's %f has three).
        return (
            f"strftime('%Y-%m-%d %H:%M:%S', {col}, '-' || (i % {int(spread_days)}) || ' days')"
            f" || substr({col}, 20)"
        )

    cte = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
    overrides = {
        "messages": {
            "uid": "uid + i",
            "message_key": "message_key || '-' || i",
            "message_id": "message_id || '-' || i",
            "sender": "'c' || i || '.' || sender",
            "received_at": shift("received_at"),
        },
        "registrations": {
            "email": "'c' || i || '.' || email",
            "contact_email": "'c' || i || '.' || contact_email",
            "message_pk": "message_pk + i",
            "registered_at": shift("registered_at"),
            "confirmation_sent_at": shift("confirmation_sent_at"),
        },
        "outbox": {
            "trigger": "trigger || '-' || i",
            "message_id": "'c' || i || '.' || message_id",
            "recipient": "'c' || i || '.' || recipient",
            "registration_id": "registration_id + i",
            "inbound_id": "inbound_id + i",
            "created_at": shift("created_at"),
            "sent_at": shift("sent_at"),
            "next_attempt_at": shift("next_attempt_at"),
        },
    }
    con = sqlite3.connect(db_path)
    try:
        for table, change in overrides.items():
            (count,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            assert count == 1, f"{table} holds {count} rows, expected the one template"
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
            exprs = [change.get(c, c) for c in cols]
            con.execute(
                f"{cte}INSERT INTO {table} ({', '.join(cols)}) "  # noqa: S608 (our own names)
                f"SELECT {', '.join(exprs)} FROM {table}, n WHERE {table}.id = 1",
                (copies,),
            )
        con.commit()
        con.execute("ANALYZE")
    finally:
        con.close()
