"""The serving entry point's preparation: arguments, start time, the engine's config file."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest

from store_emulator.server import CONFIG_NAME, main, parser, prepare, start_time

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def test_start_is_an_instant_or_a_duration_ago():
    assert start_time(None, NOW) == NOW
    assert start_time("2026-01-01T00:00:00Z", NOW) == datetime(2026, 1, 1, tzinfo=UTC)
    assert start_time("P30D", NOW) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        start_time("2026-01-01T00:00:00", NOW)


def test_prepare_builds_the_emulator_and_writes_the_engine_settings(tmp_path):
    args = parser().parse_args(
        [
            "--port",
            "9099",
            "--state-dir",
            str(tmp_path),
            "--start",
            "2026-01-01T00:00:00Z",
            "--apple-url",
            "http://127.0.0.1:8080/v1/notifications/apple",
            "--google-url",
            "http://127.0.0.1:8080/v1/notifications/google",
            "--apple-environment",
            "Production",
            "--grace-period-days",
            "0",
        ]
    )

    prepared = prepare(args)

    assert prepared.base_url == "http://127.0.0.1:9099"
    assert prepared.config_path == tmp_path / CONFIG_NAME
    assert prepared.emulator.now() == datetime(2026, 1, 1, tzinfo=UTC)
    assert prepared.emulator.apple is not None
    assert prepared.emulator.apple.grace_period is None
    config = tomllib.loads(prepared.config_path.read_text())
    assert config["apple"]["environments"] == ["Production"]
    assert config["google"]["pubsub_audience"] == "http://127.0.0.1:8080/v1/notifications/google"
    assert config["google"]["api_base_url"] == "http://127.0.0.1:9099"
    assert prepared.emulator.targets.apple_url == "http://127.0.0.1:8080/v1/notifications/apple"


def test_a_store_can_be_left_out(tmp_path):
    prepared = prepare(parser().parse_args(["--state-dir", str(tmp_path), "--no-apple"]))

    assert prepared.emulator.apple is None
    assert "apple" not in tomllib.loads(prepared.config_path.read_text())


def test_a_bad_start_is_an_error_exit(tmp_path, capsys):
    assert main(["--state-dir", str(tmp_path), "--start", "2026-01-01T00:00:00"]) == 2
    assert "time zone" in capsys.readouterr().out
