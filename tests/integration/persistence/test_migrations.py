"""The Alembic migrations build exactly the schema `tables.py` describes, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, insert, select

from iap_engine.persistence.schema import MIGRATIONS, current_revision, head_revision, upgrade
from iap_engine.persistence.tables import metadata, periods, subscriptions
from tests.support.builders import at


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
    assert current_revision(engine) == head_revision()


def test_upgrading_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def _downgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_a_database_from_the_first_schema_upgrades_with_its_data_due_for_checks(
    engine: Engine,
) -> None:
    _downgrade(engine, "0001")
    try:
        with engine.begin() as connection:
            for subscription_id, status in (("sub-live", "active"), ("sub-over", "expired")):
                connection.execute(
                    insert(subscriptions).values(
                        id=subscription_id,
                        store="app_store",
                        environment="sandbox",
                        store_key=subscription_id,
                        product_id="monthly",
                        status=status,
                        auto_renew=True,
                        account_deleted=False,
                        version=1,
                        created_at=at(0),
                        updated_at=at(1),
                    )
                )
                connection.execute(
                    insert(periods).values(
                        subscription_id=subscription_id,
                        transaction_id=f"t-{subscription_id}",
                        product_id="monthly",
                        starts_at=at(0),
                        offer="normal",
                        replaces_prior=False,
                        as_of=at(0),
                    )
                )
        upgrade(engine)
        with engine.connect() as connection:
            due = {
                row.id: row.next_check_at
                for row in connection.execute(
                    select(subscriptions.c.id, subscriptions.c.next_check_at)
                )
            }
            kept = connection.execute(select(func.count()).select_from(periods)).scalar_one()
        # Reconciliation sees the live one at once; the finished one stays unscheduled.
        assert due == {"sub-live": at(1), "sub-over": None}
        assert kept == 2

        # Going back down keeps every fact (no table is recreated and cascaded away).
        _downgrade(engine, "0001")
        with engine.connect() as connection:
            kept = connection.execute(select(func.count()).select_from(periods)).scalar_one()
        assert kept == 2
    finally:
        upgrade(engine)
