"""Unique emulator-signed App Store notifications for the ingestion benchmarks.

A corpus is a sequence of webhook bodies (`{"signedPayload": JWS}`), each one distinct:
SUBSCRIBED notifications of new subscriptions (the insert path) mixed with DID_RENEW
notifications of subscriptions that exist by then (the update path). Store time runs from
100 days ago to now, weekly subscriptions renew when they are due, and every new
subscription carries an appAccountToken (the app's user id), as apps that use them send.

Signing is the slow part (three ES256 signatures per notification), so the corpus is made by
forked processes that share the emulator's signing chain. Each has its own store, whose ids
start in a range of their own, so ids and notification UUIDs never collide. Their sequences
are interleaved so that a renewal always comes well after its subscription's purchase.
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

from store_emulator.apple.emulator import AppleEmulator
from store_emulator.apple.store import AppleStore, Product
from store_emulator.clock import VirtualClock

PRODUCT = Product(
    "premium.weekly", "auto_renewable", 2990, period=timedelta(days=7), group="premium"
)
SPAN = timedelta(days=100)
_CONTEXT = multiprocessing.get_context("fork")
_PER_STORE = 500
# Store n of generator g numbers its ids from (g * _STORES_PER_GENERATOR + n + 1) * _ID_RANGE:
# ranges far apart, and within the 12 digits of a notification UUID's last group.
_ID_RANGE = 10**6
_STORES_PER_GENERATOR = 10**5


@dataclass(frozen=True)
class AppleCorpus:
    bodies: list[bytes]
    root_der: bytes
    bundle_id: str
    app_apple_id: int
    product_id: str
    new_subscriptions: int
    renewals: int


def make_corpus(count: int, *, renew_share: float = 0.5, processes: int = 2) -> AppleCorpus:
    """`count` notifications, about `renew_share` of them renewals once some are due."""
    started = datetime.now(UTC).replace(microsecond=0) - SPAN
    emulator = AppleEmulator(clock=VirtualClock(started))
    shares = [count // processes + (1 if n < count % processes else 0) for n in range(processes)]
    pipes: list[Connection] = []
    workers = []
    for index, share in enumerate(shares):
        receiving, sending = _CONTEXT.Pipe(duplex=False)
        worker = _CONTEXT.Process(
            target=_generate,
            args=(emulator, index, share, renew_share, started, sending),
            daemon=True,
        )
        worker.start()
        sending.close()
        pipes.append(receiving)
        workers.append(worker)
    sequences: list[list[bytes]] = []
    renewals = 0
    for pipe in pipes:
        bodies, renewed = pipe.recv()
        sequences.append(bodies)
        renewals += renewed
    for worker in workers:
        worker.join()
    interleaved = [
        body
        for position in range(max(shares))
        for sequence in sequences
        if position < len(sequence)
        for body in (sequence[position],)
    ]
    assert emulator.app_apple_id is not None
    return AppleCorpus(
        bodies=interleaved,
        root_der=emulator.root_der,
        bundle_id=emulator.bundle_id,
        app_apple_id=emulator.app_apple_id,
        product_id=PRODUCT.product_id,
        new_subscriptions=count - renewals,
        renewals=renewals,
    )


def _generate(
    emulator: AppleEmulator,
    index: int,
    count: int,
    renew_share: float,
    started: datetime,
    out: Connection,
) -> None:
    clock = VirtualClock(started)
    step = SPAN / max(count, 1)
    chooser = random.Random(index)
    stores: dict[str, AppleStore] = {}  # original transaction id -> the store that has it
    store = _store(emulator, clock, index, 0)
    due: list[tuple[datetime, str]] = []  # (expiry, original transaction id), soonest first
    bodies: list[bytes] = []
    renewed = 0
    for position in range(count):
        clock.advance(step)
        if due and due[0][0] <= clock.now() and chooser.random() < renew_share:
            _, original = heapq.heappop(due)
            sent = stores[original].renew(original)
            renewed += 1
        else:
            if len(store.subscriptions) >= _PER_STORE:
                store = _store(emulator, clock, index, len(stores) // _PER_STORE)
            user = f"{index:08x}-0000-4000-8000-{position:012x}"
            sent = store.subscribe(PRODUCT.product_id, customer=user, app_account_token=user)
            assert sent.transaction_id is not None
            original = sent.transaction_id  # an initial buy's transaction is the original
            stores[original] = store
        heapq.heappush(due, (stores[original].subscription(original).expires, original))
        bodies.append(json.dumps(sent.body, separators=(",", ":")).encode())
    out.send((bodies, renewed))
    out.close()
    os._exit(0)  # skip the parent's atexit handlers and finalizers, inherited by fork


def _store(emulator: AppleEmulator, clock: VirtualClock, generator: int, number: int) -> AppleStore:
    """A store signing with the emulator's chain. A new subscription makes the emulator scan
    the store's subscriptions, so each store holds a few hundred and ids are ranged."""
    store = AppleStore(
        clock=clock,
        signer=emulator.signer,
        bundle_id=emulator.bundle_id,
        app_apple_id=emulator.app_apple_id,
        environment="Sandbox",
    )
    store.add_product(PRODUCT)
    # The store numbers its ids and notification UUIDs from this counter.
    store._counter = (generator * _STORES_PER_GENERATOR + number + 1) * _ID_RANGE
    return store
