"""When the daily report goes out: local report periods (DST), the cron job, the catch-up after
a restart, and through a real `anmeldung run` across a restart: sent exactly once."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
import zoneinfo
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from anmeldung.config import load_config
from anmeldung.daily import latest_report_date, report_period
from anmeldung.db import Database
from anmeldung.pipeline import Worker
from anmeldung.scheduler import build_scheduler, schedule_report
from conftest import MailServers, run_cli, write_config
from test_run import _start_run

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
AT = dt.time(7, 30)
ORGANISER = "team@stadt.example"


def test_a_period_is_the_local_day_before_the_report_time() -> None:
    p = report_period(dt.date(2026, 12, 4), AT, BERLIN)
    assert p.start == dt.datetime(2026, 12, 3, 6, 30, tzinfo=dt.UTC)
    assert p.end == dt.datetime(2026, 12, 4, 6, 30, tzinfo=dt.UTC)
    assert p.hours == 24


@pytest.mark.parametrize(
    ("date", "hours"),
    [(dt.date(2027, 3, 28), 23), (dt.date(2026, 10, 25), 25), (dt.date(2027, 3, 29), 24)],
)
def test_periods_follow_the_wall_clock_across_dst(date: dt.date, hours: int) -> None:
    p = report_period(date, AT, BERLIN)
    assert p.hours == hours
    assert p.end.astimezone(BERLIN).time() == AT
    assert p.start.astimezone(BERLIN).time() == AT


def test_consecutive_periods_cover_every_moment_once() -> None:
    day = dt.date(2026, 10, 1)
    for _ in range(400):  # two DST changes and then some
        nxt = day + dt.timedelta(days=1)
        assert report_period(day, AT, BERLIN).end == report_period(nxt, AT, BERLIN).start
        day = nxt


def test_the_latest_report_date_is_the_last_report_time_passed() -> None:
    before = dt.datetime(2026, 12, 4, 6, 29, tzinfo=dt.UTC)  # 07:29 in Berlin
    after = dt.datetime(2026, 12, 4, 6, 30, tzinfo=dt.UTC)
    assert latest_report_date(before, AT, BERLIN) == dt.date(2026, 12, 3)
    assert latest_report_date(after, AT, BERLIN) == dt.date(2026, 12, 4)


def _config(tmp_path: Path, recipients: str = f'["{ORGANISER}"]') -> Path:
    path = tmp_path / "anmeldung.toml"
    path.write_text(
        f"""
[event]
name = "E"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Bonn"
[mailbox]
host = "127.0.0.1"
port = 143
security = "none"
username = "a@b.example"
password = "x"
[smtp]
host = "127.0.0.1"
port = 25
security = "none"
from = "a@b.example"
[database]
url = "sqlite:///{tmp_path / "p.db"}"
[schedule]
daily_report = "07:30"
timezone = "Europe/Berlin"
misfire_grace_seconds = 600
[report]
recipients = {recipients}
""",
        encoding="utf-8",
    )
    return path


def test_the_cron_job_runs_at_the_local_report_time_with_a_grace(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    db = Database(config.database.url)
    try:
        scheduler, _ = build_scheduler(Worker(config, db))
        job = scheduler.get_job("daily_report")
        assert job is not None
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time == 600
        trigger = job.trigger
        assert isinstance(trigger, CronTrigger)
        assert str(trigger.timezone) == "Europe/Berlin"
        fields = {f.name: str(f) for f in trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("7", "30")
        # Across the change to summer time it still fires at 07:30 on the wall clock.
        start = dt.datetime(2027, 3, 27, 12, 0, tzinfo=BERLIN)
        fire = trigger.get_next_fire_time(None, start)
        assert fire == dt.datetime(2027, 3, 28, 7, 30, tzinfo=BERLIN)
        assert fire.utcoffset() == dt.timedelta(hours=2)
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("local", "catch_up"),
    [
        ("07:29", False),  # the cron job will do it
        ("07:30", True),
        ("07:39", True),  # within the grace of 600 s
        ("07:41", False),  # too late: tomorrow's report covers it
    ],
)
def test_a_start_just_after_the_report_time_catches_up(
    tmp_path: Path, local: str, catch_up: bool
) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    config = load_config(_config(tmp_path))
    db = Database(config.database.url)
    try:
        hour, minute = map(int, local.split(":"))
        now = dt.datetime(2026, 12, 4, hour, minute, tzinfo=BERLIN).astimezone(dt.UTC)
        scheduler = BackgroundScheduler(timezone=BERLIN)
        assert schedule_report(scheduler, Worker(config, db), now=now) is not None
        ids = sorted(j.id for j in scheduler.get_jobs())
        assert ids == (["daily_report", "daily_report_catch_up"] if catch_up else ["daily_report"])
    finally:
        db.dispose()


def test_no_recipients_no_report_job(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, recipients="[]"))
    db = Database(config.database.url)
    try:
        scheduler, _ = build_scheduler(Worker(config, db))
        assert [j.id for j in scheduler.get_jobs()] == ["poll"]
    finally:
        db.dispose()


# -- a real worker, a real restart ----------------------------------------------------------------


def _run_config(servers: MailServers, tmp_path: Path, at: dt.datetime) -> Path:
    return write_config(
        tmp_path / "anmeldung.toml",
        servers,
        extra=f"""
[schedule]
poll_seconds = 3600
daily_report = "{at:%H:%M}"
timezone = "UTC"
misfire_grace_seconds = 300

[report]
recipients = ["{ORGANISER}"]
""",
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return err


def _reports(servers: MailServers) -> int:
    return sum(1 for m in servers.smtp.messages if m.rcpt_tos == [ORGANISER])


def test_a_restart_just_after_the_report_time_sends_it_once(
    servers: MailServers, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    if now.second > 55:  # keep the whole test inside one minute's report date
        time.sleep(61 - now.second)
        now = dt.datetime.now(dt.UTC)
    config = _run_config(servers, tmp_path, now)  # the report time was at the start of this minute
    run_cli(config, "init")

    first = _start_run(config, "-v")
    try:
        servers.smtp.wait_for(1, timeout=20)
    finally:
        err = _stop(first)
    assert "sending it now unless sent" in err
    assert "queued for 1 recipient(s)" in err
    assert _reports(servers) == 1

    # Restarted within the grace: the catch-up runs again and finds the report sent.
    second = _start_run(config, "-v")
    time.sleep(4)
    err = _stop(second)
    assert "queued for 0 recipient(s), 1 had it already" in err, err
    assert _reports(servers) == 1
    result = run_cli(config, "outbox", "--json")
    assert result.out.strip() == "[]"


def test_the_cron_run_is_not_repeated_by_a_restart(servers: MailServers, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    at = (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    if at - now < dt.timedelta(seconds=15):  # the worker must be up before the report time
        at += dt.timedelta(minutes=1)
    config = _run_config(servers, tmp_path, at)
    run_cli(config, "init")

    first = _start_run(config, "-v")
    try:
        servers.smtp.wait_for(1, timeout=(at - now).total_seconds() + 30)
    finally:
        err = _stop(first)
    assert "sending it now unless sent" not in err  # it was the cron job
    assert "queued for 1 recipient(s)" in err
    assert dt.datetime.now(dt.UTC) >= at

    second = _start_run(config, "-v")
    time.sleep(4)
    err = _stop(second)
    assert "1 had it already" in err, err
    assert _reports(servers) == 1
