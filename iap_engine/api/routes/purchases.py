"""Backends hand over purchases the app just made (DESIGN.md section 6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from iap_engine.api import views
from iap_engine.api.auth import Caller, require
from iap_engine.api.context import Engine, engine
from iap_engine.api.errors import ApiError
from iap_engine.service.lookup import subscription_detail
from iap_engine.service.purchases import Verified, register_purchase

router = APIRouter(tags=["purchases"])

UserId = Annotated[str, Field(min_length=1, max_length=255)]


class ApplePurchase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_user_id: UserId
    signed_transaction: Annotated[str, Field(min_length=1, max_length=65536)] | None = None
    transaction_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    receipt: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ApplePurchase:
        given = [
            name
            for name in ("signed_transaction", "transaction_id", "receipt")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "send exactly one of signed_transaction, transaction_id, receipt"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class GooglePurchase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_user_id: UserId
    product_id: Annotated[str, Field(min_length=1, max_length=255)]
    purchase_token: Annotated[str, Field(min_length=1, max_length=4096)]
    signed_data: str | None = None
    signature: str | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> GooglePurchase:
        if (self.signed_data is None) != (self.signature is None):
            raise ValueError("signed_data and signature go together")
        return self


@router.post("/v1/purchases/apple", summary="Verify an App Store purchase and link it")
async def apple_purchase(
    request: ApplePurchase,
    ctx: Annotated[Engine, Depends(engine)],
    _caller: Annotated[Caller, Depends(require("service"))],
) -> dict[str, Any]:
    apple = ctx.apple
    if apple is None:
        raise ApiError(404, "store_not_configured", "this engine does not serve the App Store")
    if request.signed_transaction is not None:
        verified = await run_in_threadpool(
            apple.from_signed_transaction, request.signed_transaction
        )
    elif request.transaction_id is not None:
        verified = await run_in_threadpool(apple.from_transaction_id, request.transaction_id)
    else:
        assert request.receipt is not None
        verified = await run_in_threadpool(apple.from_receipt, request.receipt)
    return await _register(ctx, verified, request.app_user_id)


@router.post("/v1/purchases/google", summary="Verify a Google Play purchase and link it")
async def google_purchase(
    request: GooglePurchase,
    ctx: Annotated[Engine, Depends(engine)],
    _caller: Annotated[Caller, Depends(require("service"))],
) -> dict[str, Any]:
    google = ctx.google
    if google is None:
        raise ApiError(404, "store_not_configured", "this engine does not serve Google Play")
    verified = await run_in_threadpool(
        google.from_purchase,
        request.product_id,
        request.purchase_token,
        request.signed_data,
        request.signature,
    )
    return await _register(ctx, verified, request.app_user_id)


async def _register(ctx: Engine, verified: Verified, app_user_id: str) -> dict[str, Any]:
    subscription = await run_in_threadpool(
        register_purchase,
        ctx.uow_factory,
        ctx.clock,
        ctx.catalog,
        verified,
        app_user_id,
        policy=ctx.policy,
    )
    view = await run_in_threadpool(
        subscription_detail, ctx.uow_factory, ctx.clock, ctx.catalog, subscription.id
    )
    return views.subscription_object(view)
