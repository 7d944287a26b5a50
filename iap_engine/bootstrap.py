"""The one place that wires concrete adapters to the use cases. Nothing runs at import."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO

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
from iap_engine.service.policy import Policy
from iap_engine.service.ports import Clock
from iap_engine.service.stores import AppleGateway, GoogleGateway, HistorySource, StateSource
from iap_engine.settings import Settings

if TYPE_CHECKING:
    from jobs.tasks import Tasks


def worker_name() -> str:
    """Unique per process: leases name the worker that holds them."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Wiring:
    settings: Settings
    engine: Engine
    uow_factory: SqlUnitOfWorkFactory
    clock: Clock
    catalog: Catalog
    policy: Policy
    metrics: Metrics
    apple: AppleGateway | None
    google: GoogleGateway | None
    # What reconciliation asks each store (present when its API credentials are configured).
    state_sources: dict[Store, StateSource]
    history_sources: tuple[HistorySource, ...]

    def readers(self) -> dict[Store, NotificationReader]:
        found: dict[Store, NotificationReader] = {}
        if self.apple is not None:
            found[Store.APP_STORE] = self.apple.notifications
        if self.google is not None:
            found[Store.PLAY_STORE] = self.google.notifications
        return found

    def tasks(self, worker: str | None = None) -> Tasks:
        """The reconciliation tasks (wire with `limited=True` to cap store calls)."""
        from jobs.tasks import JobSettings
        from jobs.tasks import Tasks as JobTasks

        jobs = self.settings.jobs
        return JobTasks(
            uow_factory=self.uow_factory,
            clock=self.clock,
            catalog=self.catalog,
            states=self.state_sources,
            histories=self.history_sources,
            readers=self.readers(),
            policy=self.policy,
            settings=JobSettings(
                batch_size=jobs.batch_size,
                lease=timedelta(seconds=jobs.lease_seconds),
                concurrency=jobs.store_concurrency,
            ),
            worker=worker or worker_name(),
        )

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


def store_session(rate: float | None = None, concurrency: int = 16) -> requests.Session:
    """The HTTP session a store's calls go through; with `rate`, every request (retries and
    token refreshes included) stays within `rate` per second and `concurrency` in flight.

    requests looks up proxy settings in the environment on every call (a noticeable cost at
    reconciliation rates); with no proxy configured there is nothing to look up.
    """
    from jobs.limits import LimitedSession, TokenBucket

    session = (
        LimitedSession(TokenBucket(rate), concurrency) if rate is not None else requests.Session()
    )
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        session.trust_env = False
    return session


def count_calls(session: requests.Session, metrics: Metrics, store: Store) -> None:
    """Count every answer a store gives on this session, by outcome (for `/metrics`).

    The same outcomes as the App Store client reports: ok, rate_limited, unavailable (5xx),
    rejected (any other error answer).
    """

    def observe(response: requests.Response, *args: object, **kwargs: object) -> None:
        status = response.status_code
        if status < 400:
            outcome = "ok"
        elif status == 429:
            outcome = "rate_limited"
        elif status >= 500:
            outcome = "unavailable"
        else:
            outcome = "rejected"
        metrics.store_calls.inc(store.value, outcome)

    session.hooks["response"].append(observe)


def policy_from(settings: Settings) -> Policy:
    return Policy(
        restore=settings.engine.restore_policy,
        link_account_hints=settings.engine.link_account_hints,
        recheck_window=timedelta(days=settings.jobs.recheck_window_days),
    )


def wire(
    settings: Settings,
    *,
    clock: Clock | None = None,
    session: requests.Session | None = None,
    limited: bool = False,
) -> Wiring:
    """Everything the engine runs on, from configuration. Opens no connection yet.

    `limited`: hold each store's calls to the `[jobs]` rates and concurrency (the worker);
    `session`: one session for both stores instead (tests inject theirs).
    """
    engine = create_database_engine(settings.database.url, background_checkpoints=True)
    clock = clock or SystemClock()
    metrics = Metrics()
    jobs = settings.jobs
    apple_session = session or store_session(
        jobs.apple_requests_per_second if limited else None, jobs.store_concurrency
    )
    google_session = session or store_session(
        jobs.google_requests_per_second if limited else None, jobs.store_concurrency
    )
    states: dict[Store, StateSource] = {}
    histories: list[HistorySource] = []
    apple: AppleGateway | None = None
    google: GoogleGateway | None = None
    if settings.apple is not None:
        from store_adapters.apple.gateway import build_apple_gateway
        from store_adapters.apple.reconcile import AppleNotificationHistory, AppleStateSource

        apple_gateway = build_apple_gateway(
            settings.apple, clock=clock, session=apple_session, metrics=metrics
        )
        apple = apple_gateway
        if apple_gateway.has_api:
            states[Store.APP_STORE] = AppleStateSource(apple_gateway)
            histories += [
                AppleNotificationHistory(apple_gateway, environment)
                for environment in apple_gateway.environments
            ]
    if settings.google is not None:
        from store_adapters.google.factory import google_adapter
        from store_adapters.google.reconcile import GoogleStateSource, GoogleVoidedPurchases

        if session is None:  # an injected session may be shared by both stores
            count_calls(google_session, metrics, Store.PLAY_STORE)
        google_play = google_adapter(settings.google, google_session, clock)
        google = google_play
        if google_play.gateway is not None:
            states[Store.PLAY_STORE] = GoogleStateSource(google_play.gateway)
            histories.append(GoogleVoidedPurchases(google_play.gateway))
    return Wiring(
        settings=settings,
        engine=engine,
        uow_factory=SqlUnitOfWorkFactory(engine),
        clock=clock,
        catalog=catalog_from(settings),
        policy=policy_from(settings),
        metrics=metrics,
        apple=apple,
        google=google,
        state_sources=states,
        history_sources=tuple(histories),
    )


def build_app(wiring: Wiring) -> FastAPI:
    from iap_engine.api.app import create_app
    from iap_engine.api.context import Engine as ApiEngine

    return create_app(
        ApiEngine(
            settings=wiring.settings,
            uow_factory=wiring.uow_factory,
            clock=wiring.clock,
            catalog=wiring.catalog,
            policy=wiring.policy,
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
