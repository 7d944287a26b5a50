"""Serving the emulator as a process: `main(argv)` (what `iap-engine emulator` runs).

    python -m store_emulator.server --port 8090 --state-dir ./emulator \\
        --apple-url http://127.0.0.1:8080/v1/notifications/apple \\
        --google-url http://127.0.0.1:8080/v1/notifications/google

It serves the one app (App Store Server API, Play Developer API with OAuth and JWKS,
`/control`) with uvicorn and writes `engine-emulator.toml` to the state directory: the
engine's `[apple]`, `[google]` and `[products]` sections for this emulator, with the key
files next to it, so an engine can be pointed at it at once. The virtual clock starts at
`--start` (default: now) and moves only through `/control/clock/advance`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from store_emulator import periods
from store_emulator.apple.lifecycle import GRACE_PERIODS
from store_emulator.clock import SystemClock
from store_emulator.emulator import AppleOptions, GoogleOptions, StoreEmulator

CONFIG_NAME = "engine-emulator.toml"
_GRACE_DAYS = [0, *(g.days for g in GRACE_PERIODS)]


@dataclass(frozen=True)
class Prepared:
    emulator: StoreEmulator
    base_url: str
    config_path: Path


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="iap-engine emulator",
        description="Serve a local App Store and Google Play on a virtual clock.",
    )
    parse.add_argument("--host", default="127.0.0.1")
    parse.add_argument("--port", type=int, default=8090)
    parse.add_argument(
        "--base-url",
        help="the URL the engine reaches the emulator at (default: http://HOST:PORT)",
    )
    parse.add_argument(
        "--start",
        help="store time to start at: an ISO 8601 instant, or a duration ago (P90D); default: now",
    )
    parse.add_argument(
        "--state-dir",
        type=Path,
        default=Path("emulator-state"),
        help=f"where {CONFIG_NAME} and the key files are written",
    )
    parse.add_argument("--apple-url", help="where App Store Server Notifications go")
    parse.add_argument("--google-url", help="where the RTDN Pub/Sub pushes go")
    parse.add_argument("--push-audience", help="the push OIDC token's audience (default: the URL)")
    parse.add_argument("--push-service-account", help="the push OIDC token's email")
    parse.add_argument("--bundle-id", default="com.example.app")
    parse.add_argument("--package-name", default="com.example.app")
    parse.add_argument("--apple-environment", choices=["Sandbox", "Production"], default="Sandbox")
    parse.add_argument(
        "--grace-period-days",
        type=int,
        choices=_GRACE_DAYS,
        default=16,
        help="Apple's Billing Grace Period (0: off)",
    )
    parse.add_argument("--no-apple", action="store_true", help="leave the App Store out")
    parse.add_argument("--no-google", action="store_true", help="leave Google Play out")
    return parse


def start_time(text: str | None, now: datetime) -> datetime:
    """`--start`: an aware ISO 8601 instant (Z allowed), or a duration before now."""
    if not text:
        return now
    if text.startswith("P"):
        ago = periods.parse(text)
        later = periods.add(now, ago)
        return now - (later - now)
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        raise ValueError("--start needs a time zone (e.g. 2026-01-01T00:00:00Z)")
    return instant.astimezone(UTC)


def prepare(args: argparse.Namespace) -> Prepared:
    """Build the emulator from parsed arguments and write the engine's config fragment."""
    wall = SystemClock()
    apple: AppleOptions | bool = False
    if not args.no_apple:
        apple = AppleOptions(
            bundle_id=args.bundle_id,
            environment=args.apple_environment,
            grace_period_days=args.grace_period_days or None,
        )
    google: GoogleOptions | bool = False if args.no_google else GoogleOptions(args.package_name)
    emulator = StoreEmulator(
        start=start_time(args.start, wall.now()), apple=apple, google=google, wall_clock=wall
    )
    emulator.set_targets(
        apple_url=args.apple_url,
        google_url=args.google_url,
        push_audience=args.push_audience,
        push_service_account=args.push_service_account,
    )
    # Pinned: the engine's config says this audience even if the push URL changes later.
    emulator.set_targets(push_audience=emulator.push_audience)
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    base_url = (args.base_url or f"http://{host}:{args.port}").rstrip("/")
    folder: Path = args.state_dir.resolve()
    config = emulator.engine_config(base_url, folder)
    path = folder / CONFIG_NAME
    header = f"# The engine's settings for the store emulator at {base_url}\n"
    path.write_text(header + config, encoding="utf-8")
    return Prepared(emulator, base_url, path)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        prepared = prepare(args)
    except ValueError as problem:
        print(f"iap-engine emulator: {problem}")
        return 2
    print(f"store emulator at {prepared.base_url} (control API: {prepared.base_url}/control)")
    print(f"engine settings written to {prepared.config_path}")
    uvicorn.run(prepared.emulator.app(), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
