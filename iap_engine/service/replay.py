"""Use case: finish stored deliveries that were not processed (`iap-engine replay`).

A crash between storing a delivery and committing its state, or a store that was down,
leaves deliveries `received` or `failed`; replay processes them now, whatever their retry
schedule. With `include_given_up`, deliveries that were given up (`dead`) or rejected are
tried again too: after fixing a wrong bundle id or root certificate, say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from iap_engine.domain import Catalog, DeliveryStatus, Store
from iap_engine.service.deliveries import NotificationReader, Result, process
from iap_engine.service.policy import DEFAULT_POLICY, Policy
from iap_engine.service.ports import Clock, UnitOfWorkFactory

BATCH = 200
_DONE = frozenset({Result.PROCESSED, Result.IGNORED, Result.DUPLICATE})


@dataclass
class ReplaySummary:
    counts: Counter[str] = field(default_factory=Counter)
    unserved: set[Store] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def complete(self) -> bool:
        return not self.unserved and all(Result(r) in _DONE for r in self.counts)


def replay_deliveries(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    readers: Mapping[Store, NotificationReader],
    *,
    include_given_up: bool = False,
    policy: Policy = DEFAULT_POLICY,
) -> ReplaySummary:
    statuses = [DeliveryStatus.RECEIVED, DeliveryStatus.FAILED]
    if include_given_up:
        statuses += [DeliveryStatus.DEAD, DeliveryStatus.REJECTED]
    summary = ReplaySummary()
    after_id = 0
    while True:
        with uow_factory(readonly=True) as uow:
            batch = uow.inbox.pending(statuses, after_id=after_id, limit=BATCH)
        if not batch:
            return summary
        for delivery in batch:
            after_id = delivery.id
            reader = readers.get(delivery.store)
            if reader is None:
                summary.unserved.add(delivery.store)
                continue
            if delivery.status in (DeliveryStatus.DEAD, DeliveryStatus.REJECTED):
                with uow_factory() as uow:
                    uow.inbox.reopen(delivery.id)
                    uow.commit()
            result = process(
                uow_factory,
                clock,
                catalog,
                reader,
                delivery,
                policy=policy,
            )
            summary.counts[result.result.value] += 1
