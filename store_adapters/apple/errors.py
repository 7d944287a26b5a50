"""Exceptions raised by the Apple adapter, subclasses of the engine's own tree.

StoreRejected (iap_engine.service.errors)
 ├── DeliveryRejected
 │    └── VerificationError an App Store JWS is not trustworthy (`reason` says why;
 │                          `authentication` when it is not provably Apple's)
 ├── ReceiptError           an app receipt cannot be read
 └── AppleApiRejected       the App Store Server API or verifyReceipt gave a definite "no"
StoreUnavailable (iap_engine.service.errors)
 └── AppleApiUnavailable    transient failure, exhausted retries, rate limit, bad credentials

Messages never contain payloads, tokens or secrets: they name the check that failed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from iap_engine.service.errors import DeliveryRejected, StoreRejected, StoreUnavailable


class Reason(StrEnum):
    """Stable reason codes of `VerificationError` (shown by `iap-engine inspect apple`)."""

    MALFORMED = "malformed"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    INVALID_CHAIN = "invalid_chain"
    INVALID_CERTIFICATE = "invalid_certificate"
    CERTIFICATE_EXPIRED = "certificate_expired"
    FUTURE_DATE = "future_date"
    INVALID_SIGNATURE = "invalid_signature"
    WRONG_APP = "wrong_app"
    WRONG_ENVIRONMENT = "wrong_environment"


EXPLANATIONS: dict[Reason, str] = {
    Reason.MALFORMED: "not a well-formed App Store JWS (structure, size, encoding or fields)",
    Reason.UNSUPPORTED_ALGORITHM: "the JWS header does not declare alg ES256",
    Reason.INVALID_CHAIN: "the x5c chain does not lead to a configured root certificate",
    Reason.INVALID_CERTIFICATE: "a chain certificate is unreadable or lacks Apple's marker OID",
    Reason.CERTIFICATE_EXPIRED: "a chain certificate was not valid at the payload's signedDate",
    Reason.FUTURE_DATE: "the payload's signedDate is in the future",
    Reason.INVALID_SIGNATURE: "the ES256 signature does not match the signed content",
    Reason.WRONG_APP: "the payload belongs to another bundle id or app Apple id",
    Reason.WRONG_ENVIRONMENT: "the payload's environment is not accepted by this configuration",
}


# Failures that leave the payload's origin unproven (a webhook answers 401), as opposed to
# well-signed but unusable data (malformed, another app, a refused environment: 400).
AUTHENTICATION_REASONS = frozenset(
    {
        Reason.UNSUPPORTED_ALGORITHM,
        Reason.INVALID_CHAIN,
        Reason.INVALID_CERTIFICATE,
        Reason.CERTIFICATE_EXPIRED,
        Reason.FUTURE_DATE,
        Reason.INVALID_SIGNATURE,
    }
)


class VerificationError(DeliveryRejected):
    """A signed payload failed verification; `reason` is a stable `Reason` code."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(reason.value, message, authentication=reason in AUTHENTICATION_REASONS)
        self.reason_code = reason


class ReceiptError(StoreRejected):
    """An app receipt is not a readable PKCS#7 App Store receipt."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed_receipt", message)


class AppleApiRejected(StoreRejected):
    """A definite answer from Apple: unknown transaction, invalid id, bad receipt, ...

    `reason` is a snake_case code (e.g. `transaction_id_not_found`); `error_code` is Apple's
    numeric code (App Store Server API) or verifyReceipt status, when there is one.
    """

    def __init__(
        self, reason: str, message: str, *, status: int | None = None, error_code: int | None = None
    ) -> None:
        super().__init__(reason, message)
        self.status = status
        self.error_code = error_code


class AppleApiUnavailable(StoreUnavailable):
    """Apple could not answer now: network failure, 5xx, rate limit or rejected credentials.

    `retry_at` is when Apple allows the next request (from a 429's Retry-After), if known.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "unavailable",
        status: int | None = None,
        error_code: int | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.error_code = error_code
        self.retry_at = retry_at
