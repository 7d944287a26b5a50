"""`AppStoreServerClient`: the App Store Server API over an injected `requests.Session`.

Every call has a timeout, is retried with backoff on network failures, 5xx and Apple's
retryable error codes, honours a 429's Retry-After (Unix time in milliseconds) up to a
bound, and ends in the engine's exception tree (`errors`). A client configured for
Production with sandbox fallback repeats transaction look-ups in Sandbox when Production
answers 4040010 (TransactionIdNotFound) or an empty-body 401, as Apple documents.

Answers are returned as decoded JSON with their signed parts untouched: verification and
normalization are the verifier's and normalizer's jobs (`gateway` combines the three).
Tokens and bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import requests

from iap_engine.domain import Environment
from iap_engine.service.errors import NotConfigured
from iap_engine.service.ports import Clock
from iap_engine.settings import AppleSettings
from store_adapters.apple import codes
from store_adapters.apple.auth import TokenSigner
from store_adapters.apple.errors import AppleApiRejected, AppleApiUnavailable
from store_adapters.apple.retry import RetryPolicy

log = logging.getLogger(__name__)

ApiEnvironment = Literal["Production", "Sandbox"]
PRODUCTION_URL = "https://api.storekit.itunes.apple.com"
SANDBOX_URL = "https://api.storekit-sandbox.itunes.apple.com"
# With an overridden base URL (the emulator, a proxy) the sandbox lives under this prefix.
SANDBOX_PREFIX = "/sandbox"
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
Json = dict[str, Any]


def api_environment(environment: Environment) -> ApiEnvironment:
    """Where the API keeps data of an engine environment (Xcode data count as sandbox)."""
    return "Production" if environment is Environment.PRODUCTION else "Sandbox"


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an identifier in a request path must not be empty")
    return quote(value, safe="")


def _millis(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


class _TryAnotherEnvironment(Exception):
    """Production does not know this transaction; the sandbox may."""

    def __init__(self, failure: Exception) -> None:
        super().__init__(str(failure))
        self.failure = failure


class AppStoreServerClient:
    def __init__(
        self,
        *,
        session: requests.Session,
        signing_key: bytes,
        key_id: str,
        issuer_id: str,
        bundle_id: str,
        environment: ApiEnvironment,
        clock: Clock,
        sandbox_fallback: bool = False,
        base_url: str = "",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        observe: Callable[[str], None] | None = None,
    ) -> None:
        """`observe` hears the outcome of every HTTP attempt ("ok", "rejected",
        "rate_limited", "timeout", "unreachable", "unavailable", "fallback"), for metrics."""
        if environment not in ("Production", "Sandbox"):
            raise ValueError("the App Store Server API serves Production and Sandbox only")
        self._session = session
        self._tokens = TokenSigner(
            signing_key=signing_key,
            key_id=key_id,
            issuer_id=issuer_id,
            bundle_id=bundle_id,
            clock=clock,
        )
        self._environment: ApiEnvironment = environment
        self._fallback = sandbox_fallback and environment == "Production"
        if base_url:
            base = base_url.rstrip("/")
            self._urls = {"Production": base, "Sandbox": base + SANDBOX_PREFIX}
        else:
            self._urls = {"Production": PRODUCTION_URL, "Sandbox": SANDBOX_URL}
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._observe = observe or (lambda outcome: None)

    @classmethod
    def from_settings(
        cls,
        settings: AppleSettings,
        *,
        session: requests.Session,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        observe: Callable[[str], None] | None = None,
    ) -> AppStoreServerClient:
        """A client for the configured app; `NotConfigured` names a missing key."""
        purpose = "the App Store Server API"
        for key, value in (
            ("apple.issuer_id", settings.issuer_id),
            ("apple.key_id", settings.key_id),
            ("apple.private_key_path", settings.private_key_path),
        ):
            if not value:
                raise NotConfigured(key, purpose)
        try:
            signing_key = Path(settings.private_key_path).read_bytes()
        except OSError:
            raise NotConfigured("apple.private_key_path (a readable .p8 file)", purpose) from None
        environment: ApiEnvironment
        if "Production" in settings.environments:
            environment = "Production"
        elif "Sandbox" in settings.environments:
            environment = "Sandbox"
        else:
            raise NotConfigured("apple.environments (Production or Sandbox)", purpose)
        try:
            return cls(
                session=session,
                signing_key=signing_key,
                key_id=settings.key_id,
                issuer_id=settings.issuer_id,
                bundle_id=settings.bundle_id,
                environment=environment,
                clock=clock,
                sandbox_fallback="Sandbox" in settings.environments,
                base_url=settings.api_base_url,
                timeout=timeout,
                retry=retry,
                sleep=sleep,
                observe=observe,
            )
        except ValueError:
            raise NotConfigured("apple.private_key_path (a P-256 .p8 key)", purpose) from None

    @property
    def environment(self) -> ApiEnvironment:
        return self._environment

    # -- endpoints ------------------------------------------------------------------------

    def get_all_subscription_statuses(
        self,
        transaction_id: str,
        status: Sequence[int] = (),
        *,
        environment: ApiEnvironment | None = None,
    ) -> Json:
        """Get All Subscription Statuses: every subscription group of the customer."""
        params = [("status", str(s)) for s in status]
        return self._call(
            "GET",
            f"/inApps/v1/subscriptions/{_segment(transaction_id)}",
            params=params,
            environment=environment,
            fallback=True,
        )

    def get_transaction_info(
        self, transaction_id: str, *, environment: ApiEnvironment | None = None
    ) -> Json:
        return self._call(
            "GET",
            f"/inApps/v1/transactions/{_segment(transaction_id)}",
            environment=environment,
            fallback=True,
        )

    def get_transaction_history(
        self,
        transaction_id: str,
        revision: str | None = None,
        *,
        sort: Literal["ASCENDING", "DESCENDING"] = "ASCENDING",
        environment: ApiEnvironment | None = None,
    ) -> Json:
        """One page of Get Transaction History (v2); pass the answer's `revision` onwards."""
        params: list[tuple[str, str]] = [("sort", sort)]
        if revision:
            params.append(("revision", revision))
        return self._call(
            "GET",
            f"/inApps/v2/history/{_segment(transaction_id)}",
            params=params,
            environment=environment,
            fallback=True,
        )

    def iter_transaction_history(
        self, transaction_id: str, *, environment: ApiEnvironment | None = None
    ) -> Iterator[Json]:
        """Every page of the history, following `revision` while `hasMore`."""
        revision: str | None = None
        while True:
            page = self.get_transaction_history(transaction_id, revision, environment=environment)
            yield page
            environment = _answered_environment(page, environment)
            revision = page.get("revision")
            if not page.get("hasMore") or not revision:
                return

    def get_refund_history(
        self,
        transaction_id: str,
        revision: str | None = None,
        *,
        environment: ApiEnvironment | None = None,
    ) -> Json:
        params = [("revision", revision)] if revision else []
        return self._call(
            "GET",
            f"/inApps/v2/refund/lookup/{_segment(transaction_id)}",
            params=params,
            environment=environment,
            fallback=True,
        )

    def iter_refund_history(
        self, transaction_id: str, *, environment: ApiEnvironment | None = None
    ) -> Iterator[Json]:
        revision: str | None = None
        while True:
            page = self.get_refund_history(transaction_id, revision, environment=environment)
            yield page
            environment = _answered_environment(page, environment)
            revision = page.get("revision")
            if not page.get("hasMore") or not revision:
                return

    def get_notification_history(
        self,
        start: datetime,
        end: datetime,
        pagination_token: str | None = None,
        *,
        notification_type: str | None = None,
        subtype: str | None = None,
        transaction_id: str | None = None,
        only_failures: bool = False,
        environment: ApiEnvironment | None = None,
    ) -> Json:
        """One page of Get Notification History (the last 180 days at most)."""
        body: Json = {"startDate": _millis(start), "endDate": _millis(end)}
        if notification_type:
            body["notificationType"] = notification_type
        if subtype:
            body["notificationSubtype"] = subtype
        if transaction_id:
            body["transactionId"] = transaction_id
        if only_failures:
            body["onlyFailures"] = True
        params = [("paginationToken", pagination_token)] if pagination_token else []
        return self._call(
            "POST",
            "/inApps/v1/notifications/history",
            params=params,
            body=body,
            environment=environment,
        )

    def look_up_order_id(self, order_id: str, *, environment: ApiEnvironment | None = None) -> Json:
        """Look Up Order ID (Production only at Apple): `status` 0 valid, 1 invalid."""
        return self._call("GET", f"/inApps/v1/lookup/{_segment(order_id)}", environment=environment)

    def request_test_notification(self, *, environment: ApiEnvironment | None = None) -> Json:
        return self._call("POST", "/inApps/v1/notifications/test", environment=environment)

    def get_test_notification_status(
        self, test_notification_token: str, *, environment: ApiEnvironment | None = None
    ) -> Json:
        return self._call(
            "GET",
            f"/inApps/v1/notifications/test/{_segment(test_notification_token)}",
            environment=environment,
        )

    # -- machinery ------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Json | None = None,
        environment: ApiEnvironment | None = None,
        fallback: bool = False,
    ) -> Json:
        first = environment or self._environment
        order: list[ApiEnvironment] = [first]
        if environment is None and fallback and self._fallback:
            order.append("Sandbox")
        for index, env in enumerate(order):
            may_fall_back = index + 1 < len(order)
            try:
                return self._request(method, env, path, params, body, may_fall_back)
            except _TryAnotherEnvironment:
                self._observe("fallback")
                log.info("App Store Server API %s %s: not in %s, trying Sandbox", method, path, env)
        raise AssertionError("unreachable: the last environment never falls back")

    def _request(
        self,
        method: str,
        environment: ApiEnvironment,
        path: str,
        params: Sequence[tuple[str, str]],
        body: Json | None,
        may_fall_back: bool,
    ) -> Json:
        url = self._urls[environment] + path
        what = f"{method} {path} ({environment})"
        failure: Exception | None = None
        for attempt in range(1, self._retry.attempts + 1):
            headers = {
                "Authorization": f"Bearer {self._tokens.bearer()}",
                "Accept": "application/json",
            }
            try:
                response = self._session.request(
                    method,
                    url,
                    params=list(params),
                    json=body,
                    headers=headers,
                    timeout=self._timeout,
                )
                answer = _Answer(response.status_code, response.content, response.headers)
            except (requests.Timeout, requests.ConnectionError) as error:
                failure = AppleApiUnavailable(
                    f"{what}: {type(error).__name__} reaching the App Store Server API",
                    reason="timeout" if isinstance(error, requests.Timeout) else "unreachable",
                )
            except requests.RequestException as error:
                raise AppleApiUnavailable(
                    f"{what}: request failed ({type(error).__name__})", reason="request_failed"
                ) from None
            else:
                if 200 <= answer.status < 300:
                    self._observe("ok")
                    return _json_body(answer, what)
                failure = self._failure(answer, what, may_fall_back)
                if isinstance(failure, AppleApiUnavailable) and failure.reason == "rate_limited":
                    self._observe("rate_limited")
                    wait = self._rate_limit_wait(failure)
                    if wait is not None and attempt < self._retry.attempts:
                        log.warning("%s: rate limited, waiting %.1fs", what, wait)
                        self._sleep(wait)
                        continue
                    raise failure
            self._observe(_outcome(failure))
            if not isinstance(failure, AppleApiUnavailable) or failure.reason == "unauthorized":
                raise failure
            if attempt < self._retry.attempts:
                delay = self._retry.delay(attempt)
                log.warning("%s failed (%s), retrying in %.1fs", what, failure.reason, delay)
                self._sleep(delay)
        assert failure is not None
        raise failure

    def _failure(self, answer: _Answer, what: str, may_fall_back: bool) -> Exception:
        error_code, message = _error_body(answer)
        status = answer.status
        detail = f"{what}: HTTP {status}" + (f", error {error_code}" if error_code else "")
        if message:
            detail += f" ({message})"
        if status == 401:
            if may_fall_back and not answer.body.strip():
                raise _TryAnotherEnvironment(AppleApiUnavailable(detail))
            return AppleApiUnavailable(
                detail + ": check apple.key_id, apple.issuer_id and the .p8 key",
                reason="unauthorized",
                status=status,
            )
        if status == 429 or error_code == codes.RATE_LIMIT_EXCEEDED:
            return AppleApiUnavailable(
                detail,
                reason="rate_limited",
                status=status,
                error_code=error_code,
                retry_at=_retry_after(answer.headers),
            )
        if error_code == codes.TRANSACTION_ID_NOT_FOUND and may_fall_back:
            raise _TryAnotherEnvironment(AppleApiUnavailable(detail))
        reason = codes.reason_for(status, error_code)
        if status >= 500 or (error_code is not None and error_code in codes.RETRYABLE):
            return AppleApiUnavailable(detail, reason=reason, status=status, error_code=error_code)
        return AppleApiRejected(reason, detail, status=status, error_code=error_code)

    def _rate_limit_wait(self, failure: AppleApiUnavailable) -> float | None:
        """Seconds to wait for a 429, or None when longer than the policy allows."""
        if failure.retry_at is None:
            return self._retry.first_delay
        wait = (failure.retry_at - self._clock.now()).total_seconds()
        if wait > self._retry.max_retry_after:
            return None
        return max(0.0, wait)


