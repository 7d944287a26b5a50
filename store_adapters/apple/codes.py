"""App Store Server API error codes (the `errorCode` of an error body) and what they mean here.

Retryable codes are Apple's "...RetryableError"s plus rate limiting and internal errors;
every other code is a definite answer. Codes not listed keep a generic `http_<status>` reason.
"""

from __future__ import annotations

from collections.abc import Mapping

TRANSACTION_ID_NOT_FOUND = 4040010
RATE_LIMIT_EXCEEDED = 4290000

RETRYABLE: frozenset[int] = frozenset(
    {
        4040002,  # AccountNotFoundRetryableError
        4040004,  # AppNotFoundRetryableError
        4040006,  # OriginalTransactionIdNotFoundRetryableError
        4290000,  # RateLimitExceededError
        5000001,  # GeneralInternalRetryableError
    }
)

REASONS: Mapping[int, str] = {
    4000000: "general_bad_request",
    4000002: "invalid_app_identifier",
    4000005: "invalid_request_revision",
    4000006: "invalid_transaction_id",
    4000008: "invalid_original_transaction_id",
    4000014: "invalid_pagination_token",
    4000015: "invalid_start_date",
    4000016: "invalid_end_date",
    4000017: "pagination_token_expired",
    4000018: "invalid_notification_type",
    4000019: "multiple_filters_supplied",
    4000020: "invalid_test_notification_token",
    4000031: "invalid_status",
    4000185: "family_transaction_not_supported",
    4000187: "transaction_id_is_not_original_transaction_id",
    4040001: "account_not_found",
    4040002: "account_not_found",
    4040003: "app_not_found",
    4040004: "app_not_found",
    4040005: "original_transaction_id_not_found",
    4040006: "original_transaction_id_not_found",
    4040007: "server_notification_url_not_found",
    4040008: "test_notification_not_found",
    4040010: "transaction_id_not_found",
    4290000: "rate_limited",
    5000000: "general_internal",
    5000001: "general_internal",
}


def reason_for(status: int, error_code: int | None) -> str:
    if error_code is not None and error_code in REASONS:
        return REASONS[error_code]
    return f"http_{status}"
