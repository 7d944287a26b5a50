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

from iap_engine.domain import Catalog, Store
from iap_engine.service.deliveries import NotificationReader
from iap_engine.service.policy import Policy
from iap_engine.service.ports import Clock, UnitOfWorkFactory
from iap_engine.service.reconcile import (
    check_subscription,
    claim_due,
    follow_history,
    release_leases,
    retry_deliveries,
)
from iap_engine.service.stores import HistorySource, StateSource

log = logging.getLogger("iap_engine.jobs")


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
        """Fetch every subscription due a check, batch by batch, until none is left."""
        totals: Counter[str] = Counter()
        with ThreadPoolExecutor(
            max_workers=self._settings.concurrency, thread_name_prefix="reconcile"
        ) as pool:
            while not self.stopping.is_set():
                claimed = claim_due(
                    self._uow_factory,
                    self._clock,
                    worker=self.worker,
                    limit=self._settings.batch_size,
                    lease=self._settings.lease,
                )
                if not claimed:
                    break
                for checked in pool.map(self._check, claimed):
                    if checked is not None:
                        totals[checked] += 1
        if self.stopping.is_set():
            released = release_leases(self._uow_factory, worker=self.worker)
            log.info("stopping: released %d leases", released)
        log.info("reconciled due subscriptions", extra={"counts": dict(totals)})
        return totals

    def _check(self, subscription_id: str) -> str | None:
        if self.stopping.is_set():
            return None  # its lease is released on the way out
        try:
            return check_subscription(
                self._uow_factory,
                self._clock,
                self._catalog,
                self._states,
                subscription_id,
                worker=self.worker,
                policy=self._policy,
            ).result.value
        except Exception:  # one subscription's failure must not stop the others
            log.exception("reconciling %s failed; its lease will expire", subscription_id)
            return "failed"

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
