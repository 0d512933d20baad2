"""Benchmark 4: organiser commands on a large database: daily report, CSV export, list page.

For each size N the SQLite database holds N registrations with their messages and sent
confirmations (one handled for real through `anmeldung poll`, then copied, spread over 30
days). Each command runs as the real CLI, several rounds; the baseline is the same command on
an empty database (start-up, config, migrations check), so the ratio shows what the data
costs. Goals at 100,000: daily report <= 2 s, CSV export <= 5 s, list first page <= 1 s.

`anmeldung report daily` and `anmeldung list --page` are used when the CLI has them; without
`--page` the whole list is printed and timed.

    .venv/bin/python bench/organiser.py [--sizes 10000,30000,100000] [--rounds 3]
"""

from __future__ import annotations

import statistics
from pathlib import Path

from common import (
    MAILBOX,
    Figure,
    Report,
    Servers,
    anmeldung,
    clone_handled,
    fill_maildir,
    parser,
    print_machine,
    registration_mail,
    run_timed,
    servers,
    write_config,
)

GOALS = {"report daily": 2.0, "export csv": 5.0, "list first page": 1.0, "list (all rows)": 1.0}


def commands(config: Path, out: Path) -> dict[str, list[str]]:
    """The commands this CLI has, by figure name."""
    cmds: dict[str, list[str]] = {}
    if run_timed(anmeldung(config, "report", "daily", "--help"), check=False).returncode == 0:
        cmds["report daily"] = ["report", "daily", "--json"]
    cmds["export csv"] = ["export", "--format", "csv", "-o", str(out)]
    if "--page" in run_timed(anmeldung(config, "list", "--help")).stdout:
        cmds["list first page"] = ["list", "--page", "1"]
    else:
        cmds["list (all rows)"] = ["list"]
    return cmds


def prepare(srv: Servers, size: int, name: str) -> Path:
    user = f"{name}@stadt.example"
    config = write_config(srv.work / f"{name}.toml", srv, user=user)
    run_timed(anmeldung(config, "init"))
    if size:
        fill_maildir(srv.dovecot, user, [registration_mail(0, MAILBOX, name)])
        poll = run_timed(anmeldung(config, "poll"))
        assert "1 sent" in poll.stdout, poll.stdout
        clone_handled(config.with_suffix(".db"), size - 1, spread_days=30)
    return config


def measure(srv: Servers, size: int, rounds: int, report: Report) -> None:
    full = prepare(srv, size, f"org{size}")
    empty = prepare(srv, 0, f"org-empty{size}")
    out = srv.work / "export.csv"
    for what, args in commands(full, out).items():
        times: dict[str, list[float]] = {"empty": [], "full": []}
        rss = 0.0
        for _ in range(rounds):
            for name, config in (("empty", empty), ("full", full)):
                result = run_timed(anmeldung(config, *args))
                times[name].append(result.seconds)
                if name == "full":
                    rss = max(rss, result.max_rss_mb)
        value, base = statistics.median(times["full"]), statistics.median(times["empty"])
        report.add(
            Figure(
                "organiser",
                f"{what} (s, median)",
                size,
                value,
                "s",
                baseline=base,
                goal=f"<= {GOALS[what]:.0f} s",
                ok=value <= GOALS[what],
                extra={"rounds": rounds, "rss_mb": round(rss)},
            )
        )


def main() -> int:
    p = parser(__doc__, [10000, 30000, 100000])
    p.add_argument("--rounds", type=int, default=3)
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
