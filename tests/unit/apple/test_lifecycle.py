"""Normalized Apple input through the domain: real and emulated subscriptions end right."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from iap_engine.domain import (
    Catalog,
    Environment,
    EventKind,
    Product,
    ProductType,
    Status,
    Store,
    StoreRecord,
    Subscription,
    apply,
    is_entitled,
)
from store_adapters.apple.normalize import notification_record
from store_adapters.apple.verify import SignedDataVerifier
from store_emulator.apple.certificates import apple_like_chain
from store_emulator.apple.signer import JwsSigner
from store_emulator.apple.store import AppleStore
from store_emulator.apple.store import Product as StoreProduct
from store_emulator.clock import VirtualClock
from tests.unit.apple.conftest import NOW, FixedClock, make_verifier
from tests.unit.apple.samples import apple_root, real_samples

PRO = Catalog(
    [
        Product("com.getsession.org.pro_sub", ProductType.AUTO_RENEWABLE, ("pro",)),
        Product("com.getsession.org.pro_sub_3_months", ProductType.AUTO_RENEWABLE, ("pro",)),
        Product("premium.monthly", ProductType.AUTO_RENEWABLE, ("premium",)),
        Product("premium.yearly", ProductType.AUTO_RENEWABLE, ("premium",)),
    ]
)


def fold(records: list[StoreRecord]) -> Subscription:
    first = records[0]
    subscription = Subscription(
        id="s-1",
        store=Store.APP_STORE,
        environment=first.environment,
        store_key=first.store_key,
        product_id=first.event.periods[0].product_id,
    )
    for record in records:
        assert record.store_key == first.store_key
        subscription = apply(subscription, record.event).subscription
    return subscription


def session_pro_records() -> list[StoreRecord]:
    samples = [
        s
        for s in real_samples()
        if s.name.startswith("session-pro-backend/") and s.name.endswith("signedPayload.jws")
    ]
    assert len(samples) == 14
    verifier = SignedDataVerifier(
        root_certificates=[apple_root()],
        bundle_id="com.loki-project.loki-messenger",
        app_apple_id=1470168868,
        environments=("Sandbox",),
        clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)),
    )
    records = [notification_record(verifier.verify_notification(s.token)) for s in samples]
    assert all(r is not None for r in records)
    return [r for r in records if r is not None]


def test_the_real_session_pro_history_ends_active_with_the_refund_applied() -> None:
    records = session_pro_records()
    assert [r.event.kind for r in records] == [
        EventKind.RENEWED,
        EventKind.PURCHASED,
        EventKind.AUTO_RENEW_DISABLED,
        EventKind.EXPIRED,
        EventKind.PURCHASED,
        EventKind.PRODUCT_CHANGED,
        EventKind.AUTO_RENEW_DISABLED,
        EventKind.RENEWAL_PRODUCT_CHANGED,
        EventKind.RENEWAL_PRODUCT_CHANGED,
        EventKind.AUTO_RENEW_DISABLED,
        EventKind.EXPIRED,
        EventKind.PURCHASED,
        EventKind.CONSUMPTION_REQUESTED,
        EventKind.REFUNDED,
    ]
    subscription = fold(records)
    assert subscription.environment is Environment.SANDBOX
    assert subscription.status is Status.ACTIVE
    assert subscription.product_id == "com.getsession.org.pro_sub_3_months"
    assert subscription.auto_renew is True
    assert subscription.expires_at == datetime(2025, 10, 16, 5, 25, 14, tzinfo=UTC)
    refunded = subscription.revocation_of("2000001032604840")
    assert refunded is not None
    assert refunded.revoked_at == datetime(2025, 10, 16, 5, 19, 59, tzinfo=UTC)
    # The upgrade at 05:16:30 cut the 3-month period bought at 05:16:18.
    replaced = subscription.period("2000001027701898")
    assert replaced is not None
    assert subscription.replaced_at(replaced) == datetime(2025, 10, 6, 5, 16, 30, tzinfo=UTC)
    assert is_entitled(subscription, datetime(2025, 10, 16, 5, 24, tzinfo=UTC), PRO)
    assert not is_entitled(subscription, datetime(2025, 10, 16, 5, 26, tzinfo=UTC), PRO)
    # The refunded period grants nothing, even looking back.
    assert not is_entitled(subscription, datetime(2025, 10, 13, 6, 0, tzinfo=UTC), PRO)


def test_the_real_history_folds_to_the_same_state_in_any_order() -> None:
    records = session_pro_records()
    expected = fold(records)
    shuffler = random.Random(20251016)
    for _ in range(5):
        shuffled = records[:]
        shuffler.shuffle(shuffled)
        result = fold(shuffled)
        assert result.state == expected.state
        assert result.periods == expected.periods
        assert result.revocations == expected.revocations


def emulated(clock: VirtualClock) -> tuple[AppleStore, SignedDataVerifier]:
    chain = apple_like_chain(clock.now())
    store = AppleStore(
        clock=clock, signer=JwsSigner(chain), bundle_id="com.example.app", app_apple_id=1234567890
    )
    for product_id, level, days, price in (
        ("premium.monthly", 1, 30, 9990),
        ("premium.yearly", 2, 365, 99990),
    ):
        store.add_product(
            StoreProduct(
                product_id,
                "auto_renewable",
                price,
                period=timedelta(days=days),
                group="premium",
                level=level,
            )
        )
    # The emulator and the verifier share the virtual clock.
    verifier = make_verifier([chain.root_der], clock, environments=("Sandbox",))
    return store, verifier


def test_an_emulated_year_of_renewals_upgrades_refunds_and_grace() -> None:
    clock = VirtualClock(NOW)
    store, verifier = emulated(clock)
    sent = [store.subscribe("premium.monthly", app_account_token="u-1")]
    key = sent[0].transaction_id
    assert key is not None
    clock.advance(timedelta(days=30))
    sent.append(store.renew(key))
    clock.advance(timedelta(days=10))
    sent.append(store.change_product(key, "premium.yearly"))  # upgrade: immediate
    upgraded_to = sent[-1].transaction_id
    clock.advance(timedelta(days=1))
    sent.append(store.refund(upgraded_to or ""))
    clock.advance(timedelta(days=1))
    sent.append(store.reverse_refund(upgraded_to or ""))
    clock.advance(timedelta(days=363))
    sent.append(store.fail_renewal(key, grace_period=timedelta(days=16)))
    clock.advance(timedelta(days=3))
    sent.append(store.renew(key))

    records = [notification_record(verifier.verify_notification(n.signed_payload)) for n in sent]
    assert [r.event.kind if r else None for r in records] == [
        EventKind.PURCHASED,
        EventKind.RENEWED,
        EventKind.PRODUCT_CHANGED,
        EventKind.REFUNDED,
        EventKind.REFUND_REVERSED,
        EventKind.GRACE_PERIOD_STARTED,
        EventKind.RECOVERED,
    ]
    subscription = fold([r for r in records if r is not None])
    assert subscription.status is Status.ACTIVE
    assert subscription.product_id == "premium.yearly"
    assert subscription.revocation_of(upgraded_to or "") is None  # refund reversed
    upgraded_period = subscription.period(sent[1].transaction_id or "")
    assert upgraded_period is not None
    assert subscription.replaced_at(upgraded_period) == NOW + timedelta(days=40)
    assert is_entitled(subscription, clock.now(), PRO)
    assert records[0] is not None and records[0].account_hint == "u-1"
