"""Store server-to-server notifications: 200 once durably stored (DESIGN.md section 6)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from iap_engine.api.context import Engine, engine
from iap_engine.api.errors import ApiError, error_response
from iap_engine.domain import Store
from iap_engine.service.deliveries import Ingested, NotificationReader, Result, receive

router = APIRouter(tags=["notifications"])


@router.post(
    "/v1/notifications/apple",
    summary="App Store Server Notifications V2",
    description='Body `{"signedPayload": JWS}`; authenticated by its signature.',
)
async def apple_notification(
    request: Request, ctx: Annotated[Engine, Depends(engine)]
) -> JSONResponse:
    if ctx.apple is None:
        raise ApiError(404, "store_not_configured", "this engine does not serve the App Store")
    body = await request.body()
    return await _ingest(ctx, ctx.apple.notifications, body)


@router.post(
    "/v1/notifications/google",
    summary="Google Play real-time developer notifications (Pub/Sub push)",
    description="Pub/Sub push envelope; `Authorization: Bearer <Google OIDC token>`.",
)
async def google_notification(
    request: Request, ctx: Annotated[Engine, Depends(engine)]
) -> JSONResponse:
    google = ctx.google
    if google is None:
        raise ApiError(404, "store_not_configured", "this engine does not serve Google Play")
    # Authenticated before anything is stored: an unauthenticated push stores nothing.
    authorization = request.headers.get("authorization")
    await run_in_threadpool(google.authenticate_push, authorization)
    body = await request.body()
    return await _ingest(ctx, google.notifications, body)


async def _ingest(ctx: Engine, reader: NotificationReader, body: bytes) -> JSONResponse:
    started = time.perf_counter()
    result: Ingested = await run_in_threadpool(
        receive,
        ctx.uow_factory,
        ctx.clock,
        ctx.catalog,
        reader,
        body,
        link_account_hints=ctx.settings.engine.link_account_hints,
    )
    store: Store = reader.store
    ctx.metrics.deliveries.inc(store.value, result.result.value)
    ctx.metrics.delivery_seconds.observe(time.perf_counter() - started, store.value)
    if result.result is Result.REJECTED and result.rejection is not None:
        rejection = result.rejection
        status = 401 if rejection.authentication else 400
        return error_response(status, rejection.reason, rejection.message)
    payload: dict[str, Any] = {"result": result.result.value, "delivery": result.delivery.id}
    return JSONResponse(payload)
