"""Configuration: each kind of mistake gives one clear line naming the key and the file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from iap_engine.settings import (
    ApiKeySettings,
    AppleSettings,
    AuthSettings,
    ConfigError,
    DatabaseSettings,
    EngineSettings,
    GoogleSettings,
    JobsSettings,
    ProductSettings,
    ServerSettings,
    Settings,
    load_settings,
)

VALID = """
[database]
url = "sqlite:///engine.db"

[[auth.api_keys]]
name = "backend"
role = "service"
sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

[products."com.example.premium.monthly"]
entitlements = ["premium"]
type = "auto_renewable"

[apple]
bundle_id = "com.example.app"
app_apple_id = 1234567890
environments = ["Production", "Sandbox"]
root_certificates = ["certs/AppleRootCA-G3.cer"]

[google]
package_name = "com.example.app"
service_account_file = "service-account.json"
pubsub_audience = "https://iap.example.com/v1/notifications/google"
pubsub_service_account = "push@project.iam.gserviceaccount.com"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "iap.toml"
    path.write_text(text, encoding="utf-8")
    return path


def errors(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return list(caught.value.lines)


def test_a_valid_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, VALID), {})
    assert settings.source == tmp_path / "iap.toml"
    assert settings.apple is not None and settings.google is not None
    assert settings.apple.root_certificates == [tmp_path / "certs" / "AppleRootCA-G3.cer"]
    assert settings.google.service_account_file == str(tmp_path / "service-account.json")
    assert settings.products["com.example.premium.monthly"].entitlements == ["premium"]
    assert settings.server.max_body_bytes == 1_048_576


def test_defaults_alone_serve_no_store(tmp_path: Path) -> None:
    settings = load_settings(None, {})
    assert settings.apple is None and settings.google is None
    assert settings.database.url == "sqlite:///iap_engine.db"


def test_the_config_path_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert load_settings(None, {"IAP_ENGINE_CONFIG": str(path)}).source == path


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, VALID),
        {
            "IAP_ENGINE__DATABASE__URL": "postgresql+psycopg://db/iap",
            "IAP_ENGINE__SERVER__PORT": "9000",
            "IAP_ENGINE__APPLE__BUNDLE_ID": "com.example.other",
        },
    )
    assert settings.database.url == "postgresql+psycopg://db/iap"
    assert settings.server.port == 9000
    assert settings.apple is not None and settings.apple.bundle_id == "com.example.other"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("[database]", "[database]\nurll = 'x'"), "database.urll: unknown key"),
        (lambda t: t + "\n[surprise]\nx = 1\n", "surprise: unknown key"),
        (
            lambda t: t.replace('bundle_id = "com.example.app"\n', ""),
            "apple.bundle_id: required key is missing",
        ),
        (
            lambda t: t.replace(
                'pubsub_audience = "https://iap.example.com/v1/notifications/google"\n', ""
            ),
            "google.pubsub_audience: required key is missing",
        ),
        (
            lambda t: t.replace("app_apple_id = 1234567890", 'app_apple_id = "one"'),
            "apple.app_apple_id: expected an integer, got 'one'",
        ),
        (
            lambda t: t.replace('role = "service"', 'role = "root"'),
            "auth.api_keys[0].role: expected one of 'service', 'support' or 'admin', got 'root'",
        ),
        (
            lambda t: t.replace('type = "auto_renewable"', 'type = "monthly"'),
            'products."com.example.premium.monthly".type: expected one of',
        ),
        (
            lambda t: t.replace(
                "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "password"
            ),
            "auth.api_keys[0].sha256: expected the 64-character hex SHA-256 of the key",
        ),
        (
            lambda t: t.replace("app_apple_id = 1234567890\n", ""),
            "apple: app_apple_id is required when Production is accepted",
        ),
        (
            lambda t: t.replace('"Production", "Sandbox"', '"Production", "Xcode"'),
            "apple: Xcode data may not be accepted together with Production",
        ),
        (
            lambda t: t + '\n[products."com.example.pass"]\ntype = "non_renewing"\n',
            'products."com.example.pass": a non_renewing product needs duration_days',
        ),
    ],
)
def test_each_mistake_gives_one_line_naming_the_key_and_file(
    tmp_path: Path, edit, expected: str
) -> None:
    path = write(tmp_path, edit(VALID))
    lines = errors(path)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: ")
    assert expected in lines[0]


def test_a_wrong_environment_override_names_the_variable(tmp_path: Path) -> None:
    lines = errors(write(tmp_path, VALID), {"IAP_ENGINE__SERVER__PORT": "eighty"})
    assert lines == [
        "IAP_ENGINE__SERVER__PORT (environment): server.port: expected an integer, got 'eighty'"
    ]


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    lines = errors(write(tmp_path, "[database\nurl = 1\n"))
    assert len(lines) == 1
    assert lines[0].startswith(f"{tmp_path / 'iap.toml'}: not valid TOML")
    assert "line 1" in lines[0]


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    assert errors(tmp_path / "nope.toml") == [
        f"config file {tmp_path / 'nope.toml'} does not exist"
    ]


def test_several_mistakes_give_one_line_each(tmp_path: Path) -> None:
    broken = VALID.replace("[database]", "[database]\nbogus = 1").replace(
        'role = "service"', 'role = "boss"'
    )
    lines = errors(write(tmp_path, broken))
    assert len(lines) == 2
    assert any("database.bogus: unknown key" in line for line in lines)
    assert any("auth.api_keys[0].role" in line for line in lines)


def test_the_example_config_documents_a_valid_configuration() -> None:
    example = Path(__file__).resolve().parents[3] / "config.example.toml"
    settings = load_settings(example, {})
    assert settings.apple is not None and settings.google is not None
    # Every section and every key is written out, so a key added to the settings without
    # documenting it here fails this test.
    document = tomllib.loads(example.read_text(encoding="utf-8"))
    assert set(document) == set(Settings.model_fields) - {"source"}
    for name, section in (
        ("database", DatabaseSettings),
        ("server", ServerSettings),
        ("engine", EngineSettings),
        ("apple", AppleSettings),
        ("google", GoogleSettings),
        ("jobs", JobsSettings),
    ):
        assert set(document[name]) == set(section.model_fields), name
    assert set(document["auth"]) == set(AuthSettings.model_fields)
    assert set(document["auth"]["api_keys"][0]) == set(ApiKeySettings.model_fields)
    written = {key for product in document["products"].values() for key in product}
    assert written == set(ProductSettings.model_fields)
