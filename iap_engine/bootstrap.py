"""The one place that wires concrete adapters to the use cases. Nothing runs at import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO

import requests
from fastapi import FastAPI
from sqlalchemy import Engine

from iap_engine.clock import SystemClock
from iap_engine.domain import Catalog, Product, Store
from iap_engine.metrics import Metrics
from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.schema import current_revision, head_revision, upgrade
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.deliveries import NotificationReader
from iap_engine.service.ports import Clock
from iap_engine.service.stores import AppleGateway, GoogleGateway
from iap_engine.settings import Settings


@dataclass
class Wiring:
    settings: Settings
    engine: Engine
    uow_factory: SqlUnitOfWorkFactory
    clock: Clock
    catalog: Catalog
    metrics: Metrics
    apple: AppleGateway | None
    google: GoogleGateway | None

    def readers(self) -> dict[Store, NotificationReader]:
        found: dict[Store, NotificationReader] = {}
        if self.apple is not None:
            found[Store.APP_STORE] = self.apple.notifications
        if self.google is not None:
            found[Store.PLAY_STORE] = self.google.notifications
        return found

    def check_database(self) -> None:
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self.engine.dispose()


def catalog_from(settings: Settings) -> Catalog:
    return Catalog(
        Product(
            product_id=product_id,
            type=product.type,
            entitlements=tuple(product.entitlements),
            duration=(timedelta(days=product.duration_days) if product.duration_days else None),
        )
        for product_id, product in settings.products.items()
    )


def wire(
    settings: Settings,
    *,
    clock: Clock | None = None,
    session: requests.Session | None = None,
) -> Wiring:
    """Everything the engine runs on, from configuration. Opens no connection yet."""
    engine = create_database_engine(settings.database.url)
    clock = clock or SystemClock()
    metrics = Metrics()
    session = session or requests.Session()
    return Wiring(
        settings=settings,
        engine=engine,
        uow_factory=SqlUnitOfWorkFactory(engine),
        clock=clock,
        catalog=catalog_from(settings),
        metrics=metrics,
        apple=_apple(settings, clock, session, metrics),
        google=_google(settings, clock, session, metrics),
    )


def _apple(
    settings: Settings, clock: Clock, session: requests.Session, metrics: Metrics
) -> AppleGateway | None:
    if settings.apple is None:
        return None
    from store_adapters.apple.gateway import build_apple_gateway

    return build_apple_gateway(settings.apple, clock=clock, session=session, metrics=metrics)


def _google(
    settings: Settings, clock: Clock, session: requests.Session, metrics: Metrics
) -> GoogleGateway | None:
    if settings.google is None:
        return None
    from store_adapters.google.factory import google_adapter

    return google_adapter(settings.google, session, clock)


def build_app(wiring: Wiring) -> FastAPI:
    from iap_engine.api.app import create_app
    from iap_engine.api.context import Engine as ApiEngine

    return create_app(
        ApiEngine(
            settings=wiring.settings,
            uow_factory=wiring.uow_factory,
            clock=wiring.clock,
            catalog=wiring.catalog,
            metrics=wiring.metrics,
            apple=wiring.apple,
            google=wiring.google,
            database_check=wiring.check_database,
        )
    )


@dataclass(frozen=True)
class SchemaUpgrade:
    where: str
    before: str | None
    after: str | None
    head: str | None


def upgrade_database(settings: Settings) -> SchemaUpgrade:
    engine = create_database_engine(settings.database.url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    return SchemaUpgrade(
        where=engine.url.render_as_string(hide_password=True),
        before=before,
        after=after,
        head=head_revision(),
    )


def inspect_payload(store: str, settings: Settings, data: bytes, out: TextIO) -> int:
    """`iap-engine inspect`: verify and decode with the configured rules; 0 valid, 1 not."""
    if store == "apple":
        from store_adapters.apple.inspect import inspect_payload as inspect_apple

        return inspect_apple(settings, data, out)
    from store_adapters.google.inspect import inspect_payload as inspect_google

    return inspect_google(settings, data, out)


def app_from_environment() -> FastAPI:
    """The app for `serve --workers N`: each worker reads the configuration itself."""
    from iap_engine import logs
    from iap_engine.settings import load_settings

    logs.configure()
    return build_app(wire(load_settings()))
