"""Real-time developer notifications as Pub/Sub push delivers them, with OIDC tokens.

publisher = PushPublisher(play, audience=..., service_account=...)
request = publisher.request(publisher.subscription_notification(token, 4))
publisher.deliver(session, url, request)   # POST with Authorization: Bearer <token>
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from typing import Any

import requests

from store_emulator.google.play import GooglePlay

DEFAULT_SUBSCRIPTION = "projects/emulator-project/subscriptions/play-rtdn"

# SubscriptionNotification.notificationType, as Google's RTDN reference numbers them.
SUBSCRIPTION_RECOVERED = 1
SUBSCRIPTION_RENEWED = 2
SUBSCRIPTION_CANCELED = 3
SUBSCRIPTION_PURCHASED = 4
SUBSCRIPTION_ON_HOLD = 5
SUBSCRIPTION_IN_GRACE_PERIOD = 6
SUBSCRIPTION_RESTARTED = 7
SUBSCRIPTION_DEFERRED = 9
SUBSCRIPTION_PAUSED = 10
SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED = 11
SUBSCRIPTION_REVOKED = 12
SUBSCRIPTION_EXPIRED = 13
SUBSCRIPTION_PRICE_CHANGE_UPDATED = 19
SUBSCRIPTION_NAMES = {
    SUBSCRIPTION_RECOVERED: "SUBSCRIPTION_RECOVERED",
    SUBSCRIPTION_RENEWED: "SUBSCRIPTION_RENEWED",
    SUBSCRIPTION_CANCELED: "SUBSCRIPTION_CANCELED",
    SUBSCRIPTION_PURCHASED: "SUBSCRIPTION_PURCHASED",
    SUBSCRIPTION_ON_HOLD: "SUBSCRIPTION_ON_HOLD",
    SUBSCRIPTION_IN_GRACE_PERIOD: "SUBSCRIPTION_IN_GRACE_PERIOD",
    SUBSCRIPTION_RESTARTED: "SUBSCRIPTION_RESTARTED",
    SUBSCRIPTION_DEFERRED: "SUBSCRIPTION_DEFERRED",
    SUBSCRIPTION_PAUSED: "SUBSCRIPTION_PAUSED",
    SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED: "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
    SUBSCRIPTION_REVOKED: "SUBSCRIPTION_REVOKED",
    SUBSCRIPTION_EXPIRED: "SUBSCRIPTION_EXPIRED",
    SUBSCRIPTION_PRICE_CHANGE_UPDATED: "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
}
# OneTimeProductNotification.notificationType.
ONE_TIME_PRODUCT_PURCHASED = 1


@dataclass(frozen=True)
class PushRequest:
    authorization: str | None
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        return headers

    def inspect_document(self) -> dict[str, Any]:
        """The request in the shape `iap-engine inspect google` reads."""
        document: dict[str, Any] = json.loads(self.body)
        if self.authorization is not None:
            document["authorization"] = self.authorization
        return document


class PushPublisher:
    def __init__(
        self,
        play: GooglePlay,
        audience: str,
        service_account: str,
        subscription: str = DEFAULT_SUBSCRIPTION,
    ) -> None:
        self._play = play
        self.audience = audience
        self.service_account = service_account
        self.subscription = subscription
        self._message_ids = itertools.count(136969346945)

    # -- DeveloperNotification payloads (field names as Google's RTDN reference) ----------

    def _base(self) -> dict[str, Any]:
        return {
            "version": "1.0",
            "packageName": self._play.package_name,
            "eventTimeMillis": str(int(self._play.clock.now().timestamp() * 1000)),
        }

    def subscription_notification(self, token: str, notification_type: int) -> dict[str, Any]:
        return {
            **self._base(),
            "subscriptionNotification": {
                "version": "1.0",
                "notificationType": notification_type,
                "purchaseToken": token,
            },
        }

    def one_time_notification(self, token: str, sku: str, notification_type: int) -> dict[str, Any]:
        return {
            **self._base(),
            "oneTimeProductNotification": {
                "version": "1.0",
                "notificationType": notification_type,
                "purchaseToken": token,
                "sku": sku,
            },
        }

    def voided_notification(
        self, token: str, order_id: str, product_type: int = 1, refund_type: int = 1
    ) -> dict[str, Any]:
        return {
            **self._base(),
            "voidedPurchaseNotification": {
                "purchaseToken": token,
                "orderId": order_id,
                "productType": product_type,
                "refundType": refund_type,
            },
        }

    def test_notification(self) -> dict[str, Any]:
        return {**self._base(), "testNotification": {"version": "1.0"}}

    # -- push requests --------------------------------------------------------------------

    def envelope(self, notification: dict[str, Any] | bytes) -> dict[str, Any]:
        data = (
            notification if isinstance(notification, bytes) else json.dumps(notification).encode()
        )
        now = self._play.clock.now()
        return {
            "message": {
                "attributes": {},
                "data": base64.b64encode(data).decode(),
                "messageId": str(next(self._message_ids)),
                "publishTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
            "subscription": self.subscription,
        }

    def request(
        self,
        notification: dict[str, Any] | bytes,
        *,
        token: str | None = None,
        authenticated: bool = True,
    ) -> PushRequest:
        """A push as Pub/Sub sends it. `token` overrides the minted bearer token;
        `authenticated=False` sends none."""
        if authenticated and token is None:
            token = self._play.signer.mint(self.audience, self.service_account)
        return PushRequest(
            authorization=f"Bearer {token}" if authenticated else None,
            body=json.dumps(self.envelope(notification)).encode(),
        )

    def deliver(
        self, session: requests.Session, url: str, request: PushRequest, timeout: float = 10.0
    ) -> requests.Response:
        return session.post(url, data=request.body, headers=request.headers, timeout=timeout)
