"""The emulated App Store Server API (and legacy verifyReceipt) as FastAPI routes.

Paths are Apple's. Production answers at the root, Sandbox under `/sandbox` (the client
maps an overridden base URL that way), each seeing only its environment's purchases, so a
sandbox transaction asked of Production gets Apple's 4040010 and exercises the fallback.
Every App Store Server API request must carry a bearer JWT signed (ES256) with the
configured key: kid, iss, aud "appstoreconnect-v1", bid, iat and exp (at most an hour
apart); otherwise the answer is Apple's empty 401. Token times are checked against the wall
clock (the engine signs them on real time), the data against the store's virtual clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from store_emulator.apple.faults import Faults
from store_emulator.apple.store import AppleEnvironment, AppleStore, Clock, Transaction, millis

AUDIENCE = "appstoreconnect-v1"
MAX_TOKEN_LIFETIME = 3600
CLOCK_LEEWAY = 60


@dataclass(frozen=True)
class ApiCredentials:
    """The App Store Connect API key the emulator accepts tokens from."""

    key_id: str
    issuer_id: str
    bundle_id: str
    public_key: ec.EllipticCurvePublicKey

    @staticmethod
    def generate(
        bundle_id: str, *, key_id: str = "EMULATORK1", issuer_id: str = "emulator-issuer"
    ) -> tuple[ApiCredentials, bytes]:
        """Fresh credentials and the matching .p8 (PKCS#8 PEM) private key."""
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return ApiCredentials(key_id, issuer_id, bundle_id, key.public_key()), pem


@dataclass
class RequestLog:
    """What the emulator was asked: (method, environment, path) in arrival order."""

    entries: list[tuple[str, str, str]] = field(default_factory=list)

    def paths(self, environment: str | None = None) -> list[str]:
        return [p for _, env, p in self.entries if environment is None or env == environment]


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "errorMessage": message}, status_code=status)


def _not_found() -> JSONResponse:
    return _error(404, 4040010, "Transaction id not found.")


def _page(token: str | None, prefix: str) -> int | None:
    """The offset a paging token stands for (None when the token is not ours)."""
    if not token:
        return 0
    if not token.startswith(prefix) or not token[len(prefix) :].isdigit():
        return None
    return int(token[len(prefix) :])


class _Api:
    def __init__(
        self,
        store: AppleStore,
        credentials: ApiCredentials,
        faults: Faults,
        log: RequestLog,
        page_size: int,
        shared_secret: str,
        wall_clock: Clock,
    ) -> None:
        self.store = store
        self.wall_clock = wall_clock
        self.credentials = credentials
        self.faults = faults
        self.log = log
        self.page_size = page_size
        self.shared_secret = shared_secret

    async def guard(
        self, request: Request, environment: AppleEnvironment, *, authenticate: bool = True
    ) -> Response | None:
        """Log, inject a planned fault, check the bearer token; a Response ends the call."""
        path = request.url.path
        self.log.entries.append((request.method, environment, path))
        fault = self.faults.take(environment, path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                if fault.body is None:
                    return Response(status_code=fault.status, headers=dict(fault.headers))
                return JSONResponse(
                    dict(fault.body), status_code=fault.status, headers=dict(fault.headers)
                )
        if authenticate and not self.authorized(request):
            return Response(status_code=401)
        return None

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        token = header[len("Bearer ") :]
        credentials = self.credentials
        try:
            unverified = jwt.get_unverified_header(token)
            if unverified.get("kid") != credentials.key_id or unverified.get("alg") != "ES256":
                return False
            claims = jwt.decode(
                token,
                credentials.public_key,
                algorithms=["ES256"],
                audience=AUDIENCE,
                issuer=credentials.issuer_id,
                # Time is checked below against the wall clock given to the emulator.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "iat", "exp", "aud", "bid"],
                },
            )
        except jwt.PyJWTError:
            return False
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int) or not isinstance(expires, int):
            return False
        now = self.wall_clock.now().timestamp()
        return (
            claims.get("bid") == credentials.bundle_id
            and issued <= now + CLOCK_LEEWAY
            and expires > now
            and expires - issued <= MAX_TOKEN_LIFETIME
        )

    def transaction(
        self, transaction_id: str, environment: AppleEnvironment
    ) -> Transaction | Response:
        if not transaction_id.isdigit():
            return _error(400, 4000006, "Invalid transaction id.")
        found = self.store.find(transaction_id, environment)
        return _not_found() if found is None else found

    def header(self, environment: AppleEnvironment) -> dict[str, Any]:
        answer: dict[str, Any] = {"environment": environment, "bundleId": self.store.bundle_id}
        if self.store.app_apple_id is not None:
            answer["appAppleId"] = self.store.app_apple_id
        return answer


