"""The command line: db upgrade, config check and status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iap_engine.cli import main
from iap_engine.domain import EventKind, Source, Status, Store
from iap_engine.persistence.database import create_database_engine
from iap_engine.persistence.schema import current_revision, head_revision
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from iap_engine.service.recording import record_input
from tests.support.builders import CATALOG, at, event, period, state
from tests.support.fakes import record


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


def test_config_given_before_a_nested_command_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'chosen.db'}"
    config = tmp_path / "iap.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    monkeypatch.delenv("IAP_ENGINE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # where the built-in default database would be made
    assert main(["db", "--config", str(config), "upgrade"]) == 0
    assert "chosen.db" in capsys.readouterr().out
    assert not (tmp_path / "iap_engine.db").exists()


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


def test_status_json_answers_entitlement_at_the_instant_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "iap.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n\n'
        '[products.monthly]\nentitlements = ["premium"]\ntype = "auto_renewable"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("IAP_ENGINE_CONFIG", raising=False)
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    bought = record(
        Store.APP_STORE,
        "1001",
        event(
            EventKind.PURCHASED,
            at(0),
            state(Status.ACTIVE, at(30)),
            periods=(period("1001-1", at(0), at(30)),),
        ),
    )
    engine = create_database_engine(url)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            record_input(uow, CATALOG, bought, now=at(0), source=Source.PURCHASE)
            uow.commit()
    finally:
        engine.dispose()
    capsys.readouterr()

    def entitled(instant: str) -> bool:
        command = ["status", "1001", "--at", instant, "--json", "--config", str(config)]
        assert main(command) == 0
        (subscription,) = json.loads(capsys.readouterr().out)["subscriptions"]
        return bool(subscription["entitled"])

    assert entitled("2026-01-15T00:00:00Z")
    assert not entitled("2026-02-15T00:00:00Z")
