"""Use case: which entitlements does a user have at an instant?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from iap_engine.domain import Catalog, Grant, entitlements_at
from iap_engine.service.ports import Clock, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class UserEntitlements:
    app_user_id: str
    at: datetime
    grants: tuple[Grant, ...]


def entitlements_for_user(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    catalog: Catalog,
    app_user_id: str,
    at: datetime | None = None,
) -> UserEntitlements:
    instant = clock.now() if at is None else at
    with uow_factory(readonly=True) as uow:
        subscriptions = uow.subscriptions.for_user(app_user_id)
    return UserEntitlements(app_user_id, instant, entitlements_at(subscriptions, catalog, instant))
