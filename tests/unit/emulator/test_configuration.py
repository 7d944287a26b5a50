"""The engine-side settings the emulator hands out: plain data, TOML the engine loads."""

from __future__ import annotations

import tomllib

from iap_engine.settings import load_settings
from store_emulator.configuration import to_toml
from store_emulator.emulator import StoreEmulator


def test_toml_round_trips_nested_tables_and_quoted_keys():
    document = {
        "apple": {"bundle_id": "com.x", "environments": ["Sandbox"], "app_apple_id": 12},
        "products": {"com.x.monthly": {"entitlements": ["pro"], "type": "auto_renewable"}},
        "flags": {"on": True, "quote": 'say "hi"\n'},
    }

    assert tomllib.loads(to_toml(document)) == document


def test_the_engine_loads_the_settings_for_this_emulator(emulator: StoreEmulator, tmp_path):
    emulator.set_targets(google_url="http://127.0.0.1:8080/v1/notifications/google")

    config = tmp_path / "engine.toml"
    config.write_text(emulator.engine_config("http://127.0.0.1:8090/", tmp_path / "keys"))
    settings = load_settings(config, environ={})

    assert settings.apple is not None
    assert settings.apple.api_base_url == "http://127.0.0.1:8090"
    assert settings.apple.environments == ["Sandbox"]
    assert settings.apple.root_certificates[0].read_bytes() == emulator.apple.emulator.root_der
    assert settings.google is not None
    assert settings.google.pubsub_audience == "http://127.0.0.1:8080/v1/notifications/google"
    assert settings.google.oidc_certs_url == "http://127.0.0.1:8090/google/oauth2/v3/certs"
    assert "token_uri" in (tmp_path / "keys" / "service-account.json").read_text()
    assert settings.products["com.example.premium.monthly"].entitlements == ["premium"]
    assert settings.products["com.example.coins"].type.value == "consumable"


def test_a_store_left_out_is_left_out_of_the_settings(make, tmp_path):
    emulator = make(google=False)

    settings = emulator.engine_settings("http://emulator", tmp_path)

    assert set(settings) == {"apple", "products"}
    assert emulator.google is None
