"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from iap_engine import __version__
from iap_engine.api import errors
from iap_engine.api.auth import KeyRing
from iap_engine.api.context import Engine
from iap_engine.api.limits import BodyLimit
from iap_engine.api.routes import health, notifications, purchases, support, users


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(
        title="iap-engine",
        version=__version__,
        description="In-app purchases and subscriptions for the App Store and Google Play.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.keyring = KeyRing(engine.settings.auth.api_keys)
    errors.install(app)
    for module in (notifications, purchases, users, support, health):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=engine.settings.server.max_body_bytes)
    return app
