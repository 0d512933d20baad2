"""The `run` worker: APScheduler 3 runs the poll cycle; SIGTERM/SIGINT end it after one message."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from types import FrameType

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from .daily import build, latest_report_date, report_period
from .errors import AnmeldungError, AuthError
from .idle import IdleWatcher
from .locks import decision_lock
from .mailbox import mailbox_key
from .pipeline import Worker
from .privacy import schedule_purge
from .report_mail import ReportRenderer, queue_daily

log = logging.getLogger(__name__)

MAX_FAILURE_DELAY = 600.0


class PollJob:
    """The scheduled poll: one at a time, repeated at once when woken while running.

    Failures are logged once per distinct error (a wrong password must not fill the log every
    minute) and back off exponentially up to ten minutes; recovery is logged too.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.wake_flag = threading.Event()
        self.running = threading.Event()
        self.failures = 0
        self.last_error: str | None = None
        self.not_before = 0.0
        self.scheduler: BaseScheduler | None = None

    def __call__(self) -> None:
        self.running.set()
        try:
            while not self.worker.stop.is_set():
                self.wake_flag.clear()
                self._once()
                if not self.wake_flag.is_set():
                    break
        finally:
            self.running.clear()

    def _once(self) -> None:
        if time.monotonic() < self.not_before:
            return
        try:
            self.worker.poll_once()
        except AuthError as exc:
            # Logged once where the login failed (oauth.LoginLog); not again every poll.
            self._failed(str(exc), logged=True)
            return
        except AnmeldungError as exc:
            self._failed(str(exc))
            return
        except Exception as exc:
            log.exception("poll failed unexpectedly")
            self._failed(f"{type(exc).__name__}: {exc}", logged=True)
            return
        if self.failures:
            log.info("poll works again after %d failed attempt(s)", self.failures)
        self.failures = 0
        self.last_error = None

    def _failed(self, error: str, logged: bool = False) -> None:
        self.failures += 1
        delay = min(
            self.worker.config.schedule.poll_seconds * 2 ** (self.failures - 1), MAX_FAILURE_DELAY
        )
        self.not_before = time.monotonic() + delay
        if not logged:
            if error != self.last_error:
                log.error("poll failed: %s (next try in %.0f s)", error, delay)
            else:
                log.debug("poll failed again: %s (next try in %.0f s)", error, delay)
        self.last_error = error

    def wake(self) -> None:
        """Ask for a poll now (called from the IDLE thread)."""
        self.wake_flag.set()
        self.not_before = 0.0
        if not self.running.is_set() and self.scheduler is not None:
            try:
                self.scheduler.modify_job("poll", next_run_time=dt.datetime.now(dt.UTC))
            except Exception:  # the scheduler is shutting down
                log.debug("could not schedule an immediate poll", exc_info=True)


def build_scheduler(worker: Worker) -> tuple[BlockingScheduler, PollJob]:
    """A scheduler with the poll job; nothing started yet."""
    cfg = worker.config.schedule
    scheduler = BlockingScheduler(timezone=cfg.tz)
    job = PollJob(worker)
    job.scheduler = scheduler
    scheduler.add_job(
        job,
        "interval",
        seconds=cfg.poll_seconds,
        id="poll",
        name="poll the mailbox and send due mail",
        # One poll at a time; runs missed while one was busy collapse into one, and a late run
        # still happens (APScheduler's default grace of 1 s would silently skip it).
        coalesce=True,
        max_instances=1,
        misfire_grace_time=cfg.misfire_grace_seconds,
        next_run_time=dt.datetime.now(cfg.tz),
    )
    scheduler.add_listener(_on_missed, EVENT_JOB_MISSED)
    schedule_purge(scheduler, worker)  # [privacy] delete_after_days: nightly erasure
    schedule_report(scheduler, worker)  # [report] recipients: the daily summary
    return scheduler, job


def _on_missed(event: JobExecutionEvent) -> None:
    log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)


