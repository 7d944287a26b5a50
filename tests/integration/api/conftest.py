"""An API application over a real database, with fake store gateways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from iap_engine.api.app import create_app
from iap_engine.api.context import Engine as ApiEngine
from iap_engine.metrics import Metrics
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.policy import Policy
from iap_engine.settings import Settings
from tests.conftest import ManualClock
from tests.support.builders import CATALOG
from tests.support.fakes import FakeApple, FakeGoogle, api_key_digest

KEYS = {"service": "svc-key", "support": "support-key", "admin": "admin-key"}


def headers(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def settings_for(**engine: object) -> Settings:
    return Settings.model_validate(
        {
            "auth": {
                "api_keys": [
                    {"name": f"{role}-caller", "role": role, "sha256": api_key_digest(key)}
                    for role, key in KEYS.items()
                ]
            },
            "server": {"max_body_bytes": 4096},
            "engine": engine,
            "google": {
                "package_name": "com.example.app",
                "pubsub_audience": "https://iap.example.com/v1/notifications/google",
                "pubsub_service_account": "push@example.iam.gserviceaccount.com",
            },
        }
    )


@pytest.fixture
def fake_apple() -> FakeApple:
    return FakeApple()


@pytest.fixture
def fake_google() -> FakeGoogle:
    return FakeGoogle()


@pytest.fixture
def make_client(
    engine: Engine,
    uow_factory: SqlUnitOfWorkFactory,
    clock: ManualClock,
    fake_apple: FakeApple,
    fake_google: FakeGoogle,
) -> Iterator:
    clients = []

    def make(**engine_settings: object) -> TestClient:
        def database_check() -> None:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        api = ApiEngine(
            settings=settings_for(**engine_settings),
            uow_factory=uow_factory,
            clock=clock,
            catalog=CATALOG,
            policy=Policy(
                restore=str(engine_settings.get("restore_policy", "transfer")),  # type: ignore[arg-type]
            ),
            metrics=Metrics(),
            apple=fake_apple,
            google=fake_google,
            database_check=database_check,
        )
        client = TestClient(create_app(api), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()
