"""The exceptions use cases raise; the API and CLI translate them to answers.

ServiceError
 ├── InvalidInput        the caller sent something unusable (names the field)
 ├── NotFound            no such user, subscription or purchase
 ├── Conflict            the request contradicts stored state (e.g. keep_original restore)
 ├── ConcurrentUpdate    another writer changed the subscription first; retried whole
 ├── NotConfigured       the feature needs configuration that is missing (names the key)
 ├── StoreRejected       the store says the purchase or payload is not valid
 └── StoreUnavailable    the store could not be reached or failed; try again later
"""

from __future__ import annotations


class ServiceError(Exception):
    code = "internal_error"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidInput(ServiceError):
    code = "invalid_input"

    def __init__(self, field: str, expected: str) -> None:
        self.field = field
        super().__init__(f"{field}: expected {expected}")


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class ConcurrentUpdate(ServiceError):
    code = "concurrent_update"


class NotConfigured(ServiceError):
    code = "not_configured"

    def __init__(self, key: str, purpose: str) -> None:
        self.key = key
        super().__init__(f"{purpose} needs the configuration key {key}")


class StoreRejected(ServiceError):
    code = "store_rejected"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class StoreUnavailable(ServiceError):
    code = "store_unavailable"


class DeliveryRejected(StoreRejected):
    """A store delivery that must not touch any subscription.

    `authentication` is true when the delivery could not be proven to come from the store
    (bad signature, chain or token: answered 401), false when it is well-signed but unusable
    (malformed, another app, a refused environment: answered 400).
    """

    code = "delivery_rejected"

    def __init__(self, reason: str, message: str, *, authentication: bool) -> None:
        self.authentication = authentication
        super().__init__(reason, message)
