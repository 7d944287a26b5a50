"""Entitlements of an app user, and erasing an app account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from iap_engine.api import views
from iap_engine.api.auth import Caller, require
from iap_engine.api.context import Engine, engine
from iap_engine.api.errors import ApiError
from iap_engine.service.accounts import delete_account
from iap_engine.service.entitlements import entitlements_for_user

router = APIRouter(tags=["users"])


def parse_instant(value: str | None) -> datetime | None:
    """ISO 8601; without an offset the instant is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise ApiError(
            422, "invalid_request", f"at: expected an ISO 8601 instant, got {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.get("/v1/users/{app_user_id}/entitlements", summary="Entitlements now or at an instant")
def user_entitlements(
    app_user_id: str,
    ctx: Annotated[Engine, Depends(engine)],
    _caller: Annotated[Caller, Depends(require("service", "support"))],
    at: Annotated[str | None, Query(description="ISO 8601 instant (default: now)")] = None,
) -> dict[str, Any]:
    result = entitlements_for_user(
        ctx.uow_factory, ctx.clock, ctx.catalog, app_user_id, parse_instant(at)
    )
    return views.entitlements(result)


@router.delete(
    "/v1/users/{app_user_id}",
    summary="Erase an app account; its store subscriptions stay tracked",
)
async def erase_user(
    app_user_id: str,
    ctx: Annotated[Engine, Depends(engine)],
    caller: Annotated[Caller, Depends(require("admin"))],
) -> dict[str, Any]:
    google_package = ctx.settings.google.package_name if ctx.settings.google else None
    result = await run_in_threadpool(
        delete_account,
        ctx.uow_factory,
        ctx.clock,
        ctx.catalog,
        app_user_id,
        actor=f"api:{caller.name}",
        google_package=google_package,
    )
    return views.deletion(result)
