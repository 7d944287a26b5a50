"""The `iap-engine` command line (DESIGN.md section 7)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
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
        settings = load_settings(args.config)
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
    common.add_argument(
        "--config",
        metavar="PATH",
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


def _inspect(settings: Settings, args: argparse.Namespace) -> int:
    """Prints the decoded JSON and exits 0, or the reason code and exits 1."""
    from pathlib import Path

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
