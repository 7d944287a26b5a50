"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from iap_engine import __version__
from iap_engine.api import errors
from iap_engine.api.auth import KeyRing
from iap_engine.api.context import Engine
from iap_engine.api.counting import RequestCounter
from iap_engine.api.limits import BodyLimit
from iap_engine.api.routes import health, notifications, purchases, support, users
from iap_engine.api.turns import Turns


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
    # See `turns`: only where every write queues on one lock.
    on_sqlite = engine.settings.database.url.startswith("sqlite")
    app.state.apple_turns = Turns() if on_sqlite else None
    errors.install(app)
    app.router.routes.extend(notifications.routes)
    for module in (purchases, users, support, health):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=engine.settings.server.max_body_bytes)
    app.add_middleware(RequestCounter, counter=engine.metrics.requests)
    _document(app, notifications.OPENAPI_PATHS)
    return app


def _document(app: FastAPI, paths: dict[str, Any]) -> None:
    """Add the plain Starlette routes' descriptions to the generated OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        schema["paths"].update(paths)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
