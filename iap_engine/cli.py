"""The `iap-engine` command line (DESIGN.md section 7)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from iap_engine import __version__
from iap_engine.settings import ConfigError, Settings, load_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_CONFIG
    try:
        settings = load_settings(getattr(args, "config", None))
    except ConfigError as error:
        for line in error.lines:
            print(f"config error: {line}", file=sys.stderr)
        return EXIT_CONFIG
    result: int = args.run(settings, args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iap-engine",
        description="Self-hosted engine for App Store and Google Play purchases.",
    )
    parser.add_argument("--version", action="version", version=f"iap-engine {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    # No default: a nested command's parser (`db upgrade`) would overwrite with it the value
    # given before its name (`db --config PATH upgrade`).
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="TOML configuration file (default: $IAP_ENGINE_CONFIG, else built-in defaults)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    db = commands.add_parser("db", help="database schema", parents=[common])
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="create or migrate the database schema", parents=[common]
    )
    upgrade.set_defaults(run=_db_upgrade)

    config = commands.add_parser("config", help="configuration", parents=[common])
    config_commands = config.add_subparsers(
        title="config commands", metavar="ACTION", required=True
    )
    check = config_commands.add_parser(
        "check", help="load the configuration and print it (secrets masked)", parents=[common]
    )
    check.set_defaults(run=_config_check)

    serve = commands.add_parser("serve", help="serve the HTTP API", parents=[common])
    serve.add_argument("--host", help="listen address (default: server.host)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (PostgreSQL, or SQLite with care)"
    )
    serve.set_defaults(run=_serve)

    status = commands.add_parser(
        "status",
        help="support look-up: subscriptions, entitlements and recent history",
        parents=[common],
    )
    status.add_argument(
        "query",
        metavar="QUERY",
        help="app user id, transaction or original transaction id, order id or purchase token"
        " (put -- before a token that starts with -)",
    )
    status.add_argument("--at", metavar="ISO", help="entitlements at this instant (default: now)")
    status.add_argument("--json", action="store_true", help="print the look-up answer as JSON")
    status.set_defaults(run=_status)

    replay = commands.add_parser(
        "replay",
        help="process stored deliveries that are not finished (crash, store outage)",
        parents=[common],
    )
    replay.add_argument(
        "--failed",
        action="store_true",
        help="also retry deliveries that were given up (dead) or rejected",
    )
    replay.set_defaults(run=_replay)

    worker = commands.add_parser(
        "worker", help="run the reconciliation jobs on their schedules", parents=[common]
    )
    worker.set_defaults(run=_worker)

    reconcile = commands.add_parser(
        "reconcile", help="reconcile with the stores now (for cron and tests)", parents=[common]
    )
    reconcile.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="run every reconciliation task once, to completion, then exit",
    )
    reconcile.set_defaults(run=_reconcile)

    sandbox = commands.add_parser(
        "sandbox",
        help="run the engine with a local App Store and Google Play and a customer journey",
        parents=[common],
    )
    sandbox.add_argument("--exit", action="store_true", help="end after the journey")
    sandbox.add_argument("--dir", type=Path, help="keep the files here (default: a temp dir)")
    sandbox.add_argument("--port", type=int, help="engine port (default: a free one)")
    sandbox.add_argument("--emulator-port", type=int, help="emulator port (default: a free one)")
    sandbox.set_defaults(run=_sandbox)

    emulator = commands.add_parser(
        "emulator",
        help="serve the store emulator (see `iap-engine emulator -- --help`)",
        parents=[common],
    )
    emulator.add_argument("options", nargs=argparse.REMAINDER, help="the emulator's options")
    emulator.set_defaults(run=_emulator)

    inspect = commands.add_parser(
        "inspect",
        help="verify and decode a signed store payload with the configured rules",
        parents=[common],
    )
    inspect.add_argument("store", choices=["apple", "google"])
    inspect.add_argument("file", metavar="FILE", help="the payload, or - for standard input")
    inspect.set_defaults(run=_inspect)
    return parser


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from iap_engine.bootstrap import upgrade_database

    result = upgrade_database(settings)
    if result.before == result.after:
        print(f"database {result.where} is up to date (revision {result.after})")
    else:
        print(f"database {result.where} upgraded from {result.before or 'empty'} to {result.after}")
    return EXIT_OK if result.after == result.head else EXIT_FAILED


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from iap_engine import logs

    logs.configure()
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    if args.workers > 1:
        # Each worker process builds its own app from the same configuration.
        if settings.source is not None:
            os.environ["IAP_ENGINE_CONFIG"] = str(settings.source)
        uvicorn.run(
            "iap_engine.bootstrap:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            log_config=None,
            access_log=False,
        )
        return EXIT_OK
    from iap_engine.bootstrap import build_app, wire

    wiring = wire(settings)
    try:
        uvicorn.run(build_app(wiring), host=host, port=port, log_config=None, access_log=False)
    finally:
        wiring.close()
    return EXIT_OK


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from iap_engine.api import views
    from iap_engine.api.errors import ApiError
    from iap_engine.api.routes.users import parse_instant
    from iap_engine.bootstrap import wire
    from iap_engine.report import render_status
    from iap_engine.service.lookup import look_up

    try:
        at = parse_instant(args.at)
    except ApiError as error:
        print(error.message, file=sys.stderr)
        return EXIT_CONFIG
    wiring = wire(settings)
    try:
        orders = wiring.apple.original_ids_for_order if wiring.apple is not None else None
        at = at or wiring.clock.now()
        result = look_up(
            wiring.uow_factory,
            wiring.clock,
            wiring.catalog,
            args.query,
            apple_orders=orders,
            at=at,
        )
        if args.json:
            print(json.dumps(views.look_up(result), indent=2))
        else:
            print(render_status(result, wiring.catalog, at))
    finally:
        wiring.close()
    return EXIT_OK if result.views else EXIT_FAILED


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from iap_engine.bootstrap import wire
    from iap_engine.service.replay import replay_deliveries

    wiring = wire(settings)
    try:
        summary = replay_deliveries(
            wiring.uow_factory,
            wiring.clock,
            wiring.catalog,
            wiring.readers(),
            include_given_up=args.failed,
            policy=wiring.policy,
        )
    finally:
        wiring.close()
    counts = ", ".join(f"{n} {result}" for result, n in sorted(summary.counts.items())) or "none"
    print(f"replayed {summary.total} deliveries: {counts}")
    for store in sorted(summary.unserved):
        section = "apple" if store == "app_store" else "google"
        print(f"  {store} deliveries skipped: the [{section}] section is not configured")
    return EXIT_OK if summary.complete else EXIT_FAILED


def _sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from iap_engine.sandbox import run_sandbox

    # The sandbox writes its own configuration; --config is not used.
    return run_sandbox(
        directory=args.dir,
        port=args.port,
        emulator_port=args.emulator_port,
        exit_after=args.exit,
        out=sys.stdout,
    )


def _emulator(settings: Settings, args: argparse.Namespace) -> int:
    from store_emulator.server import main as serve_emulator

    options = [o for o in args.options if o != "--"]
    return serve_emulator(options)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from iap_engine import logs
    from iap_engine.bootstrap import wire
    from jobs.worker import run_worker

    logs.configure()
    wiring = wire(settings, limited=True)
    try:
        jobs = settings.jobs
        run_worker(
            wiring.tasks(),
            reconcile_every=jobs.reconcile_every_seconds,
            history_every=jobs.history_every_seconds,
            inbox_every=jobs.inbox_every_seconds,
        )
    finally:
        wiring.close()
    return EXIT_OK


def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from iap_engine.bootstrap import wire

    wiring = wire(settings, limited=True)
    try:
        if not wiring.state_sources:
            print(
                "no store API credentials configured: only the inbox can be reconciled"
                " ([apple] issuer_id/key_id/private_key_path, [google] service_account_file)"
            )
        results = wiring.tasks().run_once()
    finally:
        wiring.close()
    for task, counts in results.items():
        shown = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()) if n) or "nothing"
        print(f"{task}: {shown}")
    failed = results["due"].get("failed", 0)
    return EXIT_FAILED if failed else EXIT_OK


def _inspect(settings: Settings, args: argparse.Namespace) -> int:
    """Prints the decoded JSON and exits 0, or the reason code and exits 1."""
    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(args.file).read_bytes()
        except OSError as error:
            print(f"cannot read {args.file}: {error.strerror}", file=sys.stderr)
            return EXIT_CONFIG
    from iap_engine.bootstrap import inspect_payload

    return inspect_payload(args.store, settings, data, sys.stdout)


def _config_check(settings: Settings, args: argparse.Namespace) -> int:
    source = settings.source or "built-in defaults and environment"
    print(f"configuration loaded from {source}")
    print(json.dumps(_masked(settings), indent=2, sort_keys=False, default=str))
    stores = [name for name in ("apple", "google") if getattr(settings, name) is not None]
    print(f"stores served: {', '.join(stores) if stores else 'none (no [apple] or [google])'}")
    return EXIT_OK


def _masked(settings: Settings) -> dict[str, Any]:
    def mask(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "********" if value.get_secret_value() else ""
        if isinstance(value, dict):
            return {key: mask(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mask(item) for item in value]
        return value

    dumped: dict[str, Any] = mask(settings.model_dump(exclude={"source"}, mode="python"))
    return dumped


if __name__ == "__main__":
    sys.exit(main())
