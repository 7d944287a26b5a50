"""A Pub/Sub push request, from raw HTTP parts to a verified `DeveloperNotification`.

The push body is Pub/Sub's envelope:

    {"message": {"data": "<base64 DeveloperNotification>", "messageId": "...",
                 "publishTime": "...", "attributes": {...}},
     "subscription": "projects/<project>/subscriptions/<name>"}

`PushReceiver.receive(authorization, body)` checks in this order, so that the HTTP endpoint
can answer without guessing:

1. the bearer token (`oidc`): failure raises `PushUnauthenticated` -> answer 401, store
   nothing;
2. the envelope and the notification inside it: failure raises `PushMalformed` with reason
   `malformed` or `wrong_app` -> answer 400, but keep the raw body for inspection (the
   sender was Google; the content is what is wrong).

`messageId` is the delivery id to de-duplicate on (Pub/Sub delivers at least once).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store_adapters.google.errors import PushMalformed
from store_adapters.google.notification import DeveloperNotification, parse_notification
from store_adapters.google.oidc import PushAuthenticator, PushIdentity


@dataclass(frozen=True, slots=True)
class PushEnvelope:
    message_id: str
    publish_time: datetime | None
    subscription: str
    data: bytes
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class Push:
    envelope: PushEnvelope
    notification: DeveloperNotification
    identity: PushIdentity

    @property
    def delivery_id(self) -> str:
        return self.envelope.message_id


def parse_envelope(body: bytes) -> PushEnvelope:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _malformed("the push body is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("message"), dict):
        raise _malformed("the push body has no message object")
    message: dict[str, Any] = document["message"]
    message_id = message.get("messageId", message.get("message_id"))
    if not isinstance(message_id, str) or not message_id:
        raise _malformed("the push message has no messageId")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise _malformed("the push message has no data")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("message.data is not base64") from None
    attributes = message.get("attributes") or {}
    subscription = document.get("subscription", "")
    return PushEnvelope(
        message_id=message_id,
        publish_time=_publish_time(message.get("publishTime", message.get("publish_time"))),
        subscription=subscription if isinstance(subscription, str) else "",
        data=decoded,
        attributes={str(k): str(v) for k, v in attributes.items()}
        if isinstance(attributes, dict)
        else {},
    )


class PushReceiver:
    def __init__(self, authenticator: PushAuthenticator, package_name: str) -> None:
        self._authenticator = authenticator
        self._package_name = package_name.encode()

    def receive(self, authorization: str | None, body: bytes) -> Push:
        identity = self.authenticate(authorization)
        envelope, notification = self.parse(body)
        return Push(envelope=envelope, notification=notification, identity=identity)

    def authenticate(self, authorization: str | None) -> PushIdentity:
        """Step 1 alone (the HTTP endpoint runs it before storing anything)."""
        return self._authenticator.authenticate(authorization)

    def parse(self, body: bytes) -> tuple[PushEnvelope, DeveloperNotification]:
        """Step 2 alone (on a body already authenticated and stored, e.g. on replay)."""
        envelope = parse_envelope(body)
        notification = parse_notification(envelope.data)
        if not hmac.compare_digest(notification.package_name.encode(), self._package_name):
            raise PushMalformed(
                "wrong_app", "the notification is for another app (packageName differs)"
            )
        return envelope, notification


def _publish_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise _malformed("message.publishTime is not an RFC 3339 time") from None


def _malformed(message: str) -> PushMalformed:
    return PushMalformed("malformed", message)
