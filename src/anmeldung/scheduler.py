"""The `run` worker: APScheduler 3 runs the poll cycle; SIGTERM/SIGINT end it after one message."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.blocking import BlockingScheduler

from .errors import AnmeldungError
from .pipeline import Worker

log = logging.getLogger(__name__)


def build_scheduler(worker: Worker) -> BlockingScheduler:
    """A scheduler with the poll job; nothing started yet."""
    cfg = worker.config.schedule
    scheduler = BlockingScheduler(timezone=cfg.tz)
    scheduler.add_job(
        _guarded(worker.poll_once, "poll"),
        "interval",
        seconds=cfg.poll_seconds,
        id="poll",
        name="poll the mailbox and send due mail",
        # One poll at a time; runs missed while one was busy collapse into one, and a late run
        # still happens (APScheduler's default grace of 1 s would silently skip it).
        coalesce=True,
        max_instances=1,
        misfire_grace_time=cfg.misfire_grace_seconds,
        next_run_time=_now(cfg.tz),
    )
    scheduler.add_listener(_on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def _now(tz: Any) -> Any:
    import datetime as dt

    return dt.datetime.now(tz)


def _guarded(fn: Callable[[], Any], name: str) -> Callable[[], None]:
    """Run a job; a failure is logged once per cycle and the worker keeps going."""

    def job() -> None:
        try:
            stats = fn()
        except AnmeldungError as exc:
            log.error("%s failed: %s", name, exc)
            return
        except Exception:
            log.exception("%s failed unexpectedly", name)
            return
        log.debug("%s done: %s", name, stats)

    return job


def _on_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)


def run_worker(worker: Worker, install_signals: bool = True) -> None:
    """Block until SIGTERM/SIGINT; the running poll finishes its current message first."""
    scheduler = build_scheduler(worker)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current message", signal.Signals(signum).name)
        worker.stop.set()
        # shutdown() waits for the running job; do it off the signal handler's stack.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    if install_signals:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    log.info(
        "worker started: polling %s every %d s",
        worker.config.mailbox.folder,
        worker.config.schedule.poll_seconds,
    )
    scheduler.start()
    log.info("worker stopped")
