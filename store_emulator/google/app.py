"""The Google half of the emulator over HTTP: OAuth token endpoint, JWKS, Developer API.

Paths are Google's (the Developer API under /androidpublisher/v3/...); the OAuth token
endpoint and the push signing keys live under /google/ because their real hosts differ
(oauth2.googleapis.com, www.googleapis.com) and both are configurable (the key file's
token_uri, `google.oidc_certs_url`).

    play = GooglePlay(VirtualClock())
    app = create_app(play)           # or: parent.include_router(router(play))
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from store_emulator.google.play import CERTS_PATH, TOKEN_PATH, GooglePlay

API = "/androidpublisher/v3/applications/{package_name}"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    410: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def create_app(play: GooglePlay) -> FastAPI:
    app = FastAPI(title="Google Play emulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router(play))
    return app


def error(status: int, message: str, reason: str = "") -> JSONResponse:
    body: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if reason:
        body["errors"] = [{"message": message, "domain": "androidpublisher", "reason": reason}]
    return JSONResponse({"error": body}, status_code=status)


def router(play: GooglePlay) -> APIRouter:
    routes = APIRouter()
    store = play.store

    # -- OAuth and keys -------------------------------------------------------------------

    @routes.post(TOKEN_PATH)
    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != GRANT_TYPE:
            return _oauth_error("unsupported_grant_type", "expected the JWT bearer grant")
        problem = _check_assertion(play, form.get("assertion", ""), str(request.url))
        if problem:
            return _oauth_error("invalid_grant", problem)
        access_token, lifetime = play.issue_access_token()
        return JSONResponse(
            {"access_token": access_token, "expires_in": lifetime, "token_type": "Bearer"}
        )

    @routes.get(CERTS_PATH)
    async def certs() -> JSONResponse:
        return JSONResponse(play.signer.jwks(), headers={"Cache-Control": "public, max-age=3600"})

    # -- Developer API --------------------------------------------------------------------

    async def guard(request: Request, package_name: str) -> Response | None:
        path = request.url.path
        play.record_call(request.method, path)
        fault = play.faults.take(path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)  # real time: the client must time out
            if fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                response = error(fault.status, "injected failure", "backendError")
                if headers:
                    response.headers.update(headers)
                return response
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not play.access_token_valid(bearer):
            return error(
                401,
                "Request had invalid authentication credentials.",
                "authError",
            )
        if package_name != store.package_name:
            return error(
                404, "No application was found for the given package name.", "applicationNotFound"
            )
        return None

    @routes.get(API + "/purchases/subscriptionsv2/tokens/{token}")
    async def get_subscription(request: Request, package_name: str, token: str) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        if store.is_gone(token):
            return error(
                410,
                "The subscription purchase is no longer available for query because it has"
                " been expired for too long.",
                "subscriptionPurchaseNoLongerAvailable",
            )
        resource = store.subscription_resource(token)
        if resource is None:
            return error(400, "Invalid Value", "invalid")
        return JSONResponse(resource)

    @routes.post(API + "/purchases/subscriptionsv2/tokens/{token}:cancel")
    async def cancel_subscription(request: Request, package_name: str, token: str) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        if token not in store.subscriptions:
            return error(400, "Invalid Value", "invalid")
        body = await _json(request)
        kind = (body.get("cancellationContext") or {}).get("cancellationType")
        if kind not in ("USER_REQUESTED_STOP_RENEWALS", "DEVELOPER_REQUESTED_STOP_PAYMENTS"):
            return error(400, "cancellationContext.cancellationType is required", "invalid")
        store.cancel(token, by="user" if kind == "USER_REQUESTED_STOP_RENEWALS" else "developer")
        play.developer_changed("cancel", token)
        return JSONResponse({})

    @routes.post(API + "/purchases/subscriptionsv2/tokens/{token}:revoke")
    async def revoke_subscription(request: Request, package_name: str, token: str) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        if token not in store.subscriptions:
            return error(400, "Invalid Value", "invalid")
        body = await _json(request)
        context = body.get("revocationContext")
        if not isinstance(context, dict) or not context:
            return error(400, "revocationContext is required", "invalid")
        store.revoke(token)
        play.developer_changed("revoke", token)
        return JSONResponse({})

    @routes.post(API + "/purchases/subscriptions/{product_id}/tokens/{token}:acknowledge")
    async def acknowledge_subscription(
        request: Request, package_name: str, product_id: str, token: str
    ) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        purchase = store.subscriptions.get(token)
        if purchase is None or purchase.product_id != product_id:
            return error(400, "Invalid Value", "invalid")
        store.acknowledge_subscription(token)
        return Response(status_code=204)

    @routes.get(API + "/purchases/products/{product_id}/tokens/{token}")
    async def get_product(
        request: Request, package_name: str, product_id: str, token: str
    ) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        if store.is_gone(token):
            return error(
                410, "The purchase token is no longer valid.", "purchaseTokenNoLongerValid"
            )
        resource = store.product_resource(product_id, token)
        if resource is None:
            return error(400, "Invalid Value", "invalid")
        return JSONResponse(resource)

    @routes.post(API + "/purchases/products/{product_id}/tokens/{token}:acknowledge")
    async def acknowledge_product(
        request: Request, package_name: str, product_id: str, token: str
    ) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        purchase = store.products.get(token)
        if purchase is None or purchase.product_id != product_id:
            return error(400, "Invalid Value", "invalid")
        purchase.acknowledged = True
        return Response(status_code=204)

    @routes.get(API + "/purchases/voidedpurchases")
    async def voided(request: Request, package_name: str) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        query = request.query_params
        now = play.clock.now()
        try:
            max_results = int(query.get("maxResults", "1000"))
            offset = int(query["token"]) if query.get("token") else 0
            start_ms = int(query["startTime"]) if query.get("startTime") else None
        except ValueError:
            return error(400, "Invalid Value", "invalid")
        start = now - _THIRTY_DAYS if start_ms is None else _from_millis(start_ms, now)
        if now - start > _THIRTY_DAYS + _SLACK:
            return error(400, "startTime is too far in the past.", "invalid")
        items = store.voided_resources(start, now, query.get("type") == "1")
        page = items[offset : offset + max_results]
        body: dict[str, Any] = {"voidedPurchases": page}
        if offset + max_results < len(items):
            body["tokenPagination"] = {"nextPageToken": str(offset + max_results)}
        return JSONResponse(body)

    @routes.get(API + "/subscriptions/{product_id}")
    async def catalog_product(request: Request, package_name: str, product_id: str) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        resource = store.catalog_resource(product_id)
        return JSONResponse(resource) if resource else error(404, "Not found", "notFound")

    @routes.get(API + "/subscriptions/{product_id}/basePlans/{base_plan_id}/offers/{offer_id}")
    async def catalog_offer(
        request: Request, package_name: str, product_id: str, base_plan_id: str, offer_id: str
    ) -> Response:
        if (refused := await guard(request, package_name)) is not None:
            return refused
        resource = store.offer_resource(product_id, base_plan_id, offer_id)
        return JSONResponse(resource) if resource else error(404, "Not found", "notFound")

    return routes


_THIRTY_DAYS = timedelta(days=30)
_SLACK = timedelta(minutes=5)


def _from_millis(millis: int, now: datetime) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=now.tzinfo)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _oauth_error(code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=400)


def _check_assertion(play: GooglePlay, assertion: str, token_uri: str) -> str | None:
    """Why the service-account assertion is refused, or None when it is good."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return "the assertion is not a JWT"
    account = play.account(str(header.get("kid", "")))
    if account is None or header.get("alg") != "RS256":
        return "the assertion is signed with an unknown key"
    try:
        claims = jwt.decode(
            assertion,
            key=account.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.PyJWTError:
        return "the assertion's signature does not verify"
    now = play.wall_clock.now().timestamp()  # the engine signs assertions on real time
    if claims.get("iss") != account.client_email:
        return "iss is not the service account"
    if claims.get("aud") != token_uri:
        return "aud is not the token endpoint"
    if SCOPE not in str(claims.get("scope", "")).split():
        return "the androidpublisher scope is missing"
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        return "exp and iat are required"
    if exp - iat > 3600:
        return "the assertion lives longer than an hour"
    if now >= exp or iat > now + 300:
        return "the assertion is expired or from the future"
    return None