def _router(api: _Api, environment: AppleEnvironment) -> APIRouter:
    router = APIRouter()
    store = api.store

    @router.get("/inApps/v1/subscriptions/{transaction_id}")
    async def statuses(request: Request, transaction_id: str) -> Response:
        if (stop := await api.guard(request, environment)) is not None:
            return stop
        found = api.transaction(transaction_id, environment)
        if isinstance(found, Response):
            return found
        wanted = {int(s) for s in request.query_params.getlist("status") if s.isdigit()}
        groups: dict[str, list[dict[str, Any]]] = {}
        with store.lock:
            for subscription in store.customer_subscriptions(found.customer, environment):
                if wanted and subscription.status not in wanted:
                    continue
                groups.setdefault(subscription.product.group or "", []).append(
                    {
                        "status": subscription.status,
                        "originalTransactionId": subscription.original_transaction_id,
                        "signedTransactionInfo": store.signed_transaction(subscription.latest),
                        "signedRenewalInfo": store.signed_renewal_info(subscription),
                    }
                )
        data = [
            {"subscriptionGroupIdentifier": group, "lastTransactions": items}
            for group, items in groups.items()
        ]
        return JSONResponse({**api.header(environment), "data": data})

    @router.get("/inApps/v1/transactions/{transaction_id}")
    async def transaction_info(request: Request, transaction_id: str) -> Response:
        if (stop := await api.guard(request, environment)) is not None:
            return stop
        found = api.transaction(transaction_id, environment)
        if isinstance(found, Response):
            return found
        return JSONResponse({"signedTransactionInfo": store.signed_transaction(found)})

    @router.get("/inApps/v2/history/{transaction_id}")
    async def history(request: Request, transaction_id: str) -> Response:
        if (stop := await api.guard(request, environment)) is not None:
            return stop
        found = api.transaction(transaction_id, environment)
        if isinstance(found, Response):
            return found
        offset = _page(request.query_params.get("revision"), "rev-")
        if offset is None:
            return _error(400, 4000005, "Invalid request revision.")
        transactions = store.customer_transactions(found.customer, environment)
        if request.query_params.get("sort") == "DESCENDING":
            transactions.reverse()
        page = transactions[offset : offset + api.page_size]
        end = offset + len(page)
        return JSONResponse(
            {
                **api.header(environment),
                "revision": f"rev-{end}",
                "hasMore": end < len(transactions),
                "signedTransactions": [store.signed_transaction(t) for t in page],
            }
        )

    @router.get("/inApps/v2/refund/lookup/{transaction_id}")
    async def refunds(request: Request, transaction_id: str) -> Response:
        if (stop := await api.guard(request, environment)) is not None:
            return stop
        found = api.transaction(transaction_id, environment)
        if isinstance(found, Response):
            return found
        offset = _page(request.query_params.get("revision"), "refund-")
        if offset is None:
            return _error(400, 4000005, "Invalid request revision.")
        refunded = [
            t
            for t in store.customer_transactions(found.customer, environment)
            if t.revocation_date is not None and not t.is_upgraded
        ]
        page = refunded[offset : offset + api.page_size]
        end = offset + len(page)
        return JSONResponse(
            {
                "revision": f"refund-{end}",
                "hasMore": end < len(refunded),
                "signedTransactions": [store.signed_transaction(t) for t in page],
            }
        )

    @router.post("/inApps/v1/notifications/history")
    async def notification_history(request: Request) -> Response:
        if (stop := await api.guard(request, environment)) is not None:
            return stop
        try:
            query = await request.json()
            start = int(query["startDate"])
            end = int(query["endDate"])
        except (ValueError, KeyError, TypeError):
            return _error(400, 4000015, "Invalid start date.")
        if end < start:
            return _error(400, 4000013, "Start date is after end date.")
        offset = _page(request.query_params.get("paginationToken"), "page-")
        if offset is None:
            return _error(400, 4000014, "Invalid pagination token.")
        with store.lock:
            matching = [
                n
                for n in store.notifications
                if n.environment == environment
                and start <= (millis(n.signed_date) or 0) < end
                and query.get("notificationType") in (None, n.notification_type)
                and query.get("notificationSubtype") in (None, n.subtype)
                and query.get("transactionId") in (None, n.transaction_id)
            ]
            attempts = {
                n.notification_uuid: list(store.send_attempts.get(n.notification_uuid, []))
                for n in matching
            }
        page = matching[offset : offset + api.page_size]
        after = offset + len(page)
        answer: dict[str, Any] = {
            "notificationHistory": [
                {
                    "signedPayload": n.signed_payload,
                    "sendAttempts": [
                        {"attemptDate": millis(at), "sendAttemptResult": result}
                        for at, result in attempts[n.notification_uuid]
                    ],
                }
                for n in page
            ],
            "hasMore": after < len(matching),
        }
        if after < len(matching):
            answer["paginationToken"] = f"page-{after}"
        return JSONResponse(answer)

    @router.get("/inApps/v1/lookup/{order_id}")
    async def order_lookup(request: Request, order_id: str) -> Response:
        if (stop := await api.guard(request, environment)) is not None:
            return stop
        with store.lock:
            found = [
                t
                for t in store.all_transactions()
                if t.order_id == order_id and t.environment == environment
            ]
            signed = [store.signed_transaction(t) for t in found]
        if not found:
            return JSONResponse({"status": 1})
        return JSONResponse({"status": 0, "signedTransactions": signed})

    @router.post("/inApps/v1/notifications/test")
    async def request_test(request: Request) -> Response:
        if (stop := await api.guard(request, environment)) is not None:
            return stop
        token, _ = store.request_test(environment)
        return JSONResponse({"testNotificationToken": token})

    @router.get("/inApps/v1/notifications/test/{token}")
    async def test_status(request: Request, token: str) -> Response:
        if (stop := await api.guard(request, environment)) is not None:
            return stop
        notification = store.test_notifications.get(token)
        if notification is None or notification.environment != environment:
            return _error(404, 4040008, "Test notification not found.")
        attempts = store.send_attempts.get(notification.notification_uuid, [])
        return JSONResponse(
            {
                "signedPayload": notification.signed_payload,
                "sendAttempts": [
                    {"attemptDate": millis(at), "sendAttemptResult": result}
                    for at, result in attempts
                ],
            }
        )

    @router.post("/verifyReceipt")
    async def verify_receipt(request: Request) -> Response:
        if (stop := await api.guard(request, environment, authenticate=False)) is not None:
            return stop
        try:
            body = await request.json()
            receipt_data = body["receipt-data"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"status": 21002})
        if not api.shared_secret or body.get("password") != api.shared_secret:
            return JSONResponse({"status": 21004})
        known = store.receipts.get(receipt_data)
        if known is None:
            return JSONResponse({"status": 21003})
        if known.environment != environment:
            return JSONResponse({"status": 21007 if environment == "Production" else 21008})
        return JSONResponse({**known.body, "status": 0, "environment": environment})

    return router


def include_routes(
    app: FastAPI,
    store: AppleStore,
    credentials: ApiCredentials,
    *,
    faults: Faults | None = None,
    log: RequestLog | None = None,
    page_size: int = 20,
    shared_secret: str = "",
    wall_clock: Clock | None = None,
) -> None:
    """Add Apple's paths to `app`: Production at /, Sandbox at /sandbox. They stay out of the
    OpenAPI document: they are Apple's, documented by Apple."""
    api = _Api(
        store,
        credentials,
        faults or Faults(),
        log or RequestLog(),
        page_size,
        shared_secret,
        wall_clock or store.clock,
    )
    app.include_router(_router(api, "Production"), include_in_schema=False)
    app.include_router(_router(api, "Sandbox"), prefix="/sandbox", include_in_schema=False)
