"""Benchmark 2: one `anmeldung poll` with nothing new, against a mailbox full of handled mail.

For each size N, the processed folder holds N handled registrations (indexed by Dovecot) and
the SQLite database the N messages, registrations and sent replies they left (one handled for
real, then copied). The baseline is the same poll on an empty mailbox and a fresh database.
The two run interleaved, several rounds; printed is the median of each and the ratio (goal
<= 1.3x).

    .venv/bin/python bench/idle_cost.py [--sizes 5000,20000,50000] [--rounds 7]
"""

from __future__ import annotations

import statistics
from pathlib import Path

from common import (
    MAILBOX,
    PROCESSED,
    Figure,
    Report,
    Servers,
    anmeldung,
    clone_handled,
    fill_maildir,
    index_folder,
    parser,
    print_machine,
    registration_mail,
    run_timed,
    servers,
    write_config,
)

RATIO_GOAL = 1.3


def prepare_full(srv: Servers, size: int) -> Path:
    user = f"idle{size}@stadt.example"
    config = write_config(srv.work / f"idle-{size}.toml", srv, user=user)
    run_timed(anmeldung(config, "init"))
    # One mail handled for real: its rows are the template for the copies.
    fill_maildir(srv.dovecot, user, [registration_mail(0, MAILBOX, f"i{size}")])
    poll = run_timed(anmeldung(config, "poll"))
    assert "1 sent" in poll.stdout, poll.stdout
    clone_handled(config.with_suffix(".db"), size - 1)
    fill_maildir(
        srv.dovecot,
        user,
        (registration_mail(i, MAILBOX, f"i{size}") for i in range(1, size)),
        folder=PROCESSED,
    )
    assert index_folder(srv.dovecot, user, PROCESSED) == size
    return config


def measure(srv: Servers, size: int, rounds: int, report: Report) -> None:
    full = prepare_full(srv, size)
    empty = write_config(srv.work / f"idle-empty-{size}.toml", srv, user=f"empty{size}@x.example")
    run_timed(anmeldung(empty, "init"))
    runs: dict[str, list[float]] = {"empty": [], "full": []}
    for _ in range(rounds):
        for name, config in (("empty", empty), ("full", full)):
            result = run_timed(anmeldung(config, "poll"))
            assert "0 waiting" in result.stdout, result.stdout
            runs[name].append(result.seconds)
    value, base = statistics.median(runs["full"]), statistics.median(runs["empty"])
    report.add(
        Figure(
            "idle",
            "poll, nothing new (s, median)",
            size,
            value,
            "s",
            baseline=base,
            goal=f"<= {RATIO_GOAL}x",
            ok=value <= RATIO_GOAL * base,
            extra={"rounds": rounds, "min": round(min(runs["full"]), 3)},
        )
    )


def main() -> int:
    p = parser(__doc__, [5000, 20000, 50000])
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    print_machine()
    report = Report(args.json)
    with servers(keep=args.keep) as srv:
        for size in args.sizes:
            measure(srv, size, args.rounds, report)
    report.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
