"""Repositories and the unit of work, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest

from iap_engine.domain import (
    EventKind,
    ExpirationReason,
    OfferKind,
    Source,
    Status,
    Store,
    TimelineEntry,
    apply,
)
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.errors import ConcurrentUpdate
from tests.support.builders import at, event, new_subscription, period, revocation, state


def stored_subscription(
    uow_factory: SqlUnitOfWorkFactory,
    subscription_id: str = "sub-1",
    store_key: str = "1000000000000001",
):
    subscription = apply(
        new_subscription(subscription_id, store_key=store_key),
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, at(30), renewal_product_id="yearly"),
            periods=(period("t-1", at(0), at(30), offer=OfferKind.TRIAL, price_micros=0),),
        ),
    ).subscription
    with uow_factory() as uow:
        stored = uow.subscriptions.add(subscription, at(0))
        uow.commit()
    return stored


def side_by_side(target: Callable[..., None], *argument_sets: tuple[object, ...]) -> None:
    """`target(*arguments)` for each set at once, each in a thread of its own."""
    threads = [threading.Thread(target=target, args=arguments) for arguments in argument_sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def test_a_subscription_round_trips_with_its_facts(uow_factory: SqlUnitOfWorkFactory) -> None:
    stored = stored_subscription(uow_factory)
    with uow_factory(readonly=True) as uow:
        loaded = uow.subscriptions.get(stored.id)
    assert loaded == stored
    assert loaded.version == 1
    assert loaded.expires_at is not None and loaded.expires_at.tzinfo is not None


def test_saving_writes_new_and_changed_facts(uow_factory: SqlUnitOfWorkFactory) -> None:
    stored = stored_subscription(uow_factory)
    later = apply(
        stored,
        event(
            EventKind.EXPIRED,
            at(31),
            state(
                Status.EXPIRED,
                at(30),
                auto_renew=False,
                expiration_reason=ExpirationReason.VOLUNTARY,
            ),
            periods=(period("t-1", at(0), at(30), as_of=at(31)), period("t-2", at(30), at(30.5))),
            revocations=(revocation("t-2", at(31)),),
        ),
    ).subscription
    with uow_factory() as uow:
        uow.subscriptions.get(stored.id)
        saved = uow.subscriptions.save(later, at(31))
        uow.commit()
    with uow_factory(readonly=True) as uow:
        loaded = uow.subscriptions.get(stored.id)
    assert loaded == saved
    assert loaded.version == 2
    assert loaded.expiration_reason is ExpirationReason.VOLUNTARY
    assert [p.transaction_id for p in loaded.periods] == ["t-1", "t-2"]
    assert loaded.revocation_of("t-2") is not None


def test_lookups_by_key_transaction_token_and_user(uow_factory: SqlUnitOfWorkFactory) -> None:
    stored = stored_subscription(uow_factory)
    with uow_factory() as uow:
        uow.subscriptions.add_token(Store.PLAY_STORE, "tok-2", stored.id, "tok-1", at(1))
        uow.subscriptions.add_token(Store.PLAY_STORE, "tok-2", stored.id, "tok-1", at(2))
        uow.commit()
    with uow_factory(readonly=True) as uow:
        assert uow.subscriptions.by_store_key(Store.APP_STORE, stored.store_key) == stored
        assert uow.subscriptions.by_transaction_id("t-1") == [stored]
        assert uow.subscriptions.by_transaction_id("nope") == []
        assert uow.subscriptions.by_token(Store.PLAY_STORE, "tok-2") == stored
        assert uow.subscriptions.tokens(stored.id) == ["tok-2"]
        assert uow.subscriptions.for_user("u-1") == [stored]
        assert uow.subscriptions.for_user("u-2") == []


def test_nothing_is_kept_unless_committed(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.subscriptions.add(new_subscription(), at(0))
    with pytest.raises(RuntimeError), uow_factory() as uow:
        uow.subscriptions.add(new_subscription(), at(0))
        raise RuntimeError("crash before commit")
    with uow_factory(readonly=True) as uow:
        assert uow.subscriptions.get("sub-1") is None


def test_a_second_subscription_with_the_same_store_key_is_refused(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    stored_subscription(uow_factory)
    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.subscriptions.add(replace(new_subscription(), id="sub-2"), at(1))


def test_a_stale_write_is_detected_never_lost(uow_factory: SqlUnitOfWorkFactory) -> None:
    stored = stored_subscription(uow_factory)
    with uow_factory(readonly=True) as uow:
        seen_by_a = uow.subscriptions.get(stored.id)
    with uow_factory() as uow:
        seen_by_b = uow.subscriptions.get(stored.id)
        uow.subscriptions.save(replace(seen_by_b, auto_renew=False), at(1))
        uow.commit()
    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.subscriptions.save(replace(seen_by_a, status=Status.EXPIRED), at(2))
    with uow_factory(readonly=True) as uow:
        final = uow.subscriptions.get(stored.id)
    assert final.auto_renew is False  # B's write is intact
    assert final.status is Status.ACTIVE  # A's stale write did not land


def test_concurrent_sessions_updating_one_subscription_cannot_both_win(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    """Two writers load the same version; exactly one commit lands, the other is told."""
    stored = stored_subscription(uow_factory)
    barrier = threading.Barrier(2, timeout=20)
    results: dict[str, str] = {}

    # Both load from the same committed version before either writes.
    with uow_factory(readonly=True) as uow:
        base = uow.subscriptions.get(stored.id)

    def stale_writer(name: str, change: dict[str, object]) -> None:
        barrier.wait()
        try:
            with uow_factory() as uow:
                uow.subscriptions.save(replace(base, **change), at(1))
                uow.commit()
            results[name] = "saved"
        except ConcurrentUpdate:
            results[name] = "conflict"

    side_by_side(stale_writer, ("a", {"auto_renew": False}), ("b", {"status": Status.EXPIRED}))
    assert sorted(results.values()) == ["conflict", "saved"]
    with uow_factory(readonly=True) as uow:
        final = uow.subscriptions.get(stored.id)
    assert final.version == 2
    winner = next(name for name, result in results.items() if result == "saved")
    if winner == "a":
        assert (final.auto_renew, final.status) == (False, Status.ACTIVE)
    else:
        assert (final.auto_renew, final.status) == (True, Status.EXPIRED)


def test_writers_that_load_inside_their_transaction_never_lose_an_update(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    """Load-change-save in two sessions at once: both changes land, or one is refused.

    (SQLite serializes writers, so both land in turn; PostgreSQL lets both load the same
    version, so the slower one is refused and would be retried by the use case.)
    """
    stored = stored_subscription(uow_factory)
    barrier = threading.Barrier(2, timeout=20)
    results: dict[str, str] = {}

    def writer(name: str, change: dict[str, object]) -> None:
        try:
            with uow_factory() as uow:
                loaded = uow.subscriptions.get(stored.id)
                if uow.connection.dialect.name != "sqlite":
                    barrier.wait()
                uow.subscriptions.save(replace(loaded, **change), at(1))
                uow.commit()
            results[name] = "saved"
        except ConcurrentUpdate:
            results[name] = "conflict"

    side_by_side(writer, ("a", {"auto_renew": False}), ("b", {"renewal_product_id": "monthly"}))
    with uow_factory(readonly=True) as uow:
        final = uow.subscriptions.get(stored.id)
    if sorted(results.values()) == ["saved", "saved"]:
        assert (final.auto_renew, final.renewal_product_id) == (False, "monthly")
        assert final.version == 3
    else:
        assert sorted(results.values()) == ["conflict", "saved"]
        assert final.version == 2


def test_the_timeline_is_append_only_and_ordered(uow_factory: SqlUnitOfWorkFactory) -> None:
    stored = stored_subscription(uow_factory)
    entries = [
        TimelineEntry(
            subscription_id=stored.id,
            kind=kind,
            outcome="applied",
            store_time=at(day),
            received_at=at(day, minutes=1),
            source=Source.WEBHOOK,
            store_type="DID_RENEW",
            note=None,
        )
        for day, kind in ((1, "renewed"), (0, "purchased"))
    ]
    with uow_factory() as uow:
        for entry in entries:
            uow.timeline.append(entry)
        uow.commit()
    with uow_factory(readonly=True) as uow:
        assert list(uow.timeline.for_subscription(stored.id)) == entries


def test_customers_are_created_once_and_deleted(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.customers.ensure("u-1", at(0))
        uow.customers.ensure("u-1", at(1))
        uow.commit()
    with uow_factory() as uow:
        assert uow.customers.exists("u-1")
        assert uow.customers.delete("u-1")
        assert not uow.customers.delete("u-1")
        uow.commit()
    with uow_factory(readonly=True) as uow:
        assert not uow.customers.exists("u-1")


def test_a_group_read_answers_what_single_reads_would(uow_factory: SqlUnitOfWorkFactory) -> None:
    first = stored_subscription(uow_factory)
    second = stored_subscription(uow_factory, "sub-2", "1002")
    with uow_factory() as uow:
        # A chain: tok-a was replaced by tok-b (an upgrade), itself by tok-c.
        uow.subscriptions.add_token(Store.PLAY_STORE, "tok-a", first.id, None, at(0))
        uow.subscriptions.add_token(Store.PLAY_STORE, "tok-c", first.id, "tok-b", at(2))
        uow.subscriptions.add_token(Store.PLAY_STORE, "tok-b", first.id, "tok-a", at(1))
        uow.commit()
    with uow_factory() as uow:
        many = uow.subscriptions.get_many([first.id, second.id, "missing"])
        assert sorted(many, key=lambda s: s.id) == sorted([first, second], key=lambda s: s.id)
        assert uow.subscriptions.current_tokens([first.id, second.id]) == {first.id: "tok-c"}
        # Later reads in this unit of work agree with the database ...
        assert uow.subscriptions.by_store_key(Store.APP_STORE, second.store_key) == second
        assert uow.subscriptions.by_token(Store.PLAY_STORE, "tok-b") == first
        # ... and follow what it writes: a new token ends the chain, a save is seen.
        uow.subscriptions.add_token(Store.PLAY_STORE, "tok-d", first.id, "tok-c", at(3))
        assert uow.subscriptions.current_token(first.id) == "tok-d"
        saved = uow.subscriptions.save(replace(first, auto_renew=False), at(3))
        assert uow.subscriptions.by_store_key(Store.APP_STORE, first.store_key) == saved
        uow.commit()
    with uow_factory(readonly=True) as uow:
        assert uow.subscriptions.current_token(first.id) == "tok-d"
        assert uow.subscriptions.by_token(Store.PLAY_STORE, "tok-d") == saved


def test_subscriptions_read_earlier_are_reused_only_while_unchanged(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    first = stored_subscription(uow_factory)
    second = stored_subscription(uow_factory, "sub-2", "1002")
    gone = replace(first, id="sub-gone", store_key="1003")
    with uow_factory() as uow:  # another writer changes the second meanwhile
        changed = uow.subscriptions.save(
            replace(uow.subscriptions.get(second.id), auto_renew=False), at(1)
        )
        uow.commit()
    with uow_factory() as uow:
        assert uow.subscriptions.reuse([first, second, gone]) == [second.id, gone.id]
        assert uow.subscriptions.by_store_key(Store.APP_STORE, first.store_key) == first
        # What changed is read from the database, not taken from the earlier read.
        assert uow.subscriptions.by_store_key(Store.APP_STORE, second.store_key) == changed
        # A reused one is saved like one read here: its version is still checked.
        uow.subscriptions.save(replace(first, auto_renew=False), at(2))
        with pytest.raises(ConcurrentUpdate):
            uow.subscriptions.save(replace(second, auto_renew=True), at(2))


def test_a_cursor_is_created_then_moved(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.cursors.get("apple.history") is None
        uow.cursors.put("apple.history", "first", at(0))
        uow.commit()
    with uow_factory() as uow:
        uow.cursors.put("apple.history", "second", at(1))
        uow.cursors.put("google.voided", "other", at(1))
        uow.commit()
    with uow_factory(readonly=True) as uow:
        assert uow.cursors.get("apple.history") == "second"
        assert uow.cursors.get("google.voided") == "other"
