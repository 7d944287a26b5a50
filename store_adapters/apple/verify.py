"""`SignedDataVerifier`: whether a JWS really comes from the App Store, for this app.

Every App Store JWS (notification `signedPayload`, `signedTransactionInfo`,
`signedRenewalInfo`, app transactions) goes through the same steps, in this order:

1. structure and size (`jws.open_compact`), header alg ES256;
2. the x5c chain up to a configured root at the payload's own signedDate (`chain`), the
   chain verdict cached per exact x5c, and per exact header on the hot path. A payload with
   no signedDate is checked at its nested transaction's, else at the current time (the
   strictest choice, and Apple's library's); app transactions use receiptCreationDate;
3. signedDate not in the future beyond `max_clock_skew`;
4. the ES256 signature (one ECDSA verification);
5. bundle id, app Apple id (required in Production, checked whenever present) and the
   accepted environments. Xcode and LocalTesting data (self-signed by the developer's
   machine) are accepted only when configured, which the settings forbid with Production.

Failures raise `VerificationError` with a stable `Reason`. Nothing here logs payloads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from iap_engine.service.ports import Clock
from iap_engine.settings import AppleSettings
from store_adapters.apple import jws, splice
from store_adapters.apple.chain import DEFAULT_CACHE_SIZE, ChainTrust, TrustedKey
from store_adapters.apple.errors import Reason, VerificationError
from store_adapters.apple.jws import Json, malformed

PRODUCTION = "Production"
SANDBOX = "Sandbox"
XCODE = "Xcode"
LOCAL_TESTING = "LocalTesting"
LOCAL_ENVIRONMENTS = frozenset({XCODE, LOCAL_TESTING})
KNOWN_ENVIRONMENTS = frozenset({PRODUCTION, SANDBOX, XCODE, LOCAL_TESTING})
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class VerifiedNotification:
    """A verified notification: the decoded `signedPayload` and its verified nested JWS.

    `payload` is the decoded payload as Apple sent it (nested JWS still encoded);
    `transaction`, `renewal_info` and `app_transaction` are the decoded nested objects.
    `signed_date` is the payload's signedDate, or its transaction's when it has none.
    """

    payload: Json
    signed_date: datetime
    environment: str
    transaction: Json | None = None
    renewal_info: Json | None = None
    app_transaction: Json | None = None

    def decoded(self) -> Json:
        """The payload with every nested JWS replaced by its decoded object."""
        result = dict(self.payload)
        if isinstance(result.get("data"), dict):
            data = dict(result["data"])
            if self.transaction is not None:
                data["signedTransactionInfo"] = self.transaction
            if self.renewal_info is not None:
                data["signedRenewalInfo"] = self.renewal_info
            result["data"] = data
        if isinstance(result.get("appData"), dict) and self.app_transaction is not None:
            app_data = dict(result["appData"])
            app_data["signedAppTransactionInfo"] = self.app_transaction
            result["appData"] = app_data
        return result


# Datetimes exist from year 1 to 9999; an Apple date outside that is malformed, not a crash.
MIN_MS = -62_135_596_800_000.0
MAX_MS = 253_402_300_799_000.0


def epoch_ms(value: object) -> float | None:
    """An Apple date (epoch milliseconds, int or float) as a float, or None if absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed("a date field is not a number of milliseconds")
    if not MIN_MS <= value <= MAX_MS:  # also false for NaN
        raise malformed("a date field is out of range")
    return float(value)


