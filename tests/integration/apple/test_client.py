"""The App Store Server API client against the emulator over HTTP."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from iap_engine.service.errors import NotConfigured, StoreRejected, StoreUnavailable
from iap_engine.settings import AppleSettings
from store_adapters.apple.client import AppStoreServerClient
from store_adapters.apple.errors import AppleApiRejected, AppleApiUnavailable
from store_adapters.apple.jws import decode_unverified
from store_adapters.apple.retry import RetryPolicy
from store_emulator.apple import faults
from store_emulator.apple.api import ApiCredentials
from store_emulator.apple.emulator import AppleEmulator
from store_emulator.clock import VirtualClock
from store_emulator.serving import BackgroundServer
from tests.integration.apple.conftest import Sleeps


def payload(token: str) -> dict[str, object]:
    return decode_unverified(token)[1]


def subscribe(emulator: AppleEmulator, environment: str = "Production", **kwargs: object) -> str:
    sent = emulator.store.subscribe("premium.monthly", environment=environment, **kwargs)  # type: ignore[arg-type]
    assert sent.transaction_id is not None
    return sent.transaction_id


def test_get_all_subscription_statuses(
    emulator: AppleEmulator, client: AppStoreServerClient
) -> None:
    transaction_id = subscribe(emulator)
    answer = client.get_all_subscription_statuses(transaction_id)
    assert answer["environment"] == "Production"
    (group,) = answer["data"]
    assert group["subscriptionGroupIdentifier"] == "premium"
    (item,) = group["lastTransactions"]
    assert item["status"] == 1
    assert payload(item["signedTransactionInfo"])["transactionId"] == transaction_id
    assert payload(item["signedRenewalInfo"])["autoRenewStatus"] == 1
    assert client.get_all_subscription_statuses(transaction_id, status=[2])["data"] == []


def test_get_transaction_info(emulator: AppleEmulator, client: AppStoreServerClient) -> None:
    transaction_id = subscribe(emulator)
    answer = client.get_transaction_info(transaction_id)
    assert payload(answer["signedTransactionInfo"])["productId"] == "premium.monthly"


def test_transaction_history_follows_revisions(
    emulator: AppleEmulator, client: AppStoreServerClient, clock: VirtualClock
) -> None:
    transaction_id = subscribe(emulator, customer="c-1")
    for _ in range(5):
        clock.advance(timedelta(days=30))
        emulator.store.renew(transaction_id)
    emulator.store.buy("lifetime", customer="c-1", environment="Production")
    pages = list(client.iter_transaction_history(transaction_id))
    assert [len(p["signedTransactions"]) for p in pages] == [3, 3, 1]
    assert [p["hasMore"] for p in pages] == [True, True, False]
    ids = [payload(t)["transactionId"] for p in pages for t in p["signedTransactions"]]
    assert len(set(ids)) == 7
    assert emulator.requests.paths()[-1].endswith(f"/inApps/v2/history/{transaction_id}")


def test_refund_history_pages(
    emulator: AppleEmulator, client: AppStoreServerClient, clock: VirtualClock
) -> None:
    transaction_id = subscribe(emulator, customer="c-2")
    renewals = []
    for _ in range(4):
        clock.advance(timedelta(days=30))
        renewals.append(emulator.store.renew(transaction_id).transaction_id)
    for refunded in renewals:
        emulator.store.refund(refunded or "")
    pages = list(client.iter_refund_history(transaction_id))
    refunded_ids = {payload(t)["transactionId"] for p in pages for t in p["signedTransactions"]}
    assert refunded_ids == set(renewals)
    assert len(pages) == 2


def test_notification_history_pagination(
    emulator: AppleEmulator, client: AppStoreServerClient, clock: VirtualClock
) -> None:
    start = clock.now()
    transaction_id = subscribe(emulator)
    for _ in range(3):
        clock.advance(timedelta(days=30))
        emulator.store.renew(transaction_id)
    end = clock.now() + timedelta(seconds=1)
    first = client.get_notification_history(start, end)
    assert first["hasMore"] is True
    second = client.get_notification_history(start, end, first["paginationToken"])
    assert second["hasMore"] is False
    types = [
        payload(entry["signedPayload"])["notificationType"]
        for page in (first, second)
        for entry in page["notificationHistory"]
    ]
    assert types == ["SUBSCRIBED", "DID_RENEW", "DID_RENEW", "DID_RENEW"]
    renewals = client.get_notification_history(start, end, notification_type="DID_RENEW")
    assert len(renewals["notificationHistory"]) == 3


def test_look_up_order_id(emulator: AppleEmulator, client: AppStoreServerClient) -> None:
    emulator.store.buy("lifetime", environment="Production")
    order_id = emulator.store.purchases[-1].order_id
    answer = client.look_up_order_id(order_id)
    assert answer["status"] == 0
    assert payload(answer["signedTransactions"][0])["productId"] == "lifetime"
    assert client.look_up_order_id("NOSUCHORDER")["status"] == 1


def test_request_a_test_notification(emulator: AppleEmulator, client: AppStoreServerClient) -> None:
    token = client.request_test_notification()["testNotificationToken"]
    status = client.get_test_notification_status(token)
    assert payload(status["signedPayload"])["notificationType"] == "TEST"
    assert emulator.store.notifications[-1].notification_type == "TEST"


def test_sandbox_fallback_on_transaction_id_not_found(
    emulator: AppleEmulator, client: AppStoreServerClient
) -> None:
    transaction_id = subscribe(emulator, environment="Sandbox")
    answer = client.get_transaction_info(transaction_id)
    assert payload(answer["signedTransactionInfo"])["environment"] == "Sandbox"
    assert emulator.requests.paths() == [
        f"/inApps/v1/transactions/{transaction_id}",
        f"/sandbox/inApps/v1/transactions/{transaction_id}",
    ]


def test_sandbox_fallback_on_an_empty_401(
    emulator: AppleEmulator, client: AppStoreServerClient
) -> None:
    transaction_id = subscribe(emulator, environment="Sandbox")
    emulator.faults.plan(faults.unauthorized(), environment="Production")
    answer = client.get_all_subscription_statuses(transaction_id)
    assert answer["environment"] == "Sandbox"


def test_a_401_with_a_body_is_no_reason_to_try_the_sandbox(
    emulator: AppleEmulator, client: AppStoreServerClient
) -> None:
    transaction_id = subscribe(emulator, environment="Sandbox")
    emulator.faults.plan(
        faults.Fault(401, {"errorMessage": "Unauthenticated"}), environment="Production"
    )
    with pytest.raises(AppleApiUnavailable) as failure:
        client.get_all_subscription_statuses(transaction_id)
    assert (failure.value.reason, failure.value.status) == ("unauthorized", 401)
    assert len(emulator.requests.entries) == 1


def test_unknown_in_both_environments_is_rejected(client: AppStoreServerClient) -> None:
    with pytest.raises(AppleApiRejected) as rejected:
        client.get_transaction_info("1999999999999999")
    assert isinstance(rejected.value, StoreRejected)
    assert rejected.value.reason == "transaction_id_not_found"
    assert rejected.value.error_code == 4040010


def test_an_invalid_transaction_id_is_rejected_without_fallback(
    emulator: AppleEmulator, client: AppStoreServerClient
) -> None:
    with pytest.raises(AppleApiRejected) as rejected:
        client.get_transaction_info("not-a-number")
    assert rejected.value.reason == "invalid_transaction_id"
    assert len(emulator.requests.entries) == 1


def test_bursts_of_5xx_are_retried_with_backoff(
    emulator: AppleEmulator, client: AppStoreServerClient, sleeps: Sleeps
) -> None:
    transaction_id = subscribe(emulator)
    emulator.faults.plan(faults.unavailable(), times=1)
    emulator.faults.plan(faults.internal_error(retryable=True), times=1)
    answer = client.get_transaction_info(transaction_id)
    assert "signedTransactionInfo" in answer
    assert sleeps == [0.5, 1.0]


def test_exhausted_retries_are_unavailable(
    emulator: AppleEmulator, client: AppStoreServerClient, sleeps: Sleeps
) -> None:
    emulator.faults.plan(faults.internal_error(retryable=False), times=10)
    with pytest.raises(AppleApiUnavailable) as failure:
        client.get_transaction_info(subscribe(emulator))
    assert isinstance(failure.value, StoreUnavailable)
    assert (failure.value.status, failure.value.error_code) == (500, 5000000)
    assert len(sleeps) == 2


def test_retryable_error_codes_are_retried(
    emulator: AppleEmulator, client: AppStoreServerClient, sleeps: Sleeps
) -> None:
    emulator.faults.plan(
        faults.Fault(404, {"errorCode": 4040006, "errorMessage": "retry"}), times=1
    )
    assert client.get_all_subscription_statuses(subscribe(emulator))["data"]
    assert sleeps == [0.5]


def test_rate_limits_honour_retry_after(
    emulator: AppleEmulator, client: AppStoreServerClient, clock: VirtualClock, sleeps: Sleeps
) -> None:
    transaction_id = subscribe(emulator)
    emulator.faults.plan(faults.rate_limited(clock.now() + timedelta(seconds=7)))
    assert client.get_transaction_info(transaction_id)
    assert sleeps == [7.0]


def test_a_long_rate_limit_is_handed_to_the_caller(
    emulator: AppleEmulator, client: AppStoreServerClient, clock: VirtualClock, sleeps: Sleeps
) -> None:
    retry_at = clock.now() + timedelta(minutes=10)
    emulator.faults.plan(faults.rate_limited(retry_at))
    with pytest.raises(AppleApiUnavailable) as failure:
        client.get_transaction_info(subscribe(emulator))
    assert failure.value.reason == "rate_limited"
    assert failure.value.retry_at == retry_at
    assert sleeps == []


def test_timeouts_are_retried_then_unavailable(
    emulator: AppleEmulator, server: BackgroundServer, session: requests.Session, sleeps: Sleeps
) -> None:
    client = AppStoreServerClient(
        session=session,
        environment="Production",
        base_url=server.url,
        sleep=sleeps,
        retry=RetryPolicy(attempts=2, first_delay=0.25),
        timeout=(1.0, 0.1),
        **emulator.client_credentials(),
    )
    emulator.faults.plan(faults.slow(0.4), times=2)
    started = time.monotonic()
    with pytest.raises(AppleApiUnavailable) as failure:
        client.get_transaction_info(subscribe(emulator))
    assert failure.value.reason == "timeout"
    assert sleeps == [0.25]
    assert time.monotonic() - started < 2


def test_the_jwt_is_checked(
    emulator: AppleEmulator, server: BackgroundServer, session: requests.Session
) -> None:
    _, foreign_key = ApiCredentials.generate(emulator.bundle_id)
    credentials = {**emulator.client_credentials(), "signing_key": foreign_key}
    client = AppStoreServerClient(
        session=session, environment="Sandbox", base_url=server.url, **credentials
    )
    with pytest.raises(AppleApiUnavailable) as failure:
        client.get_transaction_info(subscribe(emulator, environment="Sandbox"))
    assert (failure.value.reason, failure.value.status) == ("unauthorized", 401)


def test_an_expired_jwt_is_refused(
    emulator: AppleEmulator,
    server: BackgroundServer,
    session: requests.Session,
    clock: VirtualClock,
) -> None:
    stale_clock = VirtualClock(clock.now() - timedelta(hours=2))
    credentials = {**emulator.client_credentials(), "clock": stale_clock}
    client = AppStoreServerClient(
        session=session, environment="Sandbox", base_url=server.url, **credentials
    )
    with pytest.raises(AppleApiUnavailable) as failure:
        client.get_transaction_info(subscribe(emulator, environment="Sandbox"))
    assert failure.value.reason == "unauthorized"


def test_the_client_mints_a_new_jwt_when_the_old_one_expires(
    emulator: AppleEmulator, client: AppStoreServerClient, clock: VirtualClock
) -> None:
    transaction_id = subscribe(emulator)
    client.get_transaction_info(transaction_id)
    clock.advance(timedelta(hours=2))
    assert client.get_transaction_info(transaction_id)


def test_missing_credentials_name_the_key(session: requests.Session, clock: VirtualClock) -> None:
    settings = AppleSettings(
        bundle_id="com.example.app",
        environments=["Sandbox"],
        root_certificates=[Path("root.der")],
        key_id="K",
    )
    with pytest.raises(NotConfigured) as missing:
        AppStoreServerClient.from_settings(settings, session=session, clock=clock)
    assert missing.value.key == "apple.issuer_id"
