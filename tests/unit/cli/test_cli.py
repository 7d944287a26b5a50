"""The command line: db upgrade and config check."""

from __future__ import annotations

from pathlib import Path

import pytest

from iap_engine.cli import main
from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.schema import current_revision, head_revision


def test_db_upgrade_creates_and_then_keeps_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("IAP_ENGINE__DATABASE__URL", url)
    assert main(["db", "upgrade"]) == 0
    assert "upgraded from empty to" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "is up to date" in capsys.readouterr().out
    engine = create_database_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_config_check_prints_the_configuration_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "iap.toml"
    config.write_text(
        """
[apple]
bundle_id = "com.example.app"
environments = ["Sandbox"]
root_certificates = ["root.cer"]
shared_secret = "s3cr3t-value"
""",
        encoding="utf-8",
    )
    monkeypatch.delenv("IAP_ENGINE_CONFIG", raising=False)
    assert main(["config", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"configuration loaded from {config}" in out
    assert "com.example.app" in out
    assert "s3cr3t-value" not in out
    assert "stores served: apple" in out


def test_a_bad_config_exits_2_with_one_line_per_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "iap.toml"
    config.write_text("[server]\nport = 'x'\nhots = 'a'\n", encoding="utf-8")
    assert main(["config", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"config error: {config}: server.port: expected an integer, got 'x'",
        f"config error: {config}: server.hots: unknown key",
    ]
