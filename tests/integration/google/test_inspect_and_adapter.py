"""`iap-engine inspect google` and the engine-facing adapter, against the emulator."""

from __future__ import annotations

import base64
import io
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from iap_engine.domain import EventKind, Status
from iap_engine.service.errors import StoreRejected, StoreUnavailable
from iap_engine.settings import GoogleSettings, Settings
from store_adapters.google.errors import PushMalformed, PushUnauthenticated
from store_adapters.google.factory import google_adapter
from store_adapters.google.inspect import inspect_payload
from store_emulator.google.keys import new_rsa_key
from store_emulator.google.play import CERTS_PATH
from tests.integration.google.conftest import AUDIENCE, PACKAGE, PUSH_ACCOUNT

LICENSE_KEY = new_rsa_key()


def google_settings(base_url: str, key_file: str = "") -> GoogleSettings:
    public = LICENSE_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return GoogleSettings(
        package_name=PACKAGE,
        pubsub_audience=AUDIENCE,
        pubsub_service_account=PUSH_ACCOUNT,
        oidc_certs_url=base_url + CERTS_PATH,
        service_account_file=key_file,
        api_base_url=base_url,
        license_public_key=base64.b64encode(public).decode(),
    )


def signed(purchase: dict) -> dict[str, str]:
    data = json.dumps(purchase)
    signature = LICENSE_KEY.sign(data.encode(), padding.PKCS1v15(), hashes.SHA1())
    return {"signedData": data, "signature": base64.b64encode(signature).decode()}


def run(settings: Settings, document: dict, clock) -> tuple[int, str]:
    out = io.StringIO()
    code = inspect_payload(settings, json.dumps(document).encode(), out, clock=clock)
    return code, out.getvalue()


def test_inspect_decodes_a_push_request(play, publisher, base_url, clock):
    token = play.store.purchase("premium", "monthly")
    request = publisher.request(publisher.subscription_notification(token, 2))

    code, output = run(
        Settings(google=google_settings(base_url)), request.inspect_document(), clock
    )

    assert code == 0, output
    decoded = json.loads(output)
    assert decoded["summary"]["notificationType"] == "SUBSCRIPTION_RENEWED"
    assert decoded["token"]["email"] == PUSH_ACCOUNT
    assert decoded["notification"]["subscriptionNotification"]["purchaseToken"] == token


def test_inspect_reports_the_reason_code(play, publisher, base_url, clock):
    request = publisher.request(
        publisher.test_notification(), token=play.signer.mint("x", PUSH_ACCOUNT)
    )

    code, output = run(
        Settings(google=google_settings(base_url)), request.inspect_document(), clock
    )

    assert code == 1
    assert output.startswith("wrong_audience: ")


def test_inspect_signed_purchase_data(base_url, clock):
    settings = Settings(google=google_settings(base_url))
    purchase = {
        "orderId": "GPA.1",
        "packageName": PACKAGE,
        "productId": "lifetime",
        "purchaseTime": 1767225600000,
        "purchaseState": 0,
        "purchaseToken": "t",
    }
    document = signed(purchase)

    code, output = run(settings, document, clock)
    assert code == 0
    assert json.loads(output)["purchase"]["orderId"] == "GPA.1"
    document["signature"] = signed({**purchase, "orderId": "GPA.2"})["signature"]
    code, output = run(settings, document, clock)
    assert (code, output.split(":")[0]) == (1, "invalid_signature")


def test_inspect_without_google_configuration(clock):
    code, output = run(Settings(), {"message": {}}, clock)

    assert (code, output.split(":")[0]) == (1, "not_configured")


@pytest.fixture
def adapter(base_url, key_file, session, clock):
    return google_adapter(google_settings(base_url, str(key_file)), session, clock)


def test_the_adapter_reads_an_authenticated_push_and_acknowledges_after(play, publisher, adapter):
    token = play.store.purchase("premium", "monthly")
    request = publisher.request(publisher.subscription_notification(token, 4))

    adapter.authenticate_push(request.authorization)
    assert (
        adapter.notifications.delivery_id(request.body)
        == json.loads(request.body)["message"]["messageId"]
    )
    read = adapter.notifications.read(request.body)

    (record,) = read.records
    assert read.store_type == "SUBSCRIPTION_PURCHASED"
    assert record.event.kind is EventKind.PURCHASED
    assert not play.store.subscriptions[token].acknowledged
    for follow_up in read.follow_ups:
        follow_up()
    assert play.store.subscriptions[token].acknowledged


def test_the_adapter_rejections_carry_their_http_meaning(play, publisher, adapter):
    with pytest.raises(PushUnauthenticated) as unauthenticated:
        adapter.authenticate_push(None)
    with pytest.raises(PushMalformed) as malformed:
        adapter.notifications.read(b'{"message": {}}')
    bad_token = publisher.request(publisher.subscription_notification("no-such-token", 4))
    with pytest.raises(PushMalformed) as invalid:
        adapter.notifications.read(bad_token.body)

    assert unauthenticated.value.authentication is True
    assert malformed.value.authentication is False
    assert invalid.value.reason == "invalid_token"


def test_test_and_gone_notifications_are_read_as_nothing(play, publisher, adapter):
    token = play.store.purchase("premium", "monthly")
    play.store.forget(token)
    test = publisher.request(publisher.test_notification())
    gone = publisher.request(publisher.subscription_notification(token, 13))

    assert adapter.notifications.read(test.body).records == ()
    assert adapter.notifications.read(test.body).store_type == "TEST"
    assert adapter.notifications.read(gone.body).records == ()


def test_from_purchase_finds_subscriptions_and_one_time_products(play, adapter):
    subscription = play.store.purchase("premium", "monthly")
    product = play.store.buy("lifetime")

    verified = adapter.from_purchase("premium", subscription, None, None)
    one_time = adapter.from_purchase("lifetime", product, None, None)

    assert verified.records[0].event.state is not None
    assert verified.records[0].event.state.status is Status.ACTIVE
    assert len(verified.follow_ups) == 1
    assert one_time.records[0].event.periods[0].ends_at is None
    with pytest.raises(StoreRejected) as mismatch:
        adapter.from_purchase("premium_plus", subscription, None, None)
    assert mismatch.value.reason == "product_mismatch"


def test_from_purchase_checks_signed_data_first(play, adapter):
    product = play.store.buy("lifetime")
    good = signed(
        {
            "orderId": "GPA.1",
            "packageName": PACKAGE,
            "productId": "lifetime",
            "purchaseTime": 1767225600000,
            "purchaseState": 0,
            "purchaseToken": product,
        }
    )

    verified = adapter.from_purchase("lifetime", product, good["signedData"], good["signature"])
    assert verified.records[0].store_key == product
    with pytest.raises(StoreRejected) as wrong_token:
        adapter.from_purchase("lifetime", "other", good["signedData"], good["signature"])
    assert wrong_token.value.reason == "token_mismatch"


def test_without_api_credentials_reads_are_deferred_not_rejected(
    play, publisher, base_url, session, clock
):
    adapter = google_adapter(google_settings(base_url), session, clock)
    token = play.store.purchase("premium", "monthly")
    request = publisher.request(publisher.subscription_notification(token, 4))

    with pytest.raises(StoreUnavailable, match=r"google\.service_account_file"):
        adapter.notifications.read(request.body)
