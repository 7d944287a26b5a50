"""`iap-engine inspect apple FILE|-`: why is this payload accepted or rejected?

Takes a bare compact JWS or a notification body (`{"signedPayload": "..."}`), verifies it
with the configured roots and rules exactly as the engine does, and prints either the
decoded JSON (nested JWS decoded too; exit 0) or the reason code with a one-line
explanation (exit 1).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from iap_engine.clock import SystemClock
from iap_engine.service.ports import Clock
from iap_engine.settings import Settings
from store_adapters.apple import jws
from store_adapters.apple.errors import EXPLANATIONS, VerificationError
from store_adapters.apple.notifications import signed_payload_of
from store_adapters.apple.verify import SignedDataVerifier

OK = 0
REJECTED = 1


def inspect_payload(
    settings: Settings, data: bytes, out: TextIO, *, clock: Clock | None = None
) -> int:
    if settings.apple is None:
        print("not configured: the configuration has no [apple] section", file=out)
        return REJECTED
    try:
        verifier = SignedDataVerifier.from_settings(settings.apple, clock or SystemClock())
    except (OSError, ValueError) as error:
        print(f"not configured: apple.root_certificates cannot be used ({error})", file=out)
        return REJECTED
    try:
        kind, decoded = _verify(verifier, data)
    except VerificationError as error:
        print(f"rejected: {error.reason}", file=out)
        print(f"  {EXPLANATIONS[error.reason_code]}", file=out)
        print(f"  detail: {error.message}", file=out)
        return REJECTED
    print(json.dumps({"kind": kind, "payload": decoded}, indent=2, sort_keys=False), file=out)
    return OK


def _verify(verifier: SignedDataVerifier, data: bytes) -> tuple[str, dict[str, Any]]:
    text = data.strip()
    token = signed_payload_of(text) if text.startswith(b"{") else _ascii(text)
    # Which verification applies is read from the (not yet trusted) payload; every path
    # then runs all the checks.
    _, unverified = jws.decode_unverified(token)
    if "notificationType" in unverified:
        return "notification", verifier.verify_notification(token).decoded()
    if "transactionId" in unverified:
        return "transaction", verifier.verify_transaction(token)
    if "receiptType" in unverified:
        return "app_transaction", verifier.verify_app_transaction(token)
    if "autoRenewStatus" in unverified or "originalTransactionId" in unverified:
        return "renewal_info", verifier.verify_renewal_info(token)
    raise jws.malformed("the payload is not a notification, transaction or renewal info")


def _ascii(data: bytes) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise jws.malformed("the input is not a compact JWS") from None
