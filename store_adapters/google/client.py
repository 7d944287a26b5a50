"""The Google Play Developer API (androidpublisher v3) over an injected `requests.Session`.

Only the calls the engine needs, with the paths of Google's reference:

- purchases.subscriptionsv2.get / .cancel / .revoke, purchases.subscriptions.acknowledge
- purchases.products.get / .acknowledge (one-time products)
- purchases.voidedpurchases.list (token paging, `type=1` to include subscriptions)
- monetization.subscriptions.get and .basePlans.offers.get (plan and offer durations)

Answers are returned as Google's JSON (`dict`); `normalize` is what reads them. Failures are
translated here (see `errors`): 404/410 -> `PurchaseGone`, 400 -> `InvalidPurchaseToken`,
401 (after one token refresh) and 403 -> `PlayNotConfigured`, and 429/5xx/timeouts are retried
with capped exponential backoff and full jitter, honouring `Retry-After`, before
`PlayUnavailable`. Every request has a timeout. Purchase tokens never appear in logs or errors
beyond a short prefix.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

import requests

from iap_engine.service.ports import Clock
from store_adapters.google.errors import (
    InvalidPurchaseToken,
    PlayNotConfigured,
    PlayUnavailable,
    ProductUnknown,
    PurchaseGone,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://androidpublisher.googleapis.com"
_V3 = "/androidpublisher/v3/applications"
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})

CancellationType = Literal["USER_REQUESTED_STOP_RENEWALS", "DEVELOPER_REQUESTED_STOP_PAYMENTS"]
RefundType = Literal["full", "prorated"]


class TokenSource(Protocol):
    def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A Retry-After longer than this is not waited for: the call fails and is retried later.
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass(frozen=True, slots=True)
class VoidedPage:
    voided_purchases: tuple[Mapping[str, Any], ...]
    next_page_token: str | None


def redact(token: str) -> str:
    return f"{token[:6]}..." if len(token) > 6 else "..."


@dataclass
class PlayClient:
    session: requests.Session
    tokens: TokenSource
    package_name: str
    clock: Clock
    base_url: str = ""
    timeout: float | tuple[float, float] = (5.0, 15.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.base_url = (self.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._app = f"{self.base_url}{_V3}/{quote(self.package_name, safe='')}"

    # -- purchases ------------------------------------------------------------------------

    def get_subscription(self, token: str) -> dict[str, Any]:
        """purchases.subscriptionsv2.get: the source of truth for a subscription."""
        return self._json("GET", f"/purchases/subscriptionsv2/tokens/{_seg(token)}", token)

    def acknowledge_subscription(
        self, product_id: str, token: str, developer_payload: str | None = None
    ) -> None:
        """purchases.subscriptions.acknowledge (Google refunds unacknowledged ones in 3 days)."""
        body = {} if developer_payload is None else {"developerPayload": developer_payload}
        path = f"/purchases/subscriptions/{_seg(product_id)}/tokens/{_seg(token)}:acknowledge"
        self._call("POST", path, token, body=body)

    def cancel_subscription(
        self, token: str, cancellation_type: CancellationType = "USER_REQUESTED_STOP_RENEWALS"
    ) -> None:
        """purchases.subscriptionsv2.cancel: stops renewal; access lasts to the paid end."""
        body = {"cancellationContext": {"cancellationType": cancellation_type}}
        self._call("POST", f"/purchases/subscriptionsv2/tokens/{_seg(token)}:cancel", token, body)

    def revoke_subscription(self, token: str, refund: RefundType = "full") -> None:
        """purchases.subscriptionsv2.revoke: refunds and ends access at once."""
        context: dict[str, dict[str, str]] = (
            {"fullRefund": {}} if refund == "full" else {"proratedRefund": {}}
        )
        body = {"revocationContext": context}
        self._call("POST", f"/purchases/subscriptionsv2/tokens/{_seg(token)}:revoke", token, body)

    def get_product(self, product_id: str, token: str) -> dict[str, Any]:
        """purchases.products.get: a one-time product purchase."""
        path = f"/purchases/products/{_seg(product_id)}/tokens/{_seg(token)}"
        return self._json("GET", path, token)

    def acknowledge_product(self, product_id: str, token: str) -> None:
        path = f"/purchases/products/{_seg(product_id)}/tokens/{_seg(token)}:acknowledge"
        self._call("POST", path, token, body={})

    def list_voided(
        self,
        start_time: datetime | None = None,
        page_token: str | None = None,
        max_results: int = 1000,
        include_subscriptions: bool = True,
    ) -> VoidedPage:
        """purchases.voidedpurchases.list, one page. Start times older than 30 days are
        refused by Google; pass the cursor's page token to continue a listing."""
        params: dict[str, str | int] = {"maxResults": max_results}
        if include_subscriptions:
            params["type"] = 1
        if page_token:
            params["token"] = page_token
        elif start_time is not None:
            params["startTime"] = int(start_time.timestamp() * 1000)
        body = self._json("GET", "/purchases/voidedpurchases", None, params=params)
        items = body.get("voidedPurchases") or []
        paging = body.get("tokenPagination") or {}
        next_token = paging.get("nextPageToken") if isinstance(paging, dict) else None
        return VoidedPage(
            voided_purchases=tuple(item for item in items if isinstance(item, dict)),
            next_page_token=next_token if isinstance(next_token, str) and next_token else None,
        )

    # -- catalogue (monetization) ---------------------------------------------------------

    def get_subscription_product(self, product_id: str) -> dict[str, Any]:
        """monetization.subscriptions.get: base plans with their billing and grace periods."""
        return self._json("GET", f"/subscriptions/{_seg(product_id)}", None, catalog=True)

    def get_offer(self, product_id: str, base_plan_id: str, offer_id: str) -> dict[str, Any]:
        """monetization.subscriptions.basePlans.offers.get: an offer's phases."""
        path = (
            f"/subscriptions/{_seg(product_id)}/basePlans/{_seg(base_plan_id)}"
            f"/offers/{_seg(offer_id)}"
        )
        return self._json("GET", path, None, catalog=True)

    # -- transport ------------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        purchase_token: str | None,
        params: Mapping[str, str | int] | None = None,
        catalog: bool = False,
    ) -> dict[str, Any]:
        response = self._call(method, path, purchase_token, params=params, catalog=catalog)
        try:
            body = response.json()
        except ValueError:
            raise PlayUnavailable(f"Google answered {method} {_where(path)} with no JSON") from None
        if not isinstance(body, dict):
            raise PlayUnavailable(f"Google answered {method} {_where(path)} with a non-object")
        return body

    def _call(
        self,
        method: str,
        path: str,
        purchase_token: str | None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        catalog: bool = False,
    ) -> requests.Response:
        url = f"{self._app}{path}"
        refreshed = False
        attempt = 0
        while True:
            access_token = self.tokens.token()
            try:
                response = self.session.request(
                    method,
                    url,
                    json=body if method == "POST" else None,
                    params=params,
                    headers={"Authorization": f"Bearer {access_token}"},
                    timeout=self.timeout,
                )
            except (requests.Timeout, requests.ConnectionError) as error:
                delay = self._retry_delay(attempt, None)
                failure = type(error).__name__
            else:
                status = response.status_code
                if status < 300:
                    return response
                if status == 401 and not refreshed:
                    # The token expired or was revoked early: fetch a new one, once.
                    self.tokens.invalidate(access_token)
                    refreshed = True
                    continue
                if status not in _RETRIED_STATUSES:
                    raise _failure(status, response, method, path, purchase_token, catalog)
                delay = self._retry_delay(attempt, response)
                failure = f"HTTP {status}"
            attempt += 1
            if delay is None or attempt >= self.retry.attempts:
                raise PlayUnavailable(
                    f"Google Play did not answer {method} {_where(path)} after {attempt}"
                    f" attempt(s) (last: {failure}); try again later"
                )
            log.info("retrying %s %s in %.2fs after %s", method, _where(path), delay, failure)
            self.sleep(delay)

    def _retry_delay(self, attempt: int, response: requests.Response | None) -> float | None:
        """Seconds to wait before the next attempt; None when Retry-After is too far off."""
        delay = self.retry.backoff(attempt, self.rng)
        if response is None:
            return delay
        retry_after = _retry_after(response.headers.get("Retry-After"), self.clock.now())
        if retry_after is None:
            return delay
        if retry_after > self.retry.max_retry_after:
            return None
        return max(delay, retry_after)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _where(path: str) -> str:
    """The path with ids shortened, for messages (a purchase token is a credential)."""
    return "/".join(redact(part) if len(part) > 40 else part for part in path.split("/"))


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _google_error(response: requests.Response) -> str:
    """Google's error status and reason, e.g. 'PERMISSION_DENIED/permissionDenied'."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    if not isinstance(error, dict):
        return f"HTTP {response.status_code}"
    parts = [str(error["status"])] if isinstance(error.get("status"), str) else []
    details = error.get("errors")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        reason = details[0].get("reason")
        if isinstance(reason, str):
            parts.append(reason)
    return "/".join(parts) or f"HTTP {response.status_code}"


def _failure(
    status: int,
    response: requests.Response,
    method: str,
    path: str,
    purchase_token: str | None,
    catalog: bool,
) -> Exception:
    detail = _google_error(response)
    where = f"{method} {_where(path)}"
    if status == 401:
        return PlayNotConfigured(
            "google.service_account_file",
            f"Google Play refused the service account's access token for {where} ({detail});"
            " check that the key in google.service_account_file belongs to a service account"
            " invited to the Play Console developer account",
        )
    if status == 403:
        return PlayNotConfigured(
            "google.service_account_file",
            f"Google Play denied {where} ({detail}): in Play Console > Users and permissions,"
            " give the service account access to the app with 'View financial data' and"
            " 'Manage orders and subscriptions', and enable the Google Play Android Developer"
            " API in its Google Cloud project",
        )
    if catalog and status == 404:
        return ProductUnknown(f"Google Play has no such product ({where}: {detail})")
    if status in (404, 410) and purchase_token is not None:
        return PurchaseGone(
            f"Google Play no longer knows purchase {redact(purchase_token)}"
            f" (HTTP {status}, {detail}); tokens stop working 60 days after expiry"
        )
    if status == 400 and purchase_token is not None:
        return InvalidPurchaseToken(
            f"Google Play refused purchase {redact(purchase_token)} ({detail})"
        )
    return PlayUnavailable(f"Google Play answered {where} with HTTP {status} ({detail})")
