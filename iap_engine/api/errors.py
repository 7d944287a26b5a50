"""Every error answer has one shape: {"error": {"code": "<snake_case>", "message": "..."}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from iap_engine.service.errors import (
    ConcurrentUpdate,
    Conflict,
    DeliveryRejected,
    InvalidInput,
    NotConfigured,
    NotFound,
    ServiceError,
    StoreRejected,
    StoreUnavailable,
)

log = logging.getLogger("iap_engine.api")


class ApiError(Exception):
    """An error raised by the API layer itself (auth, limits, request shape)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _status_of(error: ServiceError) -> int:
    if isinstance(error, DeliveryRejected):
        return 401 if error.authentication else 400
    if isinstance(error, StoreRejected):
        return 401 if error.reason in AUTHENTICATION_REASONS else 422
    for kind, status in (
        (InvalidInput, 422),
        (NotFound, 404),
        (Conflict, 409),
        (NotConfigured, 501),
        (StoreUnavailable, 503),
        (ConcurrentUpdate, 503),
    ):
        if isinstance(error, kind):
            return status
    return 500


# Store rejections that mean "this is not signed by the store" rather than "not valid".
AUTHENTICATION_REASONS = frozenset(
    {
        "invalid_signature",
        "invalid_chain",
        "invalid_certificate",
        "unsupported_algorithm",
        "future_date",
    }
)


def _code_of(error: ServiceError) -> str:
    if isinstance(error, StoreRejected):
        return error.reason
    return error.code


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, error: ServiceError) -> JSONResponse:
        status = _status_of(error)
        if status >= 500 and not isinstance(error, StoreUnavailable | NotConfigured):
            log.error("service error %s: %s", error.code, error.message)
        headers = {"Retry-After": "5"} if status == 503 else None
        return error_response(status, _code_of(error), error.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors():
            location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            if item.get("type") == "json_invalid":
                return error_response(400, "malformed_json", "the request body is not valid JSON")
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{location or 'body'}: {message}")
        return error_response(422, "invalid_request", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(error.status_code, f"http_{error.status_code}")
        message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
        if error.status_code == 404 and message == "Not Found":
            message = "no such endpoint"
        return error_response(error.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "the engine failed; see its log")