def run_worker(worker: Worker, install_signals: bool = True) -> None:
    """Block until SIGTERM/SIGINT; the running poll finishes its current message first."""
    scheduler, job = build_scheduler(worker)
    cfg = worker.config

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current message", signal.Signals(signum).name)
        worker.stop.set()
        # shutdown() waits for the running job; do it off the signal handler's stack.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    if install_signals:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    watcher: IdleWatcher | None = None
    if cfg.mailbox.idle:
        watcher = IdleWatcher(
            worker.mailbox_factory, job.wake, worker.stop, cfg.mailbox.idle_renew_seconds
        )
        watcher.start()
    log.info(
        "worker started: watching %s (IDLE %s, poll every %d s)",
        cfg.mailbox.folder,
        "on" if watcher else "off",
        cfg.schedule.poll_seconds,
    )
    scheduler.start()
    if watcher is not None:
        watcher.join(timeout=5)
    log.info("worker stopped")


class ReportJob:
    """The organisers' daily report: queue it for [report] recipients, then send it.

    Queuing is idempotent (one outbox row per report date and recipient), so the cron run, a
    catch-up after a restart and `report daily --send` together still send it once. It sends
    itself rather than waiting for the next poll: a report about a mailbox that cannot be read
    must still go out.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.renderer = ReportRenderer(worker.config)

    def __call__(self) -> None:
        cfg = self.worker.config
        now = dt.datetime.now(dt.UTC)
        date = latest_report_date(now, cfg.schedule.daily_report, cfg.schedule.tz)
        try:
            with self.worker.db.transaction() as s:
                # Several workers run this job at the same minute: one after another, the
                # later ones find the report queued instead of failing on its unique trigger.
                decision_lock(s)
                report = build(s, cfg, date, mailbox_key=mailbox_key(cfg.mailbox), now=now)
                queued = queue_daily(s, cfg, self.renderer, report, now=now)
        except AnmeldungError as exc:
            log.error("daily report %s could not be made: %s", date, exc)
            return
        except Exception:  # a bug must not end the worker; tomorrow's run tries again
            log.exception("daily report %s could not be made", date)
            return
        new = sum(1 for q in queued if q.outbox_id)
        log.info(
            "daily report %s: queued for %d recipient(s), %d had it already",
            date,
            new,
            len(queued) - new,
        )
        if not new or self.worker.stop.is_set():
            return
        try:
            self.worker.flush_outbox_once()
        except AnmeldungError as exc:  # it stays queued; the next poll tries again
            log.warning("daily report %s queued, not sent yet: %s", date, exc)


def schedule_report(
    scheduler: BaseScheduler, worker: Worker, now: dt.datetime | None = None
) -> ReportJob | None:
    """A cron job at schedule.daily_report, and a catch-up when `run` starts just after it.

    The cron job's misfire grace covers a busy or suspended scheduler; a worker that was not
    running at the report time has no job to misfire (APScheduler's memory job store starts
    afresh), so when it starts within the grace after today's report time it runs the job
    once at start. The job does nothing for recipients who already have that date's report.
    """
    cfg = worker.config
    if not cfg.report.recipients:
        return None
    sched = cfg.schedule
    job = ReportJob(worker)
    scheduler.add_job(
        job,
        "cron",
        hour=sched.daily_report.hour,
        minute=sched.daily_report.minute,
        timezone=sched.tz,
        id="daily_report",
        name="mail the daily report to [report] recipients",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=sched.misfire_grace_seconds,
    )
    now = now or dt.datetime.now(dt.UTC)
    date = latest_report_date(now, sched.daily_report, sched.tz)
    due = report_period(date, sched.daily_report, sched.tz).end
    if now - due <= dt.timedelta(seconds=sched.misfire_grace_seconds):
        log.info("started %d s after the daily report time: sending it now unless sent",
                 (now - due).total_seconds())  # fmt: skip
        scheduler.add_job(
            job,
            "date",
            run_date=now,
            id="daily_report_catch_up",
            name="the daily report missed while the worker was not running",
            max_instances=1,
            misfire_grace_time=sched.misfire_grace_seconds,
        )
    return job
