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

from .errors import AnmeldungError, AuthError
from .idle import IdleWatcher
from .pipeline import Worker
from .privacy import schedule_purge

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
