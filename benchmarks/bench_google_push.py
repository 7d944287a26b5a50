"""Google Play: RTDN push authentication (OIDC) and signed purchase data, per second.

Push tokens are minted by the emulator and checked the way the engine checks them: Google's
keys fetched once over HTTP from the emulator's JWKS endpoint, then cached. Each figure is
compared with the raw RSA-2048 verification bound on the same machine (one RS256 or
SHA1withRSA verification is the unavoidable cost of each check).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from benchmarks.harness import Benchmark, Options, Row
from store_adapters.google.oidc import JwksCache, PushAuthenticator
from store_adapters.google.push import PushReceiver
from store_adapters.google.signature import LicenseKey, verify_purchase
from store_emulator.clock import VirtualClock
from store_emulator.google.app import create_app
from store_emulator.google.keys import new_rsa_key
from store_emulator.google.play import CERTS_PATH, GooglePlay
from store_emulator.google.push import PushPublisher
from store_emulator.serving import serving

NAME = "google_push"
PACKAGE = "com.example.app"
AUDIENCE = "https://iap.example.com/v1/notifications/google"
ACCOUNT = "rtdn-push@example-project.iam.gserviceaccount.com"


def _rate(operation: Callable[[int], object], count: int, seconds: float) -> float:
    """Calls per second over at least `seconds` (whole passes over `count` inputs)."""
    done = 0
    started = time.perf_counter()
    while True:
        for index in range(count):
            operation(index)
        done += count
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def run(options: Options) -> list[Row]:
    seconds = 0.5 if options.quick else 3.0
    distinct = 50 if options.quick else 400
    clock = VirtualClock(datetime.now(UTC).replace(microsecond=0))
    play = GooglePlay(clock, PACKAGE)
    publisher = PushPublisher(play, AUDIENCE, ACCOUNT)
    rows: list[Row] = []

    with serving(create_app(play)) as server, requests.Session() as session:
        keys = JwksCache(session, clock, url=server.url + CERTS_PATH)
        authenticator = PushAuthenticator(keys, clock, AUDIENCE, ACCOUNT)
        receiver = PushReceiver(authenticator, PACKAGE)
        pushes = [
            publisher.request(publisher.subscription_notification(f"token-{i}", 2))
            for i in range(distinct)
        ]
        headers = [p.authorization for p in pushes]
        authenticator.authenticate(headers[0])  # fetch and cache the keys

        verify_rate = _rate(lambda i: authenticator.authenticate(headers[i]), distinct, seconds)
        receive_rate = _rate(
            lambda i: receiver.receive(pushes[i].authorization, pushes[i].body), distinct, seconds
        )

    bound = _raw_rsa_bound(seconds)
    rows.append(
        Row(
            NAME,
            "RTDN push verification (OIDC check)",
            verify_rate,
            "/s",
            f"{verify_rate / bound:.2f}x raw RSA-2048 verify bound ({bound:,.0f}/s)",
        )
    )
    rows.append(
        Row(
            NAME,
            "RTDN push received (OIDC + envelope + notification)",
            receive_rate,
            "/s",
            f"{receive_rate / bound:.2f}x raw bound",
        )
    )
    signed_rate = _signed_data_rate(distinct, seconds)
    rows.append(
        Row(
            NAME,
            "signed purchase data verification (SHA1withRSA)",
            signed_rate,
            "/s",
            f"{signed_rate / bound:.2f}x raw bound",
        )
    )
    return rows


def _raw_rsa_bound(seconds: float) -> float:
    key = new_rsa_key()
    message = b"x" * 700
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    public = key.public_key()
    return _rate(
        lambda _i: public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256()),
        100,
        seconds,
    )


def _signed_data_rate(distinct: int, seconds: float) -> float:
    private = new_rsa_key()
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    license_key = LicenseKey.from_base64(base64.b64encode(der).decode())
    samples = []
    for index in range(distinct):
        data = json.dumps(
            {
                "orderId": f"GPA.1234-5678-9012-{index:05d}",
                "packageName": PACKAGE,
                "productId": "lifetime",
                "purchaseTime": 1767225600000 + index,
                "purchaseState": 0,
                "purchaseToken": f"token-{index}",
                "acknowledged": False,
            }
        )
        raw = private.sign(data.encode(), padding.PKCS1v15(), hashes.SHA1())
        samples.append((data, base64.b64encode(raw).decode()))
    return _rate(
        lambda i: verify_purchase(license_key, samples[i][0], samples[i][1], PACKAGE),
        distinct,
        seconds,
    )


BENCHMARK = Benchmark(NAME, run)
