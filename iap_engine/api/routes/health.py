"""Liveness with a database check, and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from iap_engine.api.context import Engine, engine
from iap_engine.api.errors import error_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and database check")
async def healthz(ctx: Annotated[Engine, Depends(engine)]) -> JSONResponse:
    try:
        await run_in_threadpool(ctx.database_check)
    except Exception as error:  # any failure means "not healthy", whatever raised it
        return error_response(
            503, "database_unavailable", f"database check failed: {type(error).__name__}"
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(ctx: Annotated[Engine, Depends(engine)]) -> PlainTextResponse:
    return PlainTextResponse(
        ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
