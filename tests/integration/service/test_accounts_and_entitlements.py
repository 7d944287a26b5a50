"""Use cases over a real database: entitlements for a user, account deletion, look-up."""

from __future__ import annotations

from dataclasses import replace

from iap_engine.domain import EventKind, Source, Status, Store, apply
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.accounts import APPLE_MANAGE_URL, delete_account
from iap_engine.service.entitlements import entitlements_for_user
from iap_engine.service.lookup import look_up
from tests.conftest import ManualClock
from tests.support.builders import CATALOG, at, event, new_subscription, period, state


def store(uow_factory: SqlUnitOfWorkFactory, *subscriptions) -> None:
    with uow_factory() as uow:
        for subscription in subscriptions:
            uow.customers.ensure(subscription.app_user_id, at(0))
            uow.subscriptions.add(subscription, at(0))
        uow.commit()


def renewing_monthly(subscription_id: str = "sub-1", store_key: str = "1001"):
    return apply(
        new_subscription(subscription_id, store_key=store_key),
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, at(30)),
            periods=(period(f"{store_key}-t1", at(0), at(30)),),
        ),
    ).subscription


def cancelled_google(subscription_id: str = "sub-2"):
    return apply(
        new_subscription(subscription_id, store=Store.PLAY_STORE, store_key="tok-1"),
        event(
            EventKind.AUTO_RENEW_DISABLED,
            at(1),
            state(Status.ACTIVE, at(30), auto_renew=False),
            periods=(period("GPA.1234", at(0), at(30)),),
        ),
    ).subscription


def test_entitlements_now_and_at_a_past_instant(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    store(uow_factory, renewing_monthly())
    clock.set(at(10))
    now = entitlements_for_user(uow_factory, clock, CATALOG, "u-1")
    assert now.at == at(10)
    assert [(g.entitlement, g.active, g.expires_at) for g in now.grants] == [
        ("premium", True, at(30))
    ]
    later = entitlements_for_user(uow_factory, clock, CATALOG, "u-1", at(31))
    assert [(g.entitlement, g.active) for g in later.grants] == [("premium", False)]
    nobody = entitlements_for_user(uow_factory, clock, CATALOG, "nobody")
    assert nobody.grants == ()


def test_deleting_an_account_erases_the_link_and_keeps_the_purchases(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    store(uow_factory, renewing_monthly(), cancelled_google())
    clock.set(at(5))
    result = delete_account(
        uow_factory, clock, CATALOG, "u-1", actor="admin-key", google_package="com.example.app"
    )
    # Only the Apple one still renews: the Google one was cancelled in the store already.
    assert [(r.subscription_id, r.store, r.manage_url) for r in result.still_renewing] == [
        ("sub-1", Store.APP_STORE, APPLE_MANAGE_URL)
    ]
    with uow_factory(readonly=True) as uow:
        assert not uow.customers.exists("u-1")
        assert uow.subscriptions.for_user("u-1") == []
        kept = uow.subscriptions.get("sub-1")
        assert kept.app_user_id is None and kept.account_deleted
        assert [p.transaction_id for p in kept.periods] == ["1001-t1"]
        assert uow.subscriptions.by_transaction_id("1001-t1") == [kept]
        timeline = uow.timeline.for_subscription("sub-1")
        assert [(e.kind, e.source) for e in timeline] == [("account_deleted", Source.API)]
        assert "u-1" not in (timeline[0].note or "")
    # Still tracked: a later store input updates the orphaned subscription.
    with uow_factory() as uow:
        orphan = uow.subscriptions.get("sub-1")
        renewed = apply(
            orphan,
            event(
                EventKind.RENEWED,
                at(30),
                state(Status.ACTIVE, at(60)),
                periods=(period("1001-t2", at(30), at(60)),),
            ),
        ).subscription
        uow.subscriptions.save(renewed, at(30))
        uow.commit()
    with uow_factory(readonly=True) as uow:
        assert uow.subscriptions.get("sub-1").expires_at == at(60)


def test_deleting_an_unknown_account_is_harmless(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    assert delete_account(uow_factory, clock, CATALOG, "ghost", actor="admin").still_renewing == ()


def test_google_manage_url_names_the_product_and_package(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    renewing = replace(cancelled_google(), auto_renew=True)
    store(uow_factory, renewing)
    result = delete_account(
        uow_factory, clock, CATALOG, "u-1", actor="admin", google_package="com.example.app"
    )
    assert result.still_renewing[0].manage_url == (
        "https://play.google.com/store/account/subscriptions?sku=monthly&package=com.example.app"
    )


def test_look_up_resolves_an_apple_invoice_order_id_through_the_store(
    uow_factory: SqlUnitOfWorkFactory, clock: ManualClock
) -> None:
    # An original transaction id looks like an order id: found locally, the store is not asked.
    original = "2000000000001"
    store(uow_factory, renewing_monthly(store_key=original))
    asked: list[str] = []

    def orders(order_id: str) -> list[str]:
        asked.append(order_id)
        return [original] if order_id == "MK5TTTVWJH" else []

    found = look_up(uow_factory, clock, CATALOG, "MK5TTTVWJH", apple_orders=orders, at=at(15))
    assert [(v.subscription.id, v.entitled) for v in found.views] == [("sub-1", True)]
    assert look_up(uow_factory, clock, CATALOG, "MQUNKNOWN", apple_orders=orders).views == ()
    known = look_up(uow_factory, clock, CATALOG, original, apple_orders=orders, at=at(45))
    assert [(v.subscription.id, v.entitled) for v in known.views] == [("sub-1", False)]
    assert asked == ["MK5TTTVWJH", "MQUNKNOWN"]
