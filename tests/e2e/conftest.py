"""End-to-end fixtures: a fresh, migrated database per engine, SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.databases import postgres_server_url, scratch_postgres, sqlite_copy


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Callable[[], str]]:
    """A factory of fresh, migrated databases of one kind (one per engine process)."""
    if request.param == "postgres" and postgres_server_url() is None:
        pytest.skip("PostgreSQL tests need IAP_ENGINE_TEST_POSTGRES_URL")
    with ExitStack() as stack:

        def make() -> str:
            if request.param == "postgres":
                return stack.enter_context(scratch_postgres(postgres_server_url() or ""))
            return sqlite_copy(sqlite_template, tmp_path)

        yield make
