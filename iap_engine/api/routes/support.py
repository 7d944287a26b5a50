"""Support staff: a subscription in full, and look-up by any id a customer quotes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from iap_engine.api import views
from iap_engine.api.auth import Caller, require
from iap_engine.api.context import Engine, engine
from iap_engine.service.lookup import look_up, subscription_detail

router = APIRouter(tags=["support"])


@router.get("/v1/subscriptions/{subscription_id}", summary="A subscription with its history")
def subscription(
    subscription_id: str,
    ctx: Annotated[Engine, Depends(engine)],
    _caller: Annotated[Caller, Depends(require("support"))],
) -> dict[str, Any]:
    view = subscription_detail(ctx.uow_factory, ctx.clock, ctx.catalog, subscription_id)
    return views.subscription_object(view)


@router.get("/v1/lookup", summary="Find subscriptions by user, transaction, order or token")
async def lookup(
    ctx: Annotated[Engine, Depends(engine)],
    _caller: Annotated[Caller, Depends(require("support"))],
    q: Annotated[str, Query(min_length=1, max_length=4096)],
) -> dict[str, Any]:
    orders = ctx.apple.original_ids_for_order if ctx.apple is not None else None
    result = await run_in_threadpool(
        look_up, ctx.uow_factory, ctx.clock, ctx.catalog, q, apple_orders=orders
    )
    return views.look_up(result)
