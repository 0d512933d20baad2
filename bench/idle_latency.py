"""Benchmark 3: arrival-to-confirmation latency of `anmeldung run` waiting in IMAP IDLE.

Starts a throwaway Dovecot and SMTP sink on loopback, runs the real worker (`anmeldung run`,
interval poll one hour away, so only IDLE can explain a quick answer), delivers registrations
one at a time over LMTP and measures the time from the delivery until the SMTP server has
accepted the confirmation. Goal: median <= 1 s, 95th percentile <= 2 s.

    .venv/bin/python bench/idle_latency.py [--sizes 100]
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import time

from common import (
    MAILBOX,
    Figure,
    Report,
    Servers,
    anmeldung,
    parser,
    print_machine,
    registration_mail,
    run_timed,
    servers,
    write_config,
)

MEDIAN_GOAL = 1.0
P95_GOAL = 2.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a figure that was really measured)."""
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)]


def measure(srv: Servers, mails: int, report: Report) -> None:
    user = f"latency{mails}@stadt.example"
    config = write_config(srv.work / f"latency-{mails}.toml", srv, user=user)
    run_timed(anmeldung(config, "init"))
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        anmeldung(config, "run"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    latencies: list[float] = []
    before = len(srv.sink.messages)
    try:
        time.sleep(2)  # first poll done, IDLE waiting
        for i in range(mails):
            started = time.monotonic()
            srv.dovecot.deliver(user, registration_mail(i, MAILBOX, f"l{mails}"))
            srv.sink.wait_for(before + i + 1, timeout=30)
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)  # one at a time, as people write, not a burst
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        if len(latencies) < mails:
            print(err[-3000:])
    median, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    extra = {"min": round(min(latencies), 3), "max": round(max(latencies), 3)}
    report.add(
        Figure(
            "latency",
            "IDLE arrival->SMTP, median (s)",
            mails,
            median,
            "s",
            goal=f"<= {MEDIAN_GOAL:.0f} s",
            ok=median <= MEDIAN_GOAL,
            extra=extra,
        )
    )
    report.add(
        Figure(
            "latency",
            "IDLE arrival->SMTP, p95 (s)",
            mails,
            p95,
            "s",
            goal=f"<= {P95_GOAL:.0f} s",
            ok=p95 <= P95_GOAL,
        )
    )


def main() -> int:
    args = parser(__doc__, [100]).parse_args()
    print_machine()
    report = Report(args.json)
    with servers(keep=args.keep) as srv:
        for mails in args.sizes:
            measure(srv, mails, report)
    report.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
