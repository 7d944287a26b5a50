"""The ingestion baseline of DESIGN.md section 10: Apple's `app-store-server-library`
`SignedDataVerifier` (online checks off) behind a plain FastAPI endpoint that verifies a
notification and its two nested JWS, then inserts one row into SQLite.

Served by uvicorn in its own process (`--factory benchmarks.baseline_app:create_app`);
configured by environment variables, set by the benchmark.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

ROOT = "IAP_BENCH_BASELINE_ROOT"
DATABASE = "IAP_BENCH_BASELINE_DB"
BUNDLE_ID = "IAP_BENCH_BASELINE_BUNDLE_ID"
APP_APPLE_ID = "IAP_BENCH_BASELINE_APP_APPLE_ID"

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    notification_uuid TEXT PRIMARY KEY,
    notification_type TEXT NOT NULL,
    original_transaction_id TEXT,
    body TEXT NOT NULL
)
"""


class Notification(BaseModel):
    signedPayload: str


def create_app() -> FastAPI:
    from appstoreserverlibrary.models.Environment import Environment
    from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier

    verifier = SignedDataVerifier(
        [Path(os.environ[ROOT]).read_bytes()],
        False,
        Environment.SANDBOX,
        os.environ[BUNDLE_ID],
        int(os.environ[APP_APPLE_ID]),
    )
    database = os.environ[DATABASE]
    local = threading.local()

    def connection() -> sqlite3.Connection:
        found: sqlite3.Connection | None = getattr(local, "connection", None)
        if found is None:
            found = sqlite3.connect(database, timeout=30, isolation_level=None)
            found.execute("PRAGMA journal_mode=WAL")
            found.execute("PRAGMA synchronous=NORMAL")
            found.execute(SCHEMA)
            local.connection = found
        return found

    app = FastAPI()

    @app.get("/healthz")
    def health() -> dict[str, str]:
        connection()
        return {"status": "ok"}

    @app.post("/v1/notifications/apple")
    def notification(body: Notification) -> dict[str, str]:
        decoded = verifier.verify_and_decode_notification(body.signedPayload)
        data = decoded.data
        original = None
        if data is not None and data.signedTransactionInfo is not None:
            transaction = verifier.verify_and_decode_signed_transaction(data.signedTransactionInfo)
            original = transaction.originalTransactionId
        if data is not None and data.signedRenewalInfo is not None:
            verifier.verify_and_decode_renewal_info(data.signedRenewalInfo)
        connection().execute(
            "INSERT OR IGNORE INTO notifications VALUES (?, ?, ?, ?)",
            (
                decoded.notificationUUID,
                str(decoded.rawNotificationType),
                original,
                body.signedPayload,
            ),
        )
        return {"result": "processed"}

    return app
