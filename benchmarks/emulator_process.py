"""The store emulator for the reconciliation benchmark, served from a process of its own.

In the benchmark's own process it would share one interpreter (one GIL) with the database
checks and the benchmark's bookkeeping, and its single uvicorn thread would compete with
them for the CPU: the emulator, not the engine, would be measured. Its behaviour is the
same: the same app, the same faults (`--latency` on subscriptionsv2.get). Its purchases are
acknowledged, as after the engine verified them.

    python -m benchmarks.emulator_process --count N --latency 0.02 --dir DIR --port PORT

writes to DIR, once ready: `tokens.txt` (one purchase token a line), `engine.toml` (the
engine's [google] and [products] sections for this emulator) and `bought.txt` (the purchase
time, ISO 8601), then `ready`; it serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn

from store_emulator.configuration import to_toml
from store_emulator.emulator import StoreEmulator
from store_emulator.google.faults import Fault

PRODUCT = "com.example.premium.monthly"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator_process")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    emulator = StoreEmulator(start=datetime.now(UTC) - timedelta(days=60), apple=False)
    assert emulator.google is not None
    tokens = [emulator.google.purchase(PRODUCT, "monthly") for _ in range(args.count)]
    # The engine acknowledged each purchase when it verified it (it does so on verification
    # and on its first webhook): what reconciliation meets is one renewal call each.
    for token in tokens:
        emulator.google.play.store.acknowledge_subscription(token)
    if args.latency:
        emulator.google.play.faults.add(
            Fault(delay=args.latency, times=10 * args.count, path_contains="subscriptionsv2")
        )
    folder: Path = args.dir
    folder.mkdir(parents=True, exist_ok=True)
    url = f"http://{args.host}:{args.port}"
    (folder / "tokens.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (folder / "bought.txt").write_text(emulator.now().isoformat(), encoding="utf-8")
    (folder / "engine.toml").write_text(
        to_toml(emulator.engine_settings(url, folder / "keys")), encoding="utf-8"
    )
    config = uvicorn.Config(
        emulator.app(),
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        backlog=4096,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task  # raises what stopped it
                return
            await asyncio.sleep(0.01)
        (folder / "ready").write_text(url, encoding="utf-8")
        await task

    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
