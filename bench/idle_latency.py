"""Benchmark: arrival-to-confirmation latency of `anmeldung run` in IMAP IDLE, and poll throughput.

Starts a throwaway Dovecot and SMTP sink on loopback, runs the real worker (`anmeldung run`,
interval poll one hour away, so only IDLE can explain a quick answer), delivers registrations
one at a time over LMTP and measures the time until the confirmation reaches the SMTP server.
Then it drops a backlog into the mailbox and times one `anmeldung poll` over it.

    .venv/bin/python bench/idle_latency.py [--mails 20] [--backlog 500]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from anmeldung.devservers import DovecotServer, SmtpSink, append, find_dovecot

MAILBOX = "anmeldung@stadt.example"


def _config(dovecot: DovecotServer, sink: SmtpSink) -> str:
    return f"""
[event]
name = "Symposium Kommunale Finanzen 2027"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Altes Rathaus, Markt 2, 53111 Bonn"

[mailbox]
host = "127.0.0.1"
port = {dovecot.imap_port}
security = "none"
username = "{MAILBOX}"
password = "{dovecot.password}"
processed_folder = "Erledigt"

[smtp]
host = "127.0.0.1"
port = {sink.port}
security = "none"
from = "Stadt Bonn – Anmeldung <{MAILBOX}>"

[database]
url = "sqlite:///anmeldung.db"

[schedule]
poll_seconds = 3600

[limits]
replies_per_hour = 100000
"""


FIRST = ("Anna", "Jürgen", "Sabine", "Thomas", "Małgorzata", "Ayşe", "Klaus", "Petra", "Jan")
LAST = ("Müller", "Schmidt", "Wagner", "Becker", "Hoffmann", "Schäfer", "Koch", "Richter")


def _mail(i: int) -> bytes:
    name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"
    return (
        f"From: {name} <person{i}@stadt-{i % 97}.example>\r\n"
        f"To: {MAILBOX}\r\n"
        f"Subject: Anmeldung Symposium\r\n"
        f"Message-ID: <bench-{i}-{time.time_ns()}@stadt.example>\r\n"
        "Date: Wed, 25 Nov 2026 10:00:00 +0100\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Sehr geehrte Damen und Herren,\r\n\r\nhiermit melde ich mich an.\r\n\r\n"
        f"Mit freundlichen Grüßen\r\n{name}\r\nStadtkämmerei\r\n"
    ).encode()


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "anmeldung", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=20, help="registrations delivered one by one")
    parser.add_argument("--backlog", type=int, default=500, help="messages for the poll timing")
    args = parser.parse_args()
    if find_dovecot() is None:
        print("bench: Dovecot is missing (apt-get install dovecot-imapd dovecot-lmtpd)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="anmeldung-bench-"))
    dovecot = DovecotServer(work / "dovecot")
    sink = SmtpSink()
    try:
        dovecot.start()
        sink.start()
        config = work / "anmeldung.toml"
        config.write_text(_config(dovecot, sink), encoding="utf-8")
        _run(config, "init")

        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "anmeldung", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "ANMELDUNG_CONFIG"},
        )
        latencies: list[float] = []
        try:
            time.sleep(2)  # first poll done, IDLE waiting
            for i in range(args.mails):
                started = time.monotonic()
                dovecot.deliver(MAILBOX, _mail(i))
                sink.wait_for(i + 1, timeout=30)
                latencies.append(time.monotonic() - started)
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
            if len(latencies) < args.mails:
                sys.stderr.write(err)
        ms = sorted(x * 1000 for x in latencies)
        p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
        print(
            f"IDLE latency, arrival to confirmation at the SMTP server, {len(ms)} mails: "
            f"min {ms[0]:.0f} ms, median {statistics.median(ms):.0f} ms, "
            f"p95 {p95:.0f} ms, max {ms[-1]:.0f} ms"
        )

        client = dovecot.imap(MAILBOX)
        try:
            for i in range(args.mails, args.mails + args.backlog):
                append(client, "INBOX", _mail(i))
        finally:
            client.logout()
        before = len(sink.messages)
        started = time.monotonic()
        _run(config, "poll")
        took = time.monotonic() - started
        sent = len(sink.messages) - before
        print(
            f"poll over a backlog of {args.backlog}: {took:.1f} s "
            f"({args.backlog / took:.0f} messages/s), {sent} confirmations sent"
        )
    finally:
        sink.stop()
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
