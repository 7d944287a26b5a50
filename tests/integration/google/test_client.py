"""The Developer API client against the emulator: retries, error translation, OAuth."""

from __future__ import annotations

import json
from datetime import timedelta
from email.utils import format_datetime

import pytest

from iap_engine.service.errors import NotConfigured, StoreUnavailable
from store_adapters.google.client import PlayClient
from store_adapters.google.credentials import AccessTokens, ServiceAccount
from store_adapters.google.errors import (
    InvalidPurchaseToken,
    PlayNotConfigured,
    PlayUnavailable,
    ProductUnknown,
    PurchaseGone,
)
from store_emulator.google.faults import Fault
from store_emulator.google.keys import ServiceAccountKey
from tests.integration.google.conftest import PACKAGE

SUBSCRIPTIONS = "/purchases/subscriptionsv2/"


def test_429_with_retry_after_seconds_is_waited_for_then_succeeds(play, client, sleeps):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(status=429, retry_after="3", times=2, path_contains=SUBSCRIPTIONS))

    body = client.get_subscription(token)

    assert body["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"
    assert len(sleeps.delays) == 2 and all(delay >= 3.0 for delay in sleeps.delays)
    assert play.faults.pending == 0


def test_retry_after_as_an_http_date_counts_from_the_clock(play, client, clock, sleeps):
    token = play.store.purchase("premium", "monthly")
    later = format_datetime(clock.now() + timedelta(seconds=20), usegmt=True)
    play.faults.add(Fault(status=429, retry_after=later, path_contains=SUBSCRIPTIONS))

    client.get_subscription(token)

    assert sleeps.delays and 19.0 <= sleeps.delays[0] <= 20.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_growing_jittered_backoff(play, client, sleeps, status):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(status=status, times=3, path_contains=SUBSCRIPTIONS))

    client.get_subscription(token)

    assert len(sleeps.delays) == 3
    # Full jitter: each wait is within its doubling cap (0.5 s, 1 s, 2 s).
    assert all(0 <= delay <= 0.5 * 2**i for i, delay in enumerate(sleeps.delays))


def test_a_read_timeout_is_retried(play, client, sleeps):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(delay=0.6, path_contains=SUBSCRIPTIONS))

    body = client.get_subscription(token)

    assert body["lineItems"][0]["productId"] == "premium"
    assert len(sleeps.delays) == 1
    calls = [c for c in play.api_calls if SUBSCRIPTIONS in c]
    assert len(calls) == 2


def test_exhausted_retries_are_store_unavailable(play, client, sleeps):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(status=503, times=10, path_contains=SUBSCRIPTIONS))

    with pytest.raises(PlayUnavailable, match="after 5 attempt") as raised:
        client.get_subscription(token)

    assert isinstance(raised.value, StoreUnavailable)
    assert len(sleeps.delays) == 4
    assert token not in str(raised.value)  # purchase tokens are credentials


def test_a_retry_after_beyond_the_limit_is_not_waited_for(play, client, sleeps):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(status=429, retry_after="3600", path_contains=SUBSCRIPTIONS))

    with pytest.raises(PlayUnavailable):
        client.get_subscription(token)

    assert sleeps.delays == []


def test_410_is_a_definite_gone_answer(play, client, clock, sleeps):
    token = play.store.purchase("premium", "monthly")
    play.store.expire(token)
    clock.advance(timedelta(days=95))

    with pytest.raises(PurchaseGone) as raised:
        client.get_subscription(token)

    assert raised.value.reason == "purchase_gone"
    assert sleeps.delays == []


def test_404_is_also_gone_and_not_retried(play, client, sleeps):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(status=404, path_contains=SUBSCRIPTIONS))

    with pytest.raises(PurchaseGone):
        client.get_subscription(token)

    assert sleeps.delays == []


def test_an_unknown_token_is_invalid(play, client):
    with pytest.raises(InvalidPurchaseToken) as raised:
        client.get_subscription("not-a-token")

    assert raised.value.reason == "invalid_token"


