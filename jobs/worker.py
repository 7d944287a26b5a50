"""`iap-engine worker`: the tasks on APScheduler intervals, stopped gracefully on SIGTERM.

On SIGTERM or SIGINT the worker stops claiming work, lets the store calls in flight finish,
gives back the leases it still holds (so other workers take them at once instead of waiting
for them to expire), and exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from jobs.tasks import Tasks

log = logging.getLogger("iap_engine.jobs")


def run_worker(
    tasks: Tasks,
    *,
    reconcile_every: float,
    history_every: float,
    inbox_every: float,
) -> None:
    # APScheduler reports every job it adds and runs at INFO: the tasks log what matters.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = BlockingScheduler(timezone="UTC")
    for name, task, seconds in (
        ("inbox", tasks.retry_inbox, inbox_every),
        ("histories", tasks.follow_histories, history_every),
        ("due", tasks.reconcile_due, reconcile_every),
    ):
        # One run of a task at a time; a missed run is not made up twice.
        scheduler.add_job(
            task,
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),  # first run at start-up, not after an interval
        )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping the worker", signum)
        tasks.stopping.set()
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker %s started", tasks.worker)
    scheduler.start()
    log.info("worker %s stopped", tasks.worker)
