"""The one place that wires concrete adapters to the use cases. Nothing runs at import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO

from sqlalchemy import Engine

from iap_engine.clock import SystemClock
from iap_engine.domain import Catalog, Product
from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.schema import current_revision, head_revision, upgrade
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.ports import Clock
from iap_engine.settings import Settings


@dataclass
class Wiring:
    settings: Settings
    engine: Engine
    uow_factory: SqlUnitOfWorkFactory
    clock: Clock
    catalog: Catalog

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


def wire(settings: Settings, *, clock: Clock | None = None) -> Wiring:
    engine = create_database_engine(settings.database.url)
    return Wiring(
        settings=settings,
        engine=engine,
        uow_factory=SqlUnitOfWorkFactory(engine),
        clock=clock or SystemClock(),
        catalog=catalog_from(settings),
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
