"""Building the adapter's parts from `[google]` settings (bootstrap calls these)."""

from __future__ import annotations

import requests

from iap_engine.service.ports import Clock
from iap_engine.settings import GoogleSettings
from store_adapters.google.adapter import GooglePlayAdapter
from store_adapters.google.catalog import PlanCatalog
from store_adapters.google.client import PlayClient
from store_adapters.google.credentials import KEY_SETTING, AccessTokens, ServiceAccount
from store_adapters.google.errors import PlayNotConfigured
from store_adapters.google.gateway import PlayGateway
from store_adapters.google.oidc import JwksCache, PushAuthenticator
from store_adapters.google.push import PushReceiver
from store_adapters.google.signature import LicenseKey


def push_receiver(
    settings: GoogleSettings, session: requests.Session, clock: Clock
) -> PushReceiver:
    keys = JwksCache(session, clock, url=settings.oidc_certs_url)
    authenticator = PushAuthenticator(
        keys,
        clock,
        audience=settings.pubsub_audience,
        service_account=settings.pubsub_service_account,
    )
    return PushReceiver(authenticator, settings.package_name)


def play_client(settings: GoogleSettings, session: requests.Session, clock: Clock) -> PlayClient:
    if not settings.service_account_file:
        raise PlayNotConfigured(
            KEY_SETTING,
            f"calling the Google Play Developer API needs {KEY_SETTING} (a service-account"
            " JSON key with access to the app in Play Console)",
        )
    account = ServiceAccount.from_file(settings.service_account_file)
    tokens = AccessTokens(account, session, clock)
    return PlayClient(
        session=session,
        tokens=tokens,
        package_name=settings.package_name,
        clock=clock,
        base_url=settings.api_base_url,
    )


def play_gateway(settings: GoogleSettings, session: requests.Session, clock: Clock) -> PlayGateway:
    client = play_client(settings, session, clock)
    return PlayGateway(client, PlanCatalog(client, clock), clock)


def license_key(settings: GoogleSettings) -> LicenseKey:
    return LicenseKey.from_base64(settings.license_public_key)


def google_adapter(
    settings: GoogleSettings, session: requests.Session, clock: Clock
) -> GooglePlayAdapter:
    """Everything the engine needs; the Developer API and the licence key are optional."""
    gateway = play_gateway(settings, session, clock) if settings.service_account_file else None
    key = license_key(settings) if settings.license_public_key else None
    return GooglePlayAdapter(
        push_receiver(settings, session, clock), gateway, key, settings.package_name
    )