def instant(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# A JWS opened by `jws.open_compact`: (ASCII bytes, first dot, second dot, payload).
_Opened = tuple[bytes, int, int, Json]


class SignedDataVerifier:
    def __init__(
        self,
        *,
        root_certificates: Sequence[bytes],
        bundle_id: str,
        app_apple_id: int | None,
        environments: Iterable[str],
        clock: Clock,
        max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        accepted = frozenset(environments)
        unknown = accepted - KNOWN_ENVIRONMENTS
        if unknown:
            raise ValueError(f"unknown Apple environments: {', '.join(sorted(unknown))}")
        if not accepted:
            raise ValueError("at least one Apple environment must be accepted")
        if PRODUCTION in accepted and accepted & LOCAL_ENVIRONMENTS:
            raise ValueError("Xcode/LocalTesting data may not be accepted together with Production")
        if PRODUCTION in accepted and app_apple_id is None:
            raise ValueError("app_apple_id is required when Production is accepted")
        self._bundle_id = bundle_id
        self._app_apple_id = app_apple_id
        self._environments = accepted
        self._local_environments = accepted & LOCAL_ENVIRONMENTS
        self._clock = clock
        self._skew_ms = max_clock_skew.total_seconds() * 1000
        self._chains = ChainTrust(
            root_certificates, allow_local=bool(self._local_environments), cache_size=cache_size
        )
        # Exact header bytes -> trusted key. Apple signs everything of a period with one
        # header, so the last one seen is checked first with a prefix comparison (no hashing).
        self._headers: OrderedDict[bytes, TrustedKey] = OrderedDict()
        self._header_cache_size = cache_size
        self._last: tuple[bytes, TrustedKey] | None = None
        # The last trusted header, which the nested JWS of a notification usually repeat.
        self._known: splice.KnownText | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: AppleSettings, clock: Clock, *, max_clock_skew: timedelta | None = None
    ) -> SignedDataVerifier:
        return cls(
            root_certificates=[Path(path).read_bytes() for path in settings.root_certificates],
            bundle_id=settings.bundle_id,
            app_apple_id=settings.app_apple_id,
            environments=settings.environments,
            clock=clock,
            max_clock_skew=max_clock_skew or DEFAULT_MAX_CLOCK_SKEW,
        )

    @property
    def environments(self) -> frozenset[str]:
        return self._environments

    @property
    def bundle_id(self) -> str:
        return self._bundle_id

    @property
    def chain_validations(self) -> int:
        """How many x5c chains were fully validated (each other JWS hit the cache)."""
        return self._chains.validations

    @property
    def cached_chains(self) -> int:
        return self._chains.cached

    # -- public verbs ---------------------------------------------------------------------

    def verify_notification(self, signed_payload: str) -> VerifiedNotification:
        """Verify a Notifications V2 `signedPayload` and the JWS nested in it."""
        now_ms = self._now_ms()
        outer = jws.open_compact(signed_payload, self._known)
        payload = outer[3]
        data = _object(payload, "data")
        transaction: Json | None = None
        signed_ms = epoch_ms(payload.get("signedDate"))
        token = data.get("signedTransactionInfo") if data is not None else None
        if signed_ms is None and token is not None:
            # Some 2022 notifications have no top-level signedDate: the nested
            # transaction's (verified first, independently) stands in for it.
            transaction = self._transaction(jws.open_compact(token), now_ms)
            signed_ms = epoch_ms(transaction.get("signedDate"))
        if signed_ms is None:
            signed_ms = now_ms
        key = self._trust(outer, signed_ms, now_ms)
        environment = self._check_notification_identity(payload, key)
        if token is not None and transaction is None:
            transaction = self._transaction(jws.open_compact(token), now_ms)
        renewal: Json | None = None
        app_transaction: Json | None = None
        if data is not None:
            renewal_token = data.get("signedRenewalInfo")
            if renewal_token is not None:
                renewal = self._renewal_info(jws.open_compact(renewal_token), now_ms)
        app_data = _object(payload, "appData")
        if app_data is not None and app_data.get("signedAppTransactionInfo") is not None:
            app_transaction = self._app_transaction(
                jws.open_compact(app_data["signedAppTransactionInfo"]), now_ms
            )
        for nested in (transaction, renewal, app_transaction):
            nested_environment = _nested_environment(nested)
            if nested_environment is not None and nested_environment != environment:
                raise VerificationError(
                    Reason.WRONG_ENVIRONMENT,
                    "a nested JWS is from another environment than its notification",
                )
        return VerifiedNotification(
            payload=payload,
            signed_date=instant(signed_ms),
            environment=environment,
            transaction=transaction,
            renewal_info=renewal,
            app_transaction=app_transaction,
        )

    def peek_notification_uuid(self, signed_payload: str) -> str | None:
        """A notification's notificationUUID, NOT verified: only to name a delivery."""
        value = jws.open_compact(signed_payload, self._known)[3].get("notificationUUID")
        return value if isinstance(value, str) and value else None

    def verify_transaction(self, signed_transaction: str) -> Json:
        """Verify a `signedTransactionInfo` (JWSTransaction) and return its payload."""
        return self._transaction(jws.open_compact(signed_transaction), self._now_ms())

    def verify_renewal_info(self, signed_renewal_info: str) -> Json:
        """Verify a `signedRenewalInfo`; it carries no bundle id, so only env is checked."""
        return self._renewal_info(jws.open_compact(signed_renewal_info), self._now_ms())

    def verify_app_transaction(self, signed_app_transaction: str) -> Json:
        """Verify a signed AppTransaction (StoreKit 2 app transaction)."""
        return self._app_transaction(jws.open_compact(signed_app_transaction), self._now_ms())

    # -- the steps ------------------------------------------------------------------------

    def _transaction(self, decoded: _Opened, now_ms: float) -> Json:
        payload = decoded[3]
        key = self._trust(decoded, _date(payload, now_ms, "signedDate"), now_ms)
        if payload.get("bundleId") != self._bundle_id:
            raise _wrong_app("bundle id")
        self._check_environment(payload.get("environment"), key)
        return payload

    def _renewal_info(self, decoded: _Opened, now_ms: float) -> Json:
        payload = decoded[3]
        key = self._trust(decoded, _date(payload, now_ms, "signedDate"), now_ms)
        self._check_environment(payload.get("environment"), key)
        return payload

    def _app_transaction(self, decoded: _Opened, now_ms: float) -> Json:
        payload = decoded[3]
        key = self._trust(
            decoded, _date(payload, now_ms, "signedDate", "receiptCreationDate"), now_ms
        )
        environment = payload.get("receiptType")
        if payload.get("bundleId") != self._bundle_id:
            raise _wrong_app("bundle id")
        self._check_app_apple_id(payload.get("appAppleId"), environment)
        self._check_environment(environment, key)
        return payload

    def _now_ms(self) -> float:
        return self._clock.now().timestamp() * 1000

    def _trust(self, opened: _Opened, signed_ms: float, now_ms: float) -> TrustedKey:
        raw, first, second, _ = opened
        last = self._last
        # Apple signs everything of a period under one header: compare with the last one
        # seen before hashing anything.
        if last is not None and len(last[0]) == first and raw.startswith(last[0]):
            key = last[1]
        else:
            key = self._header_key(raw, first, signed_ms)
        key.check_valid_at(signed_ms)
        if signed_ms > now_ms + self._skew_ms:
            raise VerificationError(Reason.FUTURE_DATE, "the signedDate is in the future")
        jws.verify_es256(key.public_key, raw, second)
        return key

    def _header_key(self, raw: bytes, first: int, signed_ms: float) -> TrustedKey:
        segment = raw[:first]
        with self._lock:
            found = self._headers.get(segment)
            if found is not None:
                self._headers.move_to_end(segment)
        if found is None:
            header = jws.header(raw, first)
            if header.get("alg") != "ES256":
                raise VerificationError(
                    Reason.UNSUPPORTED_ALGORITHM, "the JWS header alg must be ES256"
                )
            found = self._chains.key_for(header.get("x5c"), signed_ms)
            with self._lock:
                self._headers[segment] = found
                while len(self._headers) > self._header_cache_size:
                    self._headers.popitem(last=False)
        self._last = (segment, found)
        self._known = splice.KnownText(segment)
        return found

    def _check_notification_identity(self, payload: Json, key: TrustedKey) -> str:
        """Bundle id, app Apple id and environment of a notification's envelope."""
        data = _object(payload, "data")
        summary = _object(payload, "summary")
        token = _object(payload, "externalPurchaseToken")
        app_data = _object(payload, "appData")
        environment: object
        if data is not None:
            source: Json = data
            environment = data.get("environment")
        elif summary is not None:
            source, environment = summary, summary.get("environment")
        elif app_data is not None:
            source, environment = app_data, app_data.get("environment")
        elif token is not None:
            # Apple gives external purchase tokens no environment field; sandbox ids say so.
            source = token
            external_id = token.get("externalPurchaseId")
            environment = (
                SANDBOX
                if isinstance(external_id, str) and external_id.startswith("SANDBOX")
                else PRODUCTION
            )
        else:
            raise malformed("the notification has no data, summary, appData or token")
        if source.get("bundleId") != self._bundle_id:
            raise _wrong_app("bundle id")
        self._check_app_apple_id(source.get("appAppleId"), environment)
        self._check_environment(environment, key)
        assert isinstance(environment, str)
        return environment

    def _check_app_apple_id(self, app_apple_id: object, environment: object) -> None:
        if environment == PRODUCTION and app_apple_id is None:
            raise _wrong_app("app Apple id (required in Production)")
        if (
            app_apple_id is not None
            and self._app_apple_id is not None
            and app_apple_id != self._app_apple_id
        ):
            raise _wrong_app("app Apple id")

    def _check_environment(self, environment: object, key: TrustedKey) -> None:
        if not isinstance(environment, str) or environment not in self._environments:
            raise VerificationError(
                Reason.WRONG_ENVIRONMENT,
                f"environment {_printable(environment)} is not accepted",
            )
        if key.local and environment not in self._local_environments:
            # A self-signed key vouches for developer-machine data only.
            raise VerificationError(
                Reason.WRONG_ENVIRONMENT,
                f"a locally signed payload cannot claim environment {_printable(environment)}",
            )


def _object(payload: Mapping[str, Any], name: str) -> Json | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise malformed(f"the field {name} is not an object")
    return value


def _date(payload: Json, now_ms: float, *names: str) -> float:
    """The first of the named dates present; the current time when there is none, which
    is the strictest instant to check a chain at (and the one Apple's library uses)."""
    for name in names:
        value = epoch_ms(payload.get(name))
        if value is not None:
            return value
    return now_ms


def _nested_environment(nested: Json | None) -> object:
    if nested is None:
        return None
    return nested.get("environment", nested.get("receiptType"))


def _wrong_app(what: str) -> VerificationError:
    return VerificationError(Reason.WRONG_APP, f"the payload's {what} is not this app's")


def _printable(value: object) -> str:
    # Environments are short enum strings; anything else is shown by type only.
    if isinstance(value, str) and len(value) <= 32 and value.isprintable():
        return repr(value)
    return "(missing)" if value is None else f"({type(value).__name__})"
