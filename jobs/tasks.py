"""The reconciliation tasks: thin loops around the service's use cases.

Each task runs to completion when called; the worker calls them on intervals, and
`iap-engine reconcile --once` calls each once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from queue import SimpleQueue

from iap_engine.domain import Catalog, Store
from iap_engine.service.deliveries import NotificationReader, run_follow_ups
from iap_engine.service.policy import Policy
from iap_engine.service.ports import Clock, UnitOfWorkFactory
from iap_engine.service.reconcile import (
    Check,
    Due,
    Fetched,
    claim_and_load,
    fetch,
    follow_history,
    merge,
    release_leases,
    retry_deliveries,
)
from iap_engine.service.stores import HistorySource, StateSource

log = logging.getLogger("iap_engine.jobs")

# Store answers merged in one transaction at most. On SQLite a group holds the writer lock
# while it is merged (about 0.2 ms a subscription), which is what webhooks wait meanwhile.
GROUP = 50


@dataclass(frozen=True)
class JobSettings:
    batch_size: int
    lease: timedelta
    concurrency: int


class Tasks:
    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        catalog: Catalog,
        states: Mapping[Store, StateSource],
        histories: tuple[HistorySource, ...],
        readers: Mapping[Store, NotificationReader],
        policy: Policy,
        settings: JobSettings,
        worker: str,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._catalog = catalog
        self._states = states
        self._histories = histories
        self._readers = readers
        self._policy = policy
        self._settings = settings
        self.worker = worker
        self.stopping = threading.Event()

    def reconcile_due(self) -> Counter[str]:
        """Fetch every subscription due a check, batch by batch, until none is left.

        The pool's threads make the store calls, nothing else. This thread claims batches
        (claiming the next before the pool runs dry, so the store calls never pause) and
        merges the answers as they come in: all those that are in, up to `GROUP`, in one
        transaction. So the database sees one writer per worker, a few statements per
        subscription and a transaction per group, and no thread waits for a database lock
        while holding the interpreter. Google acknowledgements go to the pool once merged.
        """
        totals: Counter[str] = Counter()
        answers: SimpleQueue[Fetched | Check | None] = SimpleQueue()
        outstanding = 0  # store calls submitted whose answer has not come back
        exhausted = False
        with ThreadPoolExecutor(
            max_workers=self._settings.concurrency, thread_name_prefix="reconcile"
        ) as pool:
            while True:
                if (
                    not exhausted
                    and not self.stopping.is_set()
                    and outstanding <= self._settings.concurrency
                ):
                    claimed = claim_and_load(
                        self._uow_factory,
                        self._clock,
                        worker=self.worker,
                        limit=self._settings.batch_size,
                        lease=self._settings.lease,
                    )
                    exhausted = not claimed
                    for due in claimed:
                        pool.submit(self._fetch, due, answers)
                    outstanding += len(claimed)
                if outstanding == 0:
                    break
                batch = [answers.get()]
                while len(batch) < GROUP and not answers.empty():
                    batch.append(answers.get())
                outstanding -= len(batch)
                fetched = [answer for answer in batch if isinstance(answer, Fetched)]
                totals.update(answer.value for answer in batch if isinstance(answer, Check))
                checked = merge(
                    self._uow_factory,
                    self._clock,
                    self._catalog,
                    fetched,
                    worker=self.worker,
                    policy=self._policy,
                )
                for item, result in zip(fetched, checked, strict=True):
                    totals[result.result.value] += 1
                    if item.read is not None and item.read.follow_ups and result.merged:
                        pool.submit(run_follow_ups, item.read.follow_ups)
        if self.stopping.is_set():
            released = release_leases(self._uow_factory, worker=self.worker)
            log.info("stopping: released %d leases", released)
        log.info("reconciled due subscriptions", extra={"counts": dict(totals)})
        return totals

    def _fetch(self, due: Due, answers: SimpleQueue[Fetched | Check | None]) -> None:
        """One store call, in a pool thread; always answers exactly once."""
        answer: Fetched | Check | None = None  # None: skipped, its lease is released
        try:
            if not self.stopping.is_set():
                answer = fetch(self._states, due)
        except Exception:  # one subscription's failure must not stop the others
            log.exception("reconciling %s failed; its lease will expire", due.subscription.id)
            answer = Check.FAILED
        finally:
            answers.put(answer)

    def follow_histories(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for source in self._histories:
            if self.stopping.is_set():
                break
            run = follow_history(
                self._uow_factory,
                self._clock,
                self._catalog,
                source,
                self._readers.get(source.store),
                policy=self._policy,
            )
            totals[f"{source.cursor_name}.deliveries"] += run.deliveries
            totals[f"{source.cursor_name}.records"] += run.records
            if not run.complete:
                totals[f"{source.cursor_name}.incomplete"] += 1
        return totals

    def retry_inbox(self) -> Counter[str]:
        run = retry_deliveries(
            self._uow_factory,
            self._clock,
            self._catalog,
            self._readers,
            policy=self._policy,
        )
        return Counter(processed=run.processed, deferred=run.deferred, rejected=run.rejected)

    def run_once(self) -> dict[str, Counter[str]]:
        """Every task once, to completion (cron, tests): inbox, histories, then due checks."""
        return {
            "inbox": self.retry_inbox(),
            "histories": self.follow_histories(),
            "due": self.reconcile_due(),
        }
