"""Decoding RTDN payloads and Pub/Sub push envelopes (Google's documented examples)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from store_adapters.google.errors import PushMalformed
from store_adapters.google.notification import parse_notification
from store_adapters.google.push import parse_envelope

# The examples of Google's RTDN reference, verbatim but for the package name.
SUBSCRIPTION_EXAMPLE = {
    "version": "1.0",
    "packageName": "com.some.thing",
    "eventTimeMillis": "1503349566168",
    "subscriptionNotification": {
        "version": "1.0",
        "notificationType": 4,
        "purchaseToken": "PURCHASE_TOKEN",
    },
}


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def test_subscription_notification():
    notification = parse_notification(encode(SUBSCRIPTION_EXAMPLE))

    assert notification.kind == "subscription"
    assert notification.package_name == "com.some.thing"
    assert notification.event_time == datetime(2017, 8, 21, 21, 6, 6, 168000, tzinfo=UTC)
    assert notification.subscription is not None
    assert notification.subscription.name == "SUBSCRIPTION_PURCHASED"
    assert notification.purchase_token == "PURCHASE_TOKEN"


def test_event_time_as_a_number_is_accepted():
    document = dict(SUBSCRIPTION_EXAMPLE, eventTimeMillis=1503349566168)

    assert parse_notification(encode(document)).event_time.year == 2017


def test_one_time_voided_and_test_notifications():
    base = {"version": "1.0", "packageName": "p", "eventTimeMillis": "1503349566168"}
    one_time = parse_notification(
        encode(
            {
                **base,
                "oneTimeProductNotification": {
                    "version": "1.0",
                    "notificationType": 2,
                    "purchaseToken": "T",
                    "sku": "my.sku",
                },
            }
        )
    )
    voided = parse_notification(
        encode(
            {
                **base,
                "voidedPurchaseNotification": {
                    "purchaseToken": "T",
                    "orderId": "GS.0000-0000-0000",
                    "productType": 1,
                    "refundType": 2,
                },
            }
        )
    )
    test = parse_notification(encode({**base, "testNotification": {"version": "1.0"}}))

    assert one_time.one_time_product is not None
    assert (one_time.one_time_product.name, one_time.one_time_product.sku) == (
        "ONE_TIME_PRODUCT_CANCELED",
        "my.sku",
    )
    assert voided.voided_purchase is not None
    assert voided.voided_purchase.is_subscription and voided.voided_purchase.is_partial
    assert test.kind == "test" and test.purchase_token is None


def test_a_newer_notification_kind_is_kept_not_fatal():
    document = {
        "version": "1.0",
        "packageName": "p",
        "eventTimeMillis": "1",
        "pendingRefundReviewNotification": {"purchaseToken": "T"},
    }

    notification = parse_notification(encode(document))

    assert notification.kind == "other"
    assert notification.other == ("pendingRefundReviewNotification",)


def test_an_unknown_subscription_code_is_kept():
    document = json.loads(json.dumps(SUBSCRIPTION_EXAMPLE))
    document["subscriptionNotification"]["notificationType"] = 42

    notification = parse_notification(encode(document))

    assert notification.subscription is not None
    assert notification.subscription.name == "UNKNOWN_42"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        encode({"eventTimeMillis": "1"}),
        encode({"packageName": "p"}),
        encode({"packageName": "p", "eventTimeMillis": "soon"}),
        encode(
            {
                "packageName": "p",
                "eventTimeMillis": "1",
                "subscriptionNotification": {"notificationType": "x", "purchaseToken": "t"},
            }
        ),
        encode(
            {
                "packageName": "p",
                "eventTimeMillis": "1",
                "subscriptionNotification": {"notificationType": 4},
            }
        ),
        encode({"packageName": "p", "eventTimeMillis": "1", "subscriptionNotification": []}),
    ],
)
def test_malformed_notifications(data):
    with pytest.raises(PushMalformed) as raised:
        parse_notification(data)

    assert raised.value.reason == "malformed"
    assert raised.value.authentication is False


def test_the_push_envelope_of_the_reference():
    body = {
        "message": {
            "attributes": {"key": "value"},
            "data": base64.b64encode(encode(SUBSCRIPTION_EXAMPLE)).decode(),
            "messageId": "136969346945",
            "publishTime": "2017-08-21T21:06:06.200Z",
        },
        "subscription": "projects/myproject/subscriptions/mysubscription",
    }

    envelope = parse_envelope(encode(body))

    assert envelope.message_id == "136969346945"
    assert envelope.subscription == "projects/myproject/subscriptions/mysubscription"
    assert envelope.attributes == {"key": "value"}
    assert envelope.publish_time == datetime(2017, 8, 21, 21, 6, 6, 200000, tzinfo=UTC)
    assert parse_notification(envelope.data).subscription is not None
