"""Configuration: one TOML file, every key overridable by `IAP_ENGINE__SECTION__KEY`.

DESIGN.md section 5 is the contract; `config.example.toml` documents every key. Unknown keys,
missing required keys and wrong types fail at start-up with one line per mistake that names
the key and the file (`ConfigError`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from iap_engine.domain import ProductType

CONFIG_ENV = "IAP_ENGINE_CONFIG"
ENV_PREFIX = "IAP_ENGINE__"


class ConfigError(Exception):
    """The configuration cannot be used; `lines` holds one message per mistake."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = tuple(lines)
        super().__init__("\n".join(self.lines))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///iap_engine.db"


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576


Role = Literal["service", "support", "admin"]


class ApiKeySettings(_Section):
    name: Annotated[str, Field(min_length=1)]
    role: Role
    sha256: str

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError("expected the 64-character hex SHA-256 of the key, not the key")
        return value.lower()


class AuthSettings(_Section):
    api_keys: list[ApiKeySettings] = []


class EngineSettings(_Section):
    restore_policy: Literal["transfer", "keep_original"] = "transfer"
    # Extension: Apple appAccountToken / Google obfuscatedExternalAccountId carry the app user
    # id, so a subscription first seen in a notification is linked to that user at once.
    link_account_hints: bool = True


class ProductSettings(_Section):
    entitlements: list[str] = []
    type: ProductType
    # Extension: a non-renewing subscription lasts this long (the stores do not say).
    duration_days: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _non_renewing_has_a_term(self) -> ProductSettings:
        if self.type is ProductType.NON_RENEWING and self.duration_days is None:
            raise ValueError("a non_renewing product needs duration_days")
        return self


AppleEnvironment = Literal["Production", "Sandbox", "Xcode", "LocalTesting"]


class AppleSettings(_Section):
    bundle_id: Annotated[str, Field(min_length=1)]
    app_apple_id: int | None = None
    environments: Annotated[list[AppleEnvironment], Field(min_length=1)]
    root_certificates: Annotated[list[Path], Field(min_length=1)]
    issuer_id: str = ""
    key_id: str = ""
    private_key_path: str = ""
    api_base_url: str = ""
    shared_secret: SecretStr = SecretStr("")
    verify_receipt_url: str = ""

    @model_validator(mode="after")
    def _production_rules(self) -> AppleSettings:
        if "Production" in self.environments:
            if self.app_apple_id is None:
                raise ValueError("app_apple_id is required when Production is accepted")
            local = {"Xcode", "LocalTesting"} & set(self.environments)
            if local:
                raise ValueError(
                    f"{', '.join(sorted(local))} data may not be accepted together with Production"
                )
        return self


class GoogleSettings(_Section):
    package_name: Annotated[str, Field(min_length=1)]
    service_account_file: str = ""
    api_base_url: str = ""
    pubsub_audience: Annotated[str, Field(min_length=1)]
    pubsub_service_account: Annotated[str, Field(min_length=1)]
    oidc_certs_url: str = ""
    license_public_key: str = ""


class JobsSettings(_Section):
    reconcile_every_seconds: Annotated[int, Field(ge=1)] = 300
    # Extensions: how often the store histories and the inbox are read.
    history_every_seconds: Annotated[int, Field(ge=1)] = 300
    inbox_every_seconds: Annotated[int, Field(ge=1)] = 60
    # Every live subscription is fetched at least once per this many days, spread evenly.
    recheck_window_days: Annotated[float, Field(gt=0)] = 7
    # Subscriptions claimed per batch, and how long a claim lasts if its worker dies.
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 200
    lease_seconds: Annotated[int, Field(ge=10)] = 300
    # Store calls in flight per worker, and per-store request rates (keep them inside the
    # stores' quotas: Google Play's default is 200,000 queries a day).
    store_concurrency: Annotated[int, Field(ge=1, le=256)] = 16
    apple_requests_per_second: Annotated[float, Field(gt=0)] = 50
    google_requests_per_second: Annotated[float, Field(gt=0)] = 20


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    auth: AuthSettings = AuthSettings()
    engine: EngineSettings = EngineSettings()
    products: dict[str, ProductSettings] = {}
    apple: AppleSettings | None = None
    google: GoogleSettings | None = None
    jobs: JobsSettings = JobsSettings()

    # Where the file was read from (None: defaults and environment only). Not a config key.
    source: Path | None = Field(default=None, exclude=True)


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the configuration: `path`, else $IAP_ENGINE_CONFIG, else defaults alone.

    Relative paths inside the file (certificates, keys) are relative to the file.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    file = Path(path).expanduser().resolve() if path is not None else None
    where = str(file) if file is not None else "the environment"
    document: dict[str, Any] = {}
    if file is not None:
        try:
            document = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"config file {file} does not exist"]) from None
        except OSError as error:
            raise ConfigError([f"config file {file} cannot be read: {error.strerror}"]) from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError([f"{file}: not valid TOML: {error}"]) from None
        except UnicodeDecodeError:
            raise ConfigError([f"{file}: not UTF-8 text"]) from None

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # Environment first: it overrides the file.
            return (
                init_settings,
                _EnvSource(settings_cls, env),
                InitSettingsSource(settings_cls, document),
            )

    try:
        loaded = _Loaded()
    except ValidationError as error:
        raise ConfigError(_describe(error, where, env)) from None
    settings = Settings.model_validate({**loaded.model_dump(exclude={"source"}), "source": file})
    return _resolve_paths(settings, file.parent if file else Path.cwd())


class _EnvSource(EnvSettingsSource):
    """`IAP_ENGINE__SECTION__KEY` variables, read from a given mapping (tests pass their own)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def resolve(value: str | Path) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else base / candidate

    update: dict[str, Any] = {}
    if settings.apple is not None:
        apple_update: dict[str, Any] = {
            "root_certificates": [resolve(p) for p in settings.apple.root_certificates]
        }
        if settings.apple.private_key_path:
            apple_update["private_key_path"] = str(resolve(settings.apple.private_key_path))
        update["apple"] = settings.apple.model_copy(update=apple_update)
    if settings.google is not None and settings.google.service_account_file:
        update["google"] = settings.google.model_copy(
            update={"service_account_file": str(resolve(settings.google.service_account_file))}
        )
    return settings.model_copy(update=update) if update else settings


def _key(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif re.fullmatch(r"[A-Za-z0-9_-]+", item):
            parts.append(item)
        else:
            parts.append(f'"{item}"')
    return ".".join(parts)


_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "literal_error": "expected one of",
    "enum": "expected one of",
}


def _describe(error: ValidationError, where: str, env: Mapping[str, str]) -> list[str]:
    overridden = {name.upper() for name in env if name.upper().startswith(ENV_PREFIX)}
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if part not in ("function-after", "tagged-union"))
        key = _key(loc) or "(top level)"
        variable = ENV_PREFIX + "__".join(str(part).upper() for part in loc[:2])
        origin = f"{variable} (environment)" if variable in overridden else where
        kind = item["type"]
        if kind == "missing":
            message = "required key is missing"
        elif kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "value_error":
            message = str(item.get("ctx", {}).get("error", item["msg"]))
        elif kind in ("literal_error", "enum"):
            expected = item.get("ctx", {}).get("expected", "")
            message = f"expected one of {expected}, got {item.get('input')!r}"
        elif kind in _EXPECTED:
            message = f"{_EXPECTED[kind]}, got {item.get('input')!r}"
        else:
            message = item["msg"]
        lines.append(f"{origin}: {key}: {message}")
    return lines
