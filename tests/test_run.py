"""`anmeldung run`: the scheduled worker handles new mail and stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anmeldung.devservers import append
from conftest import EXAMPLES, MAILBOX_USER, MailServers, run_cli, write_config


def _start_run(config: Path, *options: str) -> subprocess.Popen[str]:
    """`anmeldung run` in its own process; the config comes from --config, not the environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "anmeldung", "--config", str(config), *options, "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "ANMELDUNG_CONFIG"},
        cwd=config.parent,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_polls_on_schedule_and_stops_on_signal(
    servers: MailServers, tmp_path: Path, signum: signal.Signals
) -> None:
    config = write_config(
        tmp_path / "anmeldung.toml", servers, extra="[schedule]\npoll_seconds = 1\n"
    )
    run_cli(config, "init")
    proc = _start_run(config)
    try:
        # Mail that arrives while the worker runs is answered by a later scheduled poll.
        time.sleep(1.5)
        client = servers.dovecot.imap(MAILBOX_USER)
        append(client, "INBOX", (EXAMPLES / "03-professor-8bit.eml").read_bytes())
        client.logout()
        got = servers.smtp.wait_for(1, timeout=15)
        assert got[0].rcpt_tos == ["h.vonderheide@uni-koeln.example"]
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "worker started" in err
    assert "stopping after the current message" in err
    assert "worker stopped" in err
    assert "Traceback" not in err
    # Nothing went out twice while the worker ran several cycles.
    assert len(servers.smtp.messages) == 1


def test_idle_answers_new_mail_long_before_the_next_poll(
    servers: MailServers, tmp_path: Path
) -> None:
    # The interval poll is an hour away: only IMAP IDLE can explain a quick answer.
    config = write_config(
        tmp_path / "anmeldung.toml", servers, extra="[schedule]\npoll_seconds = 3600\n"
    )
    run_cli(config, "init")
    proc = _start_run(config, "-v")
    try:
        time.sleep(2)  # the first (immediate) poll has run and IDLE is waiting
        latencies = []
        for i, name in enumerate(("01-mueller-kaemmerei.eml", "05-yildiz-english.eml")):
            started = time.monotonic()
            servers.dovecot.deliver(MAILBOX_USER, (EXAMPLES / name).read_bytes())
            servers.smtp.wait_for(i + 1, timeout=10)
            latencies.append(time.monotonic() - started)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "IDLE on" in err
    # Generous bound for a loaded CI machine; typical is well under a second.
    assert max(latencies) < 5, latencies


def test_a_second_worker_on_one_sqlite_file_is_refused(
    servers: MailServers, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "anmeldung.toml", servers, extra="[schedule]\npoll_seconds = 3600\n"
    )
    run_cli(config, "init")
    first = _start_run(config)
    try:
        time.sleep(1.5)
        assert first.poll() is None
        second = run_cli(config, "run", check=False, timeout=30)
        assert second.code == 1
        assert f"another worker (pid {first.pid}) already runs on" in second.err
        assert "anmeldung.db.worker.lock" in second.err
        assert "Traceback" not in second.err
        # A one-off poll would race the worker just the same.
        poll = run_cli(config, "poll", check=False, timeout=30)
        assert poll.code == 1
        assert f"another worker (pid {first.pid}) already runs on" in poll.err
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0
    # The lock dies with its process: after the first worker stopped, `run` may start again.
    third = _start_run(config)
    try:
        time.sleep(1.5)
        assert third.poll() is None, third.communicate()[1]
        third.send_signal(signal.SIGTERM)
        _out, err = third.communicate(timeout=20)
    finally:
        if third.poll() is None:
            third.kill()
            third.communicate()
    assert third.returncode == 0, err