def _outcome(failure: Exception) -> str:
    if isinstance(failure, AppleApiUnavailable):
        return failure.reason if failure.reason in ("timeout", "unreachable") else "unavailable"
    return "rejected"


def _answered_environment(page: Json, asked: ApiEnvironment | None) -> ApiEnvironment | None:
    # Later pages must go where the first one was found (after a sandbox fallback).
    found = page.get("environment")
    if found in ("Production", "Sandbox"):
        return found  # type: ignore[no-any-return]
    return asked


def _json_body(answer: _Answer, what: str) -> Json:
    if not answer.body.strip():
        return {}
    try:
        value = json.loads(answer.body)
    except ValueError:
        raise AppleApiUnavailable(f"{what}: the answer is not JSON", reason="bad_answer") from None
    if not isinstance(value, dict):
        raise AppleApiUnavailable(f"{what}: the answer is not a JSON object", reason="bad_answer")
    return value


def _error_body(answer: _Answer) -> tuple[int | None, str | None]:
    try:
        value = json.loads(answer.body)
    except ValueError:
        return None, None
    if not isinstance(value, dict):
        return None, None
    code = value.get("errorCode")
    message = value.get("errorMessage")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message[:200] if isinstance(message, str) else None,
    )


def _retry_after(headers: Mapping[str, str]) -> datetime | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        millis = int(value.strip())
    except ValueError:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
