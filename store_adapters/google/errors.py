"""What the Google Play adapter raises, as subclasses of the engine's service errors.

ServiceError (iap_engine.service.errors)
 ├── NotConfigured
 │    └── PlayNotConfigured        401/403 from Google, or a key missing from [google]:
 │                                 the message names the fix
 ├── StoreRejected                 `.reason` is a stable snake_case code
 │    ├── PurchaseGone             404/410: the token is unknown or too old (definite answer)
 │    ├── InvalidPurchaseToken     400: Google says the token (or the request) is invalid
 │    ├── ProductUnknown           404 from the catalogue (monetization) API
 │    ├── SignedDataRejected       signed purchase data failed verification
 │    └── DeliveryRejected
 │         ├── PushUnauthenticated the push's bearer token failed a check
 │         │                       (authentication=True: answer 401, store nothing;
 │         │                       `reason` in PUSH_AUTH_REASONS)
 │         └── PushMalformed       authenticated, but the body is unusable
 │                                 (authentication=False: answer 400, keep the raw body;
 │                                 `reason`: malformed | wrong_app | invalid_token)
 └── StoreUnavailable
      └── PlayUnavailable          Google did not answer usefully after the retries; try later
"""

from __future__ import annotations

from iap_engine.service.errors import (
    DeliveryRejected,
    NotConfigured,
    StoreRejected,
    StoreUnavailable,
)

# Every reason a push can fail authentication for; the HTTP layer answers 401 to all of them.
PUSH_AUTH_REASONS = frozenset(
    {
        "missing_token",
        "malformed",
        "unknown_key",
        "invalid_signature",
        "wrong_issuer",
        "wrong_audience",
        "wrong_email",
        "email_unverified",
        "expired",
        "not_yet_valid",
    }
)


class PlayNotConfigured(NotConfigured):
    """Google refused our credentials, or a needed [google] key is empty.

    Unlike the base class the message is free text, because the fix is often outside the
    config file (a permission in Play Console, an API to enable in Google Cloud).
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, "the Google Play adapter")
        self.message = message
        self.args = (message,)


class PurchaseGone(StoreRejected):
    def __init__(self, message: str = "Google no longer knows this purchase token") -> None:
        super().__init__("purchase_gone", message)


class InvalidPurchaseToken(StoreRejected):
    def __init__(self, message: str = "Google says the purchase token is not valid") -> None:
        super().__init__("invalid_token", message)


class ProductUnknown(StoreRejected):
    def __init__(self, message: str) -> None:
        super().__init__("product_unknown", message)


class PushUnauthenticated(DeliveryRejected):
    def __init__(self, reason: str, message: str) -> None:
        assert reason in PUSH_AUTH_REASONS, reason
        super().__init__(reason, message, authentication=True)


class PushMalformed(DeliveryRejected):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message, authentication=False)


class SignedDataRejected(StoreRejected):
    pass


class PlayUnavailable(StoreUnavailable):
    pass
