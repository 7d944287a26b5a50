"""Store server-to-server notifications: 200 once durably stored (DESIGN.md section 6).

The busiest endpoints, so they are plain Starlette routes: the body is taken raw (the store
adapter parses and verifies it) and the answer is a small JSON document. FastAPI's request
handling would add about half the HTTP cost of a delivery and nothing these routes use.
They are still documented in /openapi.json (`OPENAPI_PATHS`, added by `create_app`).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from iap_engine.api.context import Engine
from iap_engine.api.errors import error_response
from iap_engine.api.turns import Turns
from iap_engine.domain import Store
from iap_engine.service.deliveries import Ingested, NotificationReader, Result, receive

APPLE = "/v1/notifications/apple"
GOOGLE = "/v1/notifications/google"


async def apple_notification(request: Request) -> Response:
    ctx: Engine = request.app.state.engine
    if ctx.apple is None:
        return _not_served("this engine does not serve the App Store")
    body = await request.body()
    turns: Turns | None = request.app.state.apple_turns
    return await _ingest(ctx, ctx.apple.notifications, body, turns)


async def google_notification(request: Request) -> Response:
    ctx: Engine = request.app.state.engine
    google = ctx.google
    if google is None:
        return _not_served("this engine does not serve Google Play")
    # Authenticated before anything is stored: an unauthenticated push stores nothing.
    authorization = request.headers.get("authorization")
    await run_in_threadpool(google.authenticate_push, authorization)
    body = await request.body()
    return await _ingest(ctx, google.notifications, body)


routes = [
    Route(APPLE, apple_notification, methods=["POST"]),
    Route(GOOGLE, google_notification, methods=["POST"]),
]


async def _ingest(
    ctx: Engine, reader: NotificationReader, body: bytes, turns: Turns | None = None
) -> Response:
    started = time.perf_counter()
    work = partial(
        receive, ctx.uow_factory, ctx.clock, ctx.catalog, reader, body, policy=ctx.policy
    )
    # Google deliveries wait on the Play Developer API: they run side by side (no `turns`).
    result: Ingested = await (turns.run(work) if turns else run_in_threadpool(work))
    store: Store = reader.store
    ctx.metrics.deliveries.inc(store.value, result.result.value)
    ctx.metrics.delivery_seconds.observe(time.perf_counter() - started, store.value)
    if result.result is Result.REJECTED and result.rejection is not None:
        rejection = result.rejection
        status = 401 if rejection.authentication else 400
        return error_response(status, rejection.reason, rejection.message)
    payload: dict[str, Any] = {"result": result.result.value, "delivery": result.delivery.id}
    return JSONResponse(payload)


def _not_served(message: str) -> Response:
    return error_response(404, "store_not_configured", message)


def _operation(operation_id: str, summary: str, description: str) -> dict[str, Any]:
    answer = {"application/json": {"schema": {"type": "object"}}}
    return {
        "post": {
            "tags": ["notifications"],
            "summary": summary,
            "description": description,
            "operationId": operation_id,
            "responses": {
                "200": {"description": "Durably stored (processed, or a duplicate)",
                        "content": answer},
                "400": {"description": "Malformed notification", "content": answer},
                "401": {"description": "Not signed by the store", "content": answer},
                "404": {"description": "The store is not configured", "content": answer},
                "413": {"description": "Body too large", "content": answer},
            },
        }
    }  # fmt: skip


OPENAPI_PATHS = {
    APPLE: _operation(
        "apple_notification",
        "App Store Server Notifications V2",
        'Body `{"signedPayload": JWS}`; authenticated by its signature.',
    ),
    GOOGLE: _operation(
        "google_notification",
        "Google Play real-time developer notifications (Pub/Sub push)",
        "Pub/Sub push envelope; `Authorization: Bearer <Google OIDC token>`.",
    ),
}
