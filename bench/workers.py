"""Benchmark 5: backlog throughput of 1, 2 and 4 workers sharing one PostgreSQL database.

For each worker count K a fresh PostgreSQL database (devservers.PostgresServer: initdb in a
temp dir, fsync off) and a fresh mailbox of N registrations; K `anmeldung poll` processes start
at once on the same mailbox and database, and the time runs until the last one has exited
with every registration confirmed at the SMTP server. Printed: mails per second; the
baseline is the single worker, so the ratio is the speed-up (below 1: sharing costs more
than it gains).

Needs PostgreSQL (`make deps` installs it); says so and exits 0 without.

    .venv/bin/python bench/workers.py [--sizes 3000] [--workers 1,2,4]
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from common import (
    MAILBOX,
    Figure,
    Report,
    Servers,
    anmeldung,
    fill_maildir,
    index_folder,
    parser,
    print_machine,
    registration_mail,
    run_timed,
    servers,
    write_config,
)

from anmeldung.devservers import PostgresServer, find_postgres


def run_workers(config: Path, workers: int) -> tuple[float, list[int], str]:
    """Start ``workers`` polls at once; wall time until all exited, their exit codes, stderr."""
    env = {k: v for k, v in os.environ.items() if k != "ANMELDUNG_CONFIG"}
    with contextlib.ExitStack() as stack:
        errs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(workers)]
        started = time.perf_counter()
        procs = [
            subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                anmeldung(config, "poll"), stdout=subprocess.DEVNULL, stderr=err, env=env
            )
            for err in errs
        ]
        codes = [p.wait() for p in procs]
        took = time.perf_counter() - started
        text = ""
        for err in errs:
            err.seek(0)
            text += err.read().decode(errors="replace")
    return took, codes, text


def measure(srv: Servers, pg: PostgresServer, size: int, counts: list[int], report: Report) -> None:
    single: float | None = None
    for workers in counts:
        name = f"w{workers}_{size}"
        url = pg.create_database(name)
        user = f"{name}@stadt.example"
        fill_maildir(srv.dovecot, user, (registration_mail(i, MAILBOX, name) for i in range(size)))
        assert index_folder(srv.dovecot, user, "INBOX") == size
        config = write_config(srv.work / f"{name}.toml", srv, user=user, db_url=url)
        run_timed(anmeldung(config, "init"))
        srv.sink.messages.clear()
        took, codes, err = run_workers(config, workers)
        sent = len(srv.sink.messages)
        unique = len({m.rcpt_tos[0] for m in srv.sink.messages})
        srv.sink.messages.clear()
        if any(codes):
            print(f"# {workers} workers: exit codes {codes}\n{err[-2000:]}")
        rate = size / took
        single = single or rate
        report.add(
            Figure(
                "workers",
                f"{workers} worker(s), mails/s",
                size,
                rate,
                "/s",
                baseline=single,
                ok=sent == size and unique == size and not any(codes),
                extra={"wall_s": round(took, 1), "sent": sent, "duplicates": sent - unique},
            )
        )


def main() -> int:
    p = parser(__doc__, [3000])
    p.add_argument(
        "--workers",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[1, 2, 4],
        help="comma-separated worker counts (default 1,2,4; the first is the baseline)",
    )
    args = p.parse_args()
    if find_postgres() is None:
        print("workers: skipped, PostgreSQL is not installed (make deps installs it)")
        return 0
    print_machine()
    report = Report(args.json)
    with servers(keep=args.keep) as srv:
        pg = PostgresServer(srv.work / "postgres")
        pg.start()
        try:
            for size in args.sizes:
                measure(srv, pg, size, args.workers, report)
        finally:
            pg.stop()
    report.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
