"""`iap-engine inspect google FILE|-`: verify and decode what Google Play sent.

Accepted input (JSON, one object):

1. A Pub/Sub push request: the push body with the request's bearer token added under
   "authorization" (the whole header value, or the bare token):

       {"authorization": "Bearer eyJhbGciOiJSUzI1NiIs...",
        "message": {"data": "<base64>", "messageId": "...", "publishTime": "..."},
        "subscription": "projects/<project>/subscriptions/<name>"}

   The token is checked with the [google] push rules (Google's keys from oidc_certs_url,
   pubsub_audience, pubsub_service_account, expiry at the current time), then the
   notification is decoded and its packageName checked against package_name.

2. Signed purchase data from the app (Purchase.getOriginalJson() and getSignature()):

       {"signedData": "{\"orderId\":\"GPA...\",...}", "signature": "<base64>"}

   verified with license_public_key (SHA1withRSA).

Prints the decoded JSON and returns 0, or prints `<reason_code>: <explanation>` and
returns 1.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TextIO

import requests

from iap_engine.clock import SystemClock
from iap_engine.service.errors import ServiceError, StoreRejected
from iap_engine.service.ports import Clock
from iap_engine.settings import Settings
from store_adapters.google.factory import license_key, push_receiver
from store_adapters.google.notification import DeveloperNotification
from store_adapters.google.signature import verify_purchase


def inspect_payload(
    settings: Settings, data: bytes, out: TextIO, clock: Clock | None = None
) -> int:
    """`clock` defaults to the wall clock (tests pass a virtual one)."""
    google = settings.google
    if google is None:
        return _fail(out, "not_configured", "the configuration has no [google] section")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return _fail(out, "malformed", "the input is not JSON")
    if not isinstance(document, dict):
        return _fail(out, "malformed", "the input is not a JSON object")
    try:
        if "signedData" in document:
            decoded = _signed_data(settings, document)
        elif "message" in document:
            decoded = _push(settings, document, clock or SystemClock())
        else:
            return _fail(
                out,
                "malformed",
                'expected a push request ("message", "authorization") or signed purchase'
                ' data ("signedData", "signature")',
            )
    except StoreRejected as error:
        return _fail(out, error.reason, error.message)
    except ServiceError as error:
        return _fail(out, error.code, error.message)
    out.write(json.dumps(decoded, indent=2, sort_keys=True, default=str) + "\n")
    return 0


def _push(settings: Settings, document: dict[str, Any], clock: Clock) -> dict[str, Any]:
    assert settings.google is not None
    authorization = document.get("authorization")
    if isinstance(authorization, str) and authorization and " " not in authorization.strip():
        authorization = f"Bearer {authorization.strip()}"
    body = {key: value for key, value in document.items() if key != "authorization"}
    with requests.Session() as session:
        receiver = push_receiver(settings.google, session, clock)
        push = receiver.receive(
            authorization if isinstance(authorization, str) else None,
            json.dumps(body).encode(),
        )
    claims = dict(push.identity.claims)
    return {
        "messageId": push.envelope.message_id,
        "publishTime": push.envelope.publish_time,
        "subscription": push.envelope.subscription,
        "token": {key: claims[key] for key in sorted(claims)},
        "notification": json.loads(push.envelope.data),
        "summary": _summary(push.notification),
    }


def _summary(notification: DeveloperNotification) -> dict[str, Any]:
    summary: dict[str, Any] = {"kind": notification.kind, "eventTime": notification.event_time}
    if notification.subscription is not None:
        summary["notificationType"] = notification.subscription.name
    elif notification.one_time_product is not None:
        summary["notificationType"] = notification.one_time_product.name
    elif notification.voided_purchase is not None:
        summary["voided"] = asdict(notification.voided_purchase)
        summary["voided"].pop("purchase_token")
    return summary


def _signed_data(settings: Settings, document: dict[str, Any]) -> dict[str, Any]:
    assert settings.google is not None
    signed, signature = document.get("signedData"), document.get("signature")
    if not isinstance(signed, str) or not isinstance(signature, str):
        raise StoreRejected("malformed", "signedData and signature must both be strings")
    purchase = verify_purchase(
        license_key(settings.google), signed, signature, settings.google.package_name
    )
    return {"signature": "valid", "purchase": purchase.raw}


def _fail(out: TextIO, reason: str, explanation: str) -> int:
    out.write(f"{reason}: {explanation}\n")
    return 1
