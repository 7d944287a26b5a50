"""The hot-path statements run on the driver (`persistence.driver`) read and write exactly
what SQLAlchemy's own types do, on SQLite and PostgreSQL; one query loads a subscription
with all its facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import Engine, select, text

from iap_engine.domain import (
    DeliveryStatus,
    EventKind,
    Source,
    Status,
    Store,
    TimelineEntry,
    apply,
)
from iap_engine.persistence.tables import periods, subscriptions
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.support.builders import at, event, new_subscription, period, revocation, state


def test_values_written_on_the_driver_read_back_through_sqlalchemy(
    engine: Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    odd = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    subscription = apply(
        new_subscription(),
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, odd, auto_renew=False),
            periods=(period("t-1", at(0), odd, replaces_prior=True),),
        ),
    ).subscription
    with uow_factory() as uow:
        uow.subscriptions.add(subscription, at(0, seconds=1))
        uow.commit()
    with engine.connect() as connection:
        row = connection.execute(select(subscriptions)).one()
        fact = connection.execute(select(periods)).one()
    assert row.expires_at == odd
    assert row.created_at == at(0, seconds=1)
    assert row.auto_renew is False
    assert fact.ends_at == odd
    assert fact.replaces_prior is True


def test_sqlite_times_are_stored_in_sqlalchemys_text_form(
    engine: Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    if engine.dialect.name != "sqlite":
        return
    with uow_factory() as uow:
        uow.subscriptions.add(new_subscription(), at(0))
        uow.commit()
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT created_at FROM subscriptions")).scalar_one()
    # Whole seconds keep their microseconds, so text order stays time order.
    assert stored == "2026-01-01 00:00:00.000000"


def test_one_query_loads_every_period_and_revocation_in_order(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    subscription = apply(
        new_subscription(),
        event(
            EventKind.PURCHASED,
            at(90),
            state(Status.ACTIVE, at(120)),
            periods=(
                period("t-3", at(60), at(90)),
                period("t-1", at(0), at(30)),
                period("t-2", at(30), at(60)),
                period("t-0", at(0), at(30)),
            ),
            # Three refunds, one of a renewal that has not arrived yet.
            revocations=(
                revocation("t-2", at(40)),
                revocation("t-9", at(95)),
                revocation("t-1", at(10)),
            ),
        ),
    ).subscription
    second = apply(
        new_subscription("sub-2", store_key="2000000000000002"),
        event(EventKind.PURCHASED, at(1), state(Status.ACTIVE, at(31))),
    ).subscription
    with uow_factory() as uow:
        uow.subscriptions.add(subscription, at(0))
        uow.subscriptions.add(second, at(1))
        uow.commit()
    with uow_factory(readonly=True) as uow:
        loaded = uow.subscriptions.for_user("u-1")
    assert [s.id for s in loaded] == ["sub-1", "sub-2"]
    first = loaded[0]
    assert first == replace(subscription, version=1)
    assert [p.transaction_id for p in first.periods] == ["t-0", "t-1", "t-2", "t-3"]
    assert [r.transaction_id for r in first.revocations] == ["t-1", "t-2", "t-9"]
    assert loaded[1].periods == () and loaded[1].revocations == ()


def test_timeline_and_inbox_rows_round_trip(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        delivery, created = uow.inbox.record(Store.APP_STORE, "uuid-1", b"{}", at(0))
        again, created_again = uow.inbox.record(Store.APP_STORE, "uuid-1", b"{}", at(1))
        stored = uow.subscriptions.add(new_subscription(), at(0))
        uow.timeline.append(
            TimelineEntry(
                subscription_id=stored.id,
                kind="purchased",
                outcome="applied",
                store_time=at(0),
                received_at=at(0, seconds=2),
                source=Source.WEBHOOK,
                inbox_id=delivery.id,
            )
        )
        uow.inbox.finish(delivery.id, DeliveryStatus.PROCESSED, at(0, 3), subscription_id="x")
        uow.commit()
    assert created and not created_again
    assert again == delivery
    with uow_factory(readonly=True) as uow:
        finished = uow.inbox.get(delivery.id)
        entries = uow.timeline.for_subscription(stored.id)
    assert finished is not None
    assert finished.status is DeliveryStatus.PROCESSED
    assert finished.attempts == 1 and finished.next_attempt_at is None
    assert finished.received_at == at(0)
    assert [(e.kind, e.received_at, e.inbox_id) for e in entries] == [
        ("purchased", at(0, seconds=2), delivery.id)
    ]
