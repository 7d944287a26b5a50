"""The legacy verifyReceipt client against the emulator's /verifyReceipt over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from iap_engine.service.errors import NotConfigured, StoreRejected, StoreUnavailable
from iap_engine.settings import AppleSettings
from store_adapters.apple.errors import AppleApiRejected, AppleApiUnavailable
from store_adapters.apple.retry import RetryPolicy
from store_adapters.apple.verify_receipt import STATUSES, VerifyReceiptClient, describe
from store_emulator.apple import faults
from store_emulator.apple.emulator import AppleEmulator
from store_emulator.serving import BackgroundServer
from tests.integration.apple.conftest import Sleeps
from tests.support.realdata import realdata


@pytest.fixture
def receipt_client(
    emulator: AppleEmulator, server: BackgroundServer, session: requests.Session, sleeps: Sleeps
) -> VerifyReceiptClient:
    settings = AppleSettings(
        bundle_id=emulator.bundle_id,
        environments=["Sandbox"],
        root_certificates=[Path("root.der")],
        shared_secret=SecretStr(emulator.shared_secret),
        verify_receipt_url=f"{server.url}/verifyReceipt",
    )
    return VerifyReceiptClient.from_settings(
        settings, session=session, sleep=sleeps, retry=RetryPolicy(attempts=3, first_delay=1.0)
    )


def real_answer() -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(
        realdata("apple", "legacy-receipts", "revenuecat-verifyReceiptSample1.txt").read_text()
    )
    return answer


def test_a_sandbox_receipt_is_retried_at_the_sandbox_url(
    emulator: AppleEmulator, receipt_client: VerifyReceiptClient
) -> None:
    answer = real_answer()
    emulator.store.add_receipt("receipt-1", answer, "Sandbox")
    verified = receipt_client.verify("receipt-1")
    assert (verified.environment, verified.status) == ("Sandbox", 0)
    assert verified.body["receipt"] == answer["receipt"]
    assert emulator.requests.paths() == ["/verifyReceipt", "/sandbox/verifyReceipt"]


def test_a_production_receipt(emulator: AppleEmulator, receipt_client: VerifyReceiptClient) -> None:
    emulator.store.add_receipt("receipt-2", {"receipt": {"bundle_id": "x"}}, "Production")
    assert receipt_client.verify("receipt-2").environment == "Production"


def test_a_wrong_shared_secret_is_a_configuration_problem(
    emulator: AppleEmulator, server: BackgroundServer, session: requests.Session
) -> None:
    client = VerifyReceiptClient(
        session=session,
        shared_secret="wrong",
        production_url=f"{server.url}/verifyReceipt",
        sandbox_url=f"{server.url}/sandbox/verifyReceipt",
    )
    emulator.store.add_receipt("receipt-3", {}, "Production")
    with pytest.raises(AppleApiUnavailable) as failure:
        client.verify("receipt-3")
    assert failure.value.reason == "shared_secret_mismatch"
    assert "wrong" not in str(failure.value)


def test_an_unknown_receipt_is_rejected(receipt_client: VerifyReceiptClient) -> None:
    with pytest.raises(AppleApiRejected) as rejected:
        receipt_client.verify("never-issued")
    assert (rejected.value.reason, rejected.value.error_code) == ("receipt_not_authentic", 21003)


def test_temporary_statuses_are_retried(
    emulator: AppleEmulator, receipt_client: VerifyReceiptClient, sleeps: Sleeps
) -> None:
    emulator.store.add_receipt("receipt-4", {}, "Production")
    emulator.faults.plan(faults.Fault(200, {"status": 21005}), path="/verifyReceipt")
    emulator.faults.plan(faults.Fault(503), path="/verifyReceipt")
    assert receipt_client.verify("receipt-4").status == 0
    assert sleeps == [1.0, 2.0]


def test_a_persistent_21002_is_a_malformed_receipt(
    emulator: AppleEmulator, receipt_client: VerifyReceiptClient, sleeps: Sleeps
) -> None:
    emulator.faults.plan(faults.Fault(200, {"status": 21002}), times=5)
    with pytest.raises(AppleApiRejected) as rejected:
        receipt_client.verify("whatever")
    assert rejected.value.reason == "malformed_receipt"
    assert len(sleeps) == 2


def test_a_persistent_internal_error_is_unavailable(
    emulator: AppleEmulator, receipt_client: VerifyReceiptClient
) -> None:
    emulator.faults.plan(faults.Fault(200, {"status": 21150, "is-retryable": True}), times=5)
    with pytest.raises(AppleApiUnavailable) as failure:
        receipt_client.verify("whatever")
    assert failure.value.reason == "internal_data_access_error"


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (21000, "bad_request", StoreRejected),
        (21001, "obsolete_status", StoreRejected),
        (21003, "receipt_not_authentic", StoreRejected),
        (21004, "shared_secret_mismatch", StoreUnavailable),
        (21009, "internal_data_access_error", StoreUnavailable),
        (21010, "account_not_found", StoreRejected),
        (21199, "internal_data_access_error", StoreUnavailable),
        (29999, "status_29999", StoreRejected),
    ],
)
def test_every_documented_status_is_mapped(
    emulator: AppleEmulator,
    receipt_client: VerifyReceiptClient,
    status: int,
    reason: str,
    kind: type[Exception],
) -> None:
    emulator.faults.plan(faults.Fault(200, {"status": status}), times=5)
    with pytest.raises(kind) as failure:
        receipt_client.verify("receipt")
    assert failure.value.reason == reason  # type: ignore[attr-defined]


def test_the_status_table_covers_apples_documentation() -> None:
    assert set(STATUSES) == set(range(21000, 21011)) - {21006}
    assert describe(21100)[0] == describe(21199)[0] == "internal_data_access_error"


def test_without_a_shared_secret(session: requests.Session) -> None:
    settings = AppleSettings(
        bundle_id="com.example.app",
        environments=["Sandbox"],
        root_certificates=[Path("root.der")],
    )
    with pytest.raises(NotConfigured) as missing:
        VerifyReceiptClient.from_settings(settings, session=session)
    assert missing.value.key == "apple.shared_secret"
