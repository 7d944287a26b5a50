"""What the routes need, taken from the application state (set up by `create_app`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from iap_engine.domain import Catalog
from iap_engine.metrics import Metrics
from iap_engine.service.policy import Policy
from iap_engine.service.ports import Clock, UnitOfWorkFactory
from iap_engine.service.stores import AppleGateway, GoogleGateway
from iap_engine.settings import Settings


@dataclass(frozen=True)
class Engine:
    settings: Settings
    uow_factory: UnitOfWorkFactory
    clock: Clock
    catalog: Catalog
    policy: Policy
    metrics: Metrics
    apple: AppleGateway | None
    google: GoogleGateway | None
    database_check: Callable[[], None]  # raises if the database is unreachable


def engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found
