"""Signed-notification verification: ours vs Apple's library vs the raw ECDSA bound.

One notification = its signedPayload plus the nested signedTransactionInfo and
signedRenewalInfo, all three verified. Rows:

- ours: `SignedDataVerifier.verify_notification` (chain cached, one ECDSA per JWS);
- Apple's app-store-server-library `SignedDataVerifier` (online checks off) on the same
  payloads: `verify_and_decode_notification` plus the transaction and the renewal info;
- the raw bound: three P-256 verifications per notification with `cryptography`, keys loaded
  and signatures converted beforehand, over the same signed bytes.

Payloads are emulator-signed (fresh signedDate, an Apple-shaped chain); a second set is the
14 real Sandbox notifications of ../shared/realdata (time frozen after them), when present.
Ours and the bound run in alternating rounds and the medians are compared, so a noisy
neighbour affects both alike.
"""

from __future__ import annotations

import base64
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from benchmarks.harness import Benchmark, Options, Row
from store_adapters.apple.verify import SignedDataVerifier
from store_emulator.apple.emulator import AppleEmulator
from store_emulator.apple.store import Product
from store_emulator.clock import VirtualClock

NAME = "apple-verify"
TARGET_BOUND = 0.70
TARGET_LIBRARY = 30.0
REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "apple"
ES256 = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class Corpus:
    label: str
    tokens: list[str]
    roots: list[bytes]
    bundle_id: str
    app_apple_id: int
    clock: VirtualClock


def _emulated(count: int) -> Corpus:
    clock = VirtualClock(datetime.now(UTC).replace(microsecond=0))
    emulator = AppleEmulator(clock=clock)
    emulator.store.add_product(
        Product(
            "premium.monthly", "auto_renewable", 9990, period=timedelta(days=30), group="premium"
        )
    )
    tokens = []
    for index in range(count):
        sent = emulator.store.subscribe(
            "premium.monthly",
            customer=f"bench-{index}",
            app_account_token=f"00000000-0000-4000-8000-{index:012d}",
        )
        tokens.append(sent.signed_payload)
    assert emulator.app_apple_id is not None
    return Corpus(
        "emulator-signed", tokens, [emulator.root_der], emulator.bundle_id, emulator.app_apple_id,
        clock,
    )  # fmt: skip


def _real() -> Corpus | None:
    folder = REALDATA / "real-signed" / "session-pro-backend"
    if not folder.is_dir():
        return None
    tokens = [
        path.read_text().splitlines()[1].strip()
        for path in sorted(folder.glob("*.signedPayload.jws"))
    ]
    return Corpus(
        "real Apple samples",
        tokens,
        [(REALDATA / "roots" / "AppleRootCA-G3.cer").read_bytes()],
        "com.loki-project.loki-messenger",
        1470168868,
        VirtualClock(datetime(2026, 1, 1, tzinfo=UTC)),
    )


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _raw_items(
    tokens: Sequence[str],
) -> list[tuple[ec.EllipticCurvePublicKey, bytes, bytes]]:
    """(key, DER signature, signed bytes) for every JWS of every notification."""
    items = []
    for token in tokens:
        data = json.loads(_b64url(token.split(".")[1]))["data"]
        for jws in (token, data["signedTransactionInfo"], data["signedRenewalInfo"]):
            header, payload, signature = jws.split(".")
            leaf = json.loads(_b64url(header))["x5c"][0]
            key = x509.load_der_x509_certificate(base64.b64decode(leaf)).public_key()
            assert isinstance(key, ec.EllipticCurvePublicKey)
            raw = _b64url(signature)
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            items.append((key, der, f"{header}.{payload}".encode("ascii")))
    return items


def _ours(corpus: Corpus) -> Callable[[], None]:
    verifier = SignedDataVerifier(
        root_certificates=corpus.roots,
        bundle_id=corpus.bundle_id,
        app_apple_id=corpus.app_apple_id,
        environments=("Sandbox",),
        clock=corpus.clock,
    )

    def run() -> None:
        for token in corpus.tokens:
            verifier.verify_notification(token)

    run()  # chain validated once, as in steady state
    return run


def _bound(corpus: Corpus) -> Callable[[], None]:
    items = _raw_items(corpus.tokens)

    def run() -> None:
        for key, der, message in items:
            key.verify(der, message, ES256)

    return run


def _apple(corpus: Corpus) -> Callable[[], None]:
    from appstoreserverlibrary.models.Environment import Environment
    from appstoreserverlibrary.signed_data_verifier import (
        SignedDataVerifier as AppleVerifier,
    )

    verifier = AppleVerifier(
        corpus.roots, False, Environment.SANDBOX, corpus.bundle_id, corpus.app_apple_id
    )

    def run() -> None:
        for token in corpus.tokens:
            data = verifier.verify_and_decode_notification(token).data
            assert data is not None
            assert data.signedTransactionInfo is not None
            assert data.signedRenewalInfo is not None
            verifier.verify_and_decode_signed_transaction(data.signedTransactionInfo)
            verifier.verify_and_decode_renewal_info(data.signedRenewalInfo)

    run()
    return run


def _rate(run: Callable[[], None], count: int, seconds: float) -> float:
    """Notifications per second over whole passes lasting at least `seconds`."""
    passes = 0
    started = time.perf_counter()
    while True:
        run()
        passes += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return passes * count / elapsed


def _compare(
    corpus: Corpus, rounds: int, seconds: float, *, library: bool = False
) -> tuple[float, float, float | None]:
    """Medians (ours, bound, Apple's library) over alternating rounds."""
    ours, bound = _ours(corpus), _bound(corpus)
    apple = _apple(corpus) if library else None
    rates: tuple[list[float], list[float], list[float]] = ([], [], [])
    count = len(corpus.tokens)
    for _ in range(rounds):
        rates[0].append(_rate(ours, count, seconds))
        rates[1].append(_rate(bound, count, seconds))
        if apple is not None:
            rates[2].append(_rate(apple, count, seconds))
    return (
        statistics.median(rates[0]),
        statistics.median(rates[1]),
        statistics.median(rates[2]) if rates[2] else None,
    )


def run(options: Options) -> list[Row]:
    rounds, seconds = (3, 0.3) if options.quick else (9, 1.0)
    emulated = _emulated(20 if options.quick else 50)
    ours, bound, library = _compare(emulated, rounds, seconds, library=True)
    assert library is not None
    rows = [
        Row(
            NAME,
            "ours, notification + 2 nested (emulator-signed)",
            ours,
            "notifications/s",
            f"{ours / bound:.2f}x raw bound (target >= {TARGET_BOUND:.2f}); "
            f"{ours / library:.0f}x Apple's library (target >= {TARGET_LIBRARY:.0f})",
        ),
        Row(NAME, "Apple app-store-server-library, online checks off", library, "notifications/s"),
        Row(NAME, "raw bound: 3 P-256 verifications (cryptography)", bound, "notifications/s"),
    ]
    real = _real()
    if real is not None:
        real_ours, real_bound, _ = _compare(real, rounds, seconds)
        rows += [
            Row(
                NAME,
                "ours, real Apple samples (time frozen)",
                real_ours,
                "notifications/s",
                f"{real_ours / real_bound:.2f}x raw bound on the same samples",
            ),
            Row(NAME, "raw bound, real Apple samples", real_bound, "notifications/s"),
        ]
    return rows


BENCHMARK = Benchmark(NAME, run)
