"""Benchmark 1: one `anmeldung poll` over a backlog of registrations, against a bare script.

For each size, N registrations wait in a fresh mailbox. The baseline (bench/baseline_backlog.py:
imapclient fetch in batches, mail-parser, one pre-rendered reply per mail over one SMTP
connection) runs first and leaves the mail where it is; then the real CLI (`anmeldung init`,
then one `anmeldung poll` on a SQLite file migrated by Alembic) handles the same mails. Printed:
both wall times, their ratio (goal <= 1.5x) and the poll's peak RSS (goal <= 250 MB).

    .venv/bin/python bench/backlog.py [--sizes 1000,3000,10000] [--json FILE]
"""

from __future__ import annotations

import email.policy
from pathlib import Path

from common import (
    MAILBOX,
    Figure,
    Report,
    Servers,
    anmeldung,
    bench_script,
    fill_maildir,
    index_folder,
    parser,
    print_machine,
    registration_mail,
    run_timed,
    servers,
    write_config,
)

from anmeldung.compose import Composer
from anmeldung.config import load_config
from anmeldung.staff import preview

RATIO_GOAL = 1.5
RSS_GOAL_MB = 250.0


def measure(srv: Servers, size: int, report: Report, profile: Path | None = None) -> None:
    user = f"backlog{size}@stadt.example"
    fill_maildir(
        srv.dovecot, user, (registration_mail(i, MAILBOX, f"b{size}") for i in range(size))
    )
    # Dovecot indexes the new files once, as it would have while the mail arrived; neither
    # side should pay for that.
    assert index_folder(srv.dovecot, user, "INBOX") == size
    config = write_config(srv.work / f"backlog-{size}.toml", srv, user=user)

    # The baseline sends a real confirmation as this config renders it, the same for all.
    reply = srv.work / "reply.eml"
    msg = preview(Composer(load_config(config)), "confirmation", "de")
    reply.write_bytes(msg.as_bytes(policy=email.policy.SMTP))

    before = len(srv.sink.messages)
    base = run_timed(
        bench_script(
            "baseline_backlog.py",
            f"--imap-port={srv.dovecot.imap_port}",
            f"--smtp-port={srv.sink.port}",
            f"--user={user}",
            f"--password={srv.dovecot.password}",
            f"--reply={reply}",
        )
    )
    base_sent = len(srv.sink.messages) - before
    assert base_sent == size, f"baseline sent {base_sent} of {size}"
    srv.sink.messages.clear()  # the sink keeps every mail in memory

    run_timed(anmeldung(config, "init"))
    argv = anmeldung(config, "poll")
    if profile is not None:
        # cProfile slows the poll down; the printed time is then only for orientation.
        argv[1:1] = ["-m", "cProfile", "-o", str(profile.with_suffix(f".{size}.prof"))]
    poll = run_timed(argv)
    sent = len(srv.sink.messages)
    srv.sink.messages.clear()
    report.add(
        Figure(
            "backlog",
            "poll, all confirmed (s)",
            size,
            poll.seconds,
            "s",
            baseline=base.seconds,
            goal=f"<= {RATIO_GOAL}x",
            ok=poll.seconds <= RATIO_GOAL * base.seconds and sent == size,
            extra={"sent": sent, "per_s": round(size / poll.seconds)},
        )
    )
    report.add(
        Figure(
            "backlog",
            "poll CPU, user + system (s)",
            size,
            poll.cpu_seconds,
            "s",
            baseline=base.cpu_seconds,
            extra={"ms_per_mail": round(1000 * poll.cpu_seconds / size, 2)},
        )
    )
    report.add(
        Figure(
            "backlog",
            "poll peak RSS (MB)",
            size,
            poll.max_rss_mb,
            "MB",
            baseline=base.max_rss_mb,
            goal=f"<= {RSS_GOAL_MB:.0f} MB",
            ok=poll.max_rss_mb <= RSS_GOAL_MB,
        )
    )
    if sent != size:
        print(f"# poll sent {sent} of {size}; its output: {poll.stdout.strip()}")


def main() -> int:
    p = parser(__doc__, [1000, 3000, 10000])
    p.add_argument("--profile", type=Path, help="run the poll under cProfile, stats to FILE.N.prof")
    args = p.parse_args()
    print_machine()
    report = Report(args.json)
    with servers(keep=args.keep) as srv:
        for size in args.sizes:
            measure(srv, size, report, args.profile)
    report.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
