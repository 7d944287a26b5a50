"""The legacy verifyReceipt endpoint (deprecated by Apple, still answering), with the app's
shared secret.

Production first; status 21007 (a sandbox receipt) repeats the call at the sandbox URL and
21008 (a production receipt sent to the sandbox) at the production URL. Every documented
status is mapped: 0 and 21006 return the answer; temporary ones (21002, 21005, 21009,
21100-21199, or `is-retryable`) are retried then raised as `AppleApiUnavailable`; 21004 (our
shared secret is wrong) is a configuration problem, also `AppleApiUnavailable`; the rest
(21000, 21001, 21003, 21010, unknown) are definite `AppleApiRejected` answers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import requests

from iap_engine.service.errors import NotConfigured
from iap_engine.settings import AppleSettings
from store_adapters.apple.errors import AppleApiRejected, AppleApiUnavailable
from store_adapters.apple.retry import RetryPolicy

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://buy.itunes.apple.com/verifyReceipt"
SANDBOX_URL = "https://sandbox.itunes.apple.com/verifyReceipt"
DEFAULT_TIMEOUT = (5.0, 30.0)

VALID = 0
EXPIRED_IOS6 = 21006
SANDBOX_RECEIPT = 21007
PRODUCTION_RECEIPT = 21008

# status -> (reason, explanation); retryable statuses are listed in TEMPORARY.
STATUSES: Mapping[int, tuple[str, str]] = {
    21000: ("bad_request", "the request to the App Store was not an HTTP POST of JSON"),
    21001: ("obsolete_status", "a status the App Store no longer sends"),
    21002: ("malformed_receipt", "the receipt-data was malformed or missing"),
    21003: ("receipt_not_authentic", "the receipt could not be authenticated"),
    21004: ("shared_secret_mismatch", "the shared secret does not match the one on file"),
    21005: ("receipt_server_unavailable", "the receipt server was temporarily unavailable"),
    21007: ("sandbox_receipt", "a sandbox receipt was sent to production"),
    21008: ("production_receipt", "a production receipt was sent to the sandbox"),
    21009: ("internal_data_access_error", "internal data access error; try again later"),
    21010: ("account_not_found", "the user account cannot be found or has been deleted"),
}
TEMPORARY = frozenset({21002, 21005, 21009})


def describe(status: int) -> tuple[str, str]:
    if status in STATUSES:
        return STATUSES[status]
    if 21100 <= status <= 21199:
        return "internal_data_access_error", "internal data access error; try again later"
    return f"status_{status}", "an undocumented verifyReceipt status"


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    """A verifyReceipt answer with status 0 (or 21006): `body` is Apple's JSON."""

    environment: Literal["Production", "Sandbox"]
    status: int
    body: dict[str, Any]


class VerifyReceiptClient:
    def __init__(
        self,
        *,
        session: requests.Session,
        shared_secret: str,
        production_url: str = PRODUCTION_URL,
        sandbox_url: str = SANDBOX_URL,
        exclude_old_transactions: bool = False,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._session = session
        self._secret = shared_secret
        self._urls = {"Production": production_url, "Sandbox": sandbox_url}
        self._exclude_old = exclude_old_transactions
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: AppleSettings,
        *,
        session: requests.Session,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
    ) -> VerifyReceiptClient:
        secret = settings.shared_secret.get_secret_value()
        if not secret:
            raise NotConfigured("apple.shared_secret", "verifyReceipt")
        production, sandbox = PRODUCTION_URL, SANDBOX_URL
        if settings.verify_receipt_url:
            # An overridden URL (the emulator) serves the sandbox under /sandbox/.
            production = settings.verify_receipt_url
            head, _, tail = production.rstrip("/").rpartition("/")
            sandbox = f"{head}/sandbox/{tail}"
        return cls(
            session=session,
            shared_secret=secret,
            production_url=production,
            sandbox_url=sandbox,
            retry=retry,
            sleep=sleep,
        )

    def verify(self, receipt_data: str) -> VerifiedReceipt:
        environment: Literal["Production", "Sandbox"] = "Production"
        for _ in range(2):
            status, body = self._post(environment, receipt_data)
            if status in (VALID, EXPIRED_IOS6):
                return VerifiedReceipt(environment=environment, status=status, body=body)
            if status == SANDBOX_RECEIPT and environment == "Production":
                environment = "Sandbox"
                continue
            if status == PRODUCTION_RECEIPT and environment == "Sandbox":
                environment = "Production"
                continue
            raise self._failure(status, environment)
        raise self._failure(status, environment)

    def _failure(self, status: int, environment: str) -> Exception:
        reason, explanation = describe(status)
        message = f"verifyReceipt ({environment}) status {status}: {explanation}"
        if status == 21004:
            return AppleApiUnavailable(
                message + " (check apple.shared_secret)", reason=reason, error_code=status
            )
        if status != 21002 and (status in TEMPORARY or 21100 <= status <= 21199):
            return AppleApiUnavailable(message, reason=reason, error_code=status)
        # 21002 persisting through the retries is the receipt's fault, not a hiccup.
        return AppleApiRejected(reason, message, error_code=status)

    def _post(self, environment: str, receipt_data: str) -> tuple[int, dict[str, Any]]:
        """Apple's status and body; temporary statuses are retried and the last returned."""
        payload = {
            "receipt-data": receipt_data,
            "password": self._secret,
            "exclude-old-transactions": self._exclude_old,
        }
        answer: tuple[int, dict[str, Any]] | None = None
        failure: AppleApiUnavailable | None = None
        for attempt in range(1, self._retry.attempts + 1):
            try:
                response = self._session.post(
                    self._urls[environment],
                    data=json.dumps(payload),
                    headers={"Content-Type": "application/json"},
                    timeout=self._timeout,
                )
            except requests.RequestException as error:
                failure = AppleApiUnavailable(
                    f"verifyReceipt ({environment}): {type(error).__name__}", reason="unreachable"
                )
            else:
                status, body = self._answer(response, environment)
                if status is None:
                    failure = AppleApiUnavailable(
                        f"verifyReceipt ({environment}) answered HTTP {response.status_code}",
                        status=response.status_code,
                    )
                else:
                    answer, failure = (status, body), None
                    if not _temporary(status, body):
                        return answer
            if attempt < self._retry.attempts:
                delay = self._retry.delay(attempt)
                log.warning("verifyReceipt (%s) failed, retrying in %.1fs", environment, delay)
                self._sleep(delay)
        if failure is not None or answer is None:
            raise failure or AppleApiUnavailable(f"verifyReceipt ({environment}) failed")
        return answer

    @staticmethod
    def _answer(response: requests.Response, environment: str) -> tuple[int | None, dict[str, Any]]:
        if response.status_code >= 500:
            return None, {}
        try:
            body = response.json()
        except ValueError:
            body = None
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, int) or isinstance(status, bool):
            if response.status_code >= 400:
                return None, {}
            raise AppleApiUnavailable(
                f"verifyReceipt ({environment}) answered without a status", reason="bad_answer"
            )
        assert isinstance(body, dict)
        return status, body


def _temporary(status: int, body: Mapping[str, Any]) -> bool:
    return (
        status in TEMPORARY
        or 21100 <= status <= 21199
        or (status != VALID and body.get("is-retryable") is True)
    )
