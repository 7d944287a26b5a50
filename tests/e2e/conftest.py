"""End-to-end fixtures: a fresh, migrated database per engine, SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.schema import upgrade
from tests.support.databases import postgres_server_url, scratch_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of fresh, migrated databases of one kind (one per engine process)."""
    if request.param == "postgres" and postgres_server_url() is None:
        pytest.skip("PostgreSQL tests need IAP_ENGINE_TEST_POSTGRES_URL")
    with ExitStack() as stack:
        counter = iter(range(1_000_000))

        def make() -> str:
            if request.param == "postgres":
                return stack.enter_context(scratch_postgres(postgres_server_url() or ""))
            url = f"sqlite:///{tmp_path / f'engine-{next(counter)}.db'}"
            engine = create_database_engine(url)
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            return url

        yield make