def test_an_expired_access_token_is_refreshed_once(play, client):
    token = play.store.purchase("premium", "monthly")
    client.get_subscription(token)
    play.revoke_access_tokens()

    client.get_subscription(token)

    assert play.tokens_issued == 2


def test_the_access_token_is_cached_until_shortly_before_expiry(play, client, clock):
    token = play.store.purchase("premium", "monthly")
    for _ in range(3):
        client.get_subscription(token)
    assert play.tokens_issued == 1

    clock.advance(timedelta(minutes=56))
    client.get_subscription(token)

    assert play.tokens_issued == 2


def test_403_names_the_permission_to_grant(play, client):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(status=403, path_contains=SUBSCRIPTIONS))

    with pytest.raises(PlayNotConfigured, match="Play Console") as raised:
        client.get_subscription(token)

    assert isinstance(raised.value, NotConfigured)
    assert raised.value.key == "google.service_account_file"


def test_a_persistent_401_is_a_configuration_error(play, client):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(status=401, times=2, path_contains=SUBSCRIPTIONS))

    with pytest.raises(PlayNotConfigured, match="refused"):
        client.get_subscription(token)


def test_a_key_the_token_endpoint_does_not_know_is_a_configuration_error(
    play, session, clock, base_url, tmp_path
):
    stranger = ServiceAccountKey.generate("stranger")  # never registered with the emulator
    key_file = stranger.write(tmp_path / "key.json", base_url + "/google/oauth2/token")
    tokens = AccessTokens(ServiceAccount.from_file(key_file), session, clock)
    client = PlayClient(
        session=session, tokens=tokens, package_name=PACKAGE, clock=clock, base_url=base_url
    )

    with pytest.raises(PlayNotConfigured, match="refused the service-account key"):
        client.get_subscription("anything")


def test_a_key_file_that_is_not_a_service_account_names_the_setting(tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"type": "authorized_user"}))

    with pytest.raises(PlayNotConfigured, match=r"google\.service_account_file"):
        ServiceAccount.from_file(path)


def test_acknowledge_cancel_and_revoke(play, client, clock):
    token = play.store.purchase("premium", "monthly")
    client.acknowledge_subscription("premium", token)
    client.cancel_subscription(token)
    state = client.get_subscription(token)
    assert state["subscriptionState"] == "SUBSCRIPTION_STATE_CANCELED"
    assert "userInitiatedCancellation" in state["canceledStateContext"]

    client.revoke_subscription(token)

    revoked = client.get_subscription(token)
    assert revoked["subscriptionState"] == "SUBSCRIPTION_STATE_EXPIRED"
    assert play.store.subscriptions[token].acknowledged
    assert [v.token for v in play.store.voided] == [token]


def test_one_time_product_get_and_acknowledge(play, client):
    token = play.store.buy("lifetime")

    body = client.get_product("lifetime", token)
    client.acknowledge_product("lifetime", token)

    assert (body["purchaseState"], body["acknowledgementState"]) == (0, 0)
    assert client.get_product("lifetime", token)["acknowledgementState"] == 1


def test_catalogue_calls(play, client):
    product = client.get_subscription_product("premium")
    offer = client.get_offer("premium", "monthly", "trial")

    plans = {p["basePlanId"]: p for p in product["basePlans"]}
    assert plans["monthly"]["autoRenewingBasePlanType"]["billingPeriodDuration"] == "P1M"
    assert offer["phases"][0]["duration"] == "P7D"
    with pytest.raises(ProductUnknown):
        client.get_subscription_product("nope")


def test_an_unreadable_catalogue_degrades_to_unknown_terms(play, gateway, caplog):
    token = play.store.purchase("premium", "monthly")
    play.faults.add(Fault(status=403, path_contains="/subscriptions/premium"))

    played = gateway.subscription(token)

    assert played.record.event.periods[0].starts_at == play.store.subscriptions[token].start_time
    assert "catalogue unreadable" in caplog.text
