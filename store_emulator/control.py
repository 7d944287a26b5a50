"""The control API (mounted at /control): the clock, the customers, the deliveries.

JSON in and out. Every customer action answers `{"result": ..., "emitted": [...],
"attempts": [...]}`: what it returned, the notifications the store emitted, and the delivery
attempts made right after it (the action's notifications are delivered before the answer).
Refusals are `{"error": {"code", "message"}}` with 404 (no such product or purchase), 409
(not possible in the purchase's state), 402 (the payment method fails). Endpoints are plain
functions, run in FastAPI's thread pool: they POST to the configured targets synchronously.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from store_emulator.errors import PaymentDeclined
from store_emulator.message import StoreName, iso
from store_emulator.policy import Action

if TYPE_CHECKING:
    from store_emulator.apple.lifecycle import AppleLifecycle
    from store_emulator.apple.store import Notification
    from store_emulator.emulator import StoreEmulator
    from store_emulator.google.lifecycle import PlayLifecycle


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Advance(_Body):
    by: str | float | None = Field(
        None, description="ISO 8601 duration (PT6H, P3D, P1M: months the calendar way) or seconds"
    )
    to: datetime | None = Field(None, description="An instant to advance to (ISO 8601)")


class AppleSubscribe(_Body):
    product_id: str
    customer: str | None = Field(None, description="The Apple account; new when not given")
    app_account_token: str | None = None
    offer: Literal["trial", "intro"] | None = Field(
        None, description="Redeem the product's free trial or introductory price"
    )


class AppleBuy(_Body):
    product_id: str
    customer: str | None = None
    app_account_token: str | None = None


class ProductChange(_Body):
    product_id: str
    base_plan_id: str | None = Field(None, description="Google only; default: the first")


class Payment(_Body):
    state: Literal["ok", "failing"]


class AppleRefund(_Body):
    reason: int = Field(0, description="revocationReason: 0 other, 1 an issue with the app")


class Share(_Body):
    customer: str = Field(description="The family member")


class StopSharing(_Body):
    customer: str | None = Field(None, description="One member; everyone when not given")


class ApplePrice(_Body):
    price: int = Field(description="The new price in milliunits (9990 = 9.99)")
    consent_required: bool = True


class GoogleSubscribe(_Body):
    product_id: str
    base_plan_id: str | None = Field(None, description="Default: the product's first")
    offer_id: str | None = None
    account_id: str | None = Field(None, description="obfuscatedExternalAccountId")
    profile_id: str | None = Field(None, description="obfuscatedExternalProfileId")


class GoogleBuy(_Body):
    product_id: str
    account_id: str | None = None


class Pause(_Body):
    duration: str = Field(description="ISO 8601, one week to three months (P1W, P1M, P3M)")


class Defer(_Body):
    by: str = Field(description="ISO 8601 duration the next charge moves by (P7D, P1M)")


class GooglePrice(_Body):
    price_micros: int
    opt_in: bool = Field(True, description="The customer must accept before the renewal")


class GoogleRefund(_Body):
    order_id: str | None = Field(None, description="Default: the latest order")


class TargetsBody(_Body):
    apple_url: str | None = None
    google_url: str | None = None
    push_audience: str | None = None
    push_service_account: str | None = None


class RuleBody(_Body):
    action: Action
    store: StoreName | None = None
    types: list[str] = Field(default_factory=list, description="Notification types; [] any")
    count: int | None = Field(None, ge=1, description="The next N matching notifications")
    until: datetime | None = Field(None, description="delay/reorder: release at this instant")
    order: Literal["reverse", "shuffle"] = "reverse"
    seed: int = 0


class Release(_Body):
    store: StoreName | None = None
    rule_id: int | None = None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _reason(problem: Exception) -> str:
    return str(problem.args[0]) if problem.args else type(problem).__name__


def _apple_summary(notification: Notification | None) -> dict[str, Any] | None:
    if notification is None:
        return None
    return {
        "notification_uuid": notification.notification_uuid,
        "notification_type": notification.notification_type,
        "subtype": notification.subtype,
        "transaction_id": notification.transaction_id,
        "original_transaction_id": notification.original_transaction_id,
    }


def router(emulator: StoreEmulator) -> APIRouter:
    routes = APIRouter()

    def act(action: Callable[[], Any]) -> JSONResponse:
        with emulator.lock:
            mark = len(emulator.messages)
            try:
                result = action()
            except PaymentDeclined as problem:
                return _error(402, "payment_declined", _reason(problem))
            except LookupError as problem:
                return _error(404, "not_found", _reason(problem))
            except ValueError as problem:
                return _error(409, "conflict", _reason(problem))
            attempts = emulator.deliver_pending()
            emitted = emulator.emitted_since(mark)
        return JSONResponse(
            {
                "result": result,
                "emitted": [m.describe() for m in emitted],
                "attempts": [a.describe() for a in attempts],
            }
        )

    def apple() -> AppleLifecycle:
        if emulator.apple is None:
            raise LookupError("this emulator does not run the App Store")
        return emulator.apple

    def google() -> PlayLifecycle:
        if emulator.google is None:
            raise LookupError("this emulator does not run Google Play")
        return emulator.google

    # -- clock and state ------------------------------------------------------------------

    @routes.get("/clock", tags=["clock"], summary="Store (virtual) time and wall time")
    def clock() -> dict[str, Any]:
        return {"now": iso(emulator.now()), "wall_clock": iso(emulator.wall_clock.now())}

    @routes.post(
        "/clock/advance",
        tags=["clock"],
        summary="Advance store time by a duration or to an instant",
        description="Does what the stores do on the way and delivers what falls due; answers"
        " the notifications emitted and the delivery attempts made.",
    )
    def advance(body: Advance) -> JSONResponse:
        if (body.by is None) == (body.to is None):
            return _error(400, "bad_request", "give exactly one of by and to")
        try:
            if body.to is not None:
                if body.to.tzinfo is None:
                    return _error(400, "bad_request", "to needs a time zone (Z)")
                report = emulator.advance_to(body.to)
            else:
                assert body.by is not None
                report = emulator.advance(body.by)
        except ValueError as problem:
            return _error(400, "bad_request", _reason(problem))
        return JSONResponse(report.describe())

    @routes.get("/state", tags=["state"], summary="Everything the emulator holds")
    def state() -> dict[str, Any]:
        return emulator.state()

    # -- App Store customers --------------------------------------------------------------

    @routes.post("/apple/subscriptions", tags=["apple"], summary="Subscribe (SUBSCRIBED)")
    def apple_subscribe(body: AppleSubscribe) -> JSONResponse:
        return act(
            lambda: _apple_summary(
                apple().subscribe(
                    body.product_id,
                    customer=body.customer,
                    app_account_token=body.app_account_token,
                    offer=body.offer,
                )
            )
        )

    @routes.post("/apple/purchases", tags=["apple"], summary="Buy a one-time product")
    def apple_buy(body: AppleBuy) -> JSONResponse:
        return act(
            lambda: _apple_summary(
                apple().buy(
                    body.product_id,
                    customer=body.customer,
                    app_account_token=body.app_account_token,
                )
            )
        )

    @routes.post("/apple/subscriptions/{original_transaction_id}/cancel", tags=["apple"])
    def apple_cancel(original_transaction_id: str) -> JSONResponse:
        """Turn auto-renew off: EXPIRED VOLUNTARY at the period end."""
        return act(lambda: _apple_summary(apple().cancel(original_transaction_id)))

    @routes.post("/apple/subscriptions/{original_transaction_id}/uncancel", tags=["apple"])
    def apple_uncancel(original_transaction_id: str) -> JSONResponse:
        return act(lambda: _apple_summary(apple().uncancel(original_transaction_id)))

    @routes.post("/apple/subscriptions/{original_transaction_id}/change", tags=["apple"])
    def apple_change(original_transaction_id: str, body: ProductChange) -> JSONResponse:
        """Upgrade (now) or downgrade/crossgrade (at the next renewal)."""
        return act(
            lambda: _apple_summary(apple().change_product(original_transaction_id, body.product_id))
        )

    @routes.post("/apple/subscriptions/{original_transaction_id}/payment", tags=["apple"])
    def apple_payment(original_transaction_id: str, body: Payment) -> JSONResponse:
        """The payment method fails from now on, or is fixed (recovers at once)."""
        return act(
            lambda: _apple_summary(
                apple().set_payment(original_transaction_id, failing=body.state == "failing")
            )
        )

    @routes.post("/apple/subscriptions/{original_transaction_id}/refund", tags=["apple"])
    def apple_refund_current(
        original_transaction_id: str, body: AppleRefund | None = None
    ) -> JSONResponse:
        """Refund the current period (the subscription is revoked)."""
        reason = body.reason if body else 0
        return act(
            lambda: _apple_summary(apple().refund_current(original_transaction_id, reason=reason))
        )

    @routes.post("/apple/transactions/{transaction_id}/refund", tags=["apple"])
    def apple_refund(transaction_id: str, body: AppleRefund | None = None) -> JSONResponse:
        reason = body.reason if body else 0
        return act(lambda: _apple_summary(apple().refund(transaction_id, reason=reason)))

    @routes.post("/apple/transactions/{transaction_id}/reverse-refund", tags=["apple"])
    def apple_reverse_refund(transaction_id: str) -> JSONResponse:
        return act(lambda: _apple_summary(apple().reverse_refund(transaction_id)))

    @routes.post("/apple/subscriptions/{original_transaction_id}/price-increase", tags=["apple"])
    def apple_price_increase(original_transaction_id: str, body: ApplePrice) -> JSONResponse:
        return act(
            lambda: _apple_summary(
                apple().increase_price(
                    original_transaction_id, body.price, consent_required=body.consent_required
                )
            )
        )

    @routes.post("/apple/subscriptions/{original_transaction_id}/consent", tags=["apple"])
    def apple_consent(original_transaction_id: str) -> JSONResponse:
        """The customer accepts the price increase."""
        return act(lambda: _apple_summary(apple().consent(original_transaction_id)))

    @routes.post("/apple/subscriptions/{original_transaction_id}/share", tags=["apple"])
    def apple_share(original_transaction_id: str, body: Share) -> JSONResponse:
        """Family Sharing: the member gets a FAMILY_SHARED subscription of their own."""
        return act(lambda: _apple_summary(apple().share(original_transaction_id, body.customer)))

    @routes.post("/apple/subscriptions/{original_transaction_id}/stop-sharing", tags=["apple"])
    def apple_stop_sharing(
        original_transaction_id: str, body: StopSharing | None = None
    ) -> JSONResponse:
        member = body.customer if body else None
        return act(
            lambda: [
                _apple_summary(n) for n in apple().stop_sharing(original_transaction_id, member)
            ]
        )

    @routes.post("/apple/subscriptions/{original_transaction_id}/family-revoke", tags=["apple"])
    def apple_family_revoke(original_transaction_id: str) -> JSONResponse:
        """A family member (this is their subscription) loses shared access: REVOKE."""
        return act(lambda: _apple_summary(apple().family_revoke(original_transaction_id)))

    # -- Google Play customers ------------------------------------------------------------

    def first_plan(product_id: str) -> str:
        product = google().store.catalog_product(product_id)
        if product is None or not product.base_plans:
            raise LookupError(f"no subscription product {product_id}")
        return next(iter(product.base_plans))

    @routes.post("/google/subscriptions", tags=["google"], summary="Subscribe")
    def google_subscribe(body: GoogleSubscribe) -> JSONResponse:
        def run() -> dict[str, Any]:
            plan = body.base_plan_id or first_plan(body.product_id)
            token = google().purchase(
                body.product_id,
                plan,
                body.offer_id,
                account_id=body.account_id,
                profile_id=body.profile_id,
            )
            purchase = google().store.subscriptions[token]
            return {"purchase_token": token, "order_id": purchase.orders[-1].order_id}

        return act(run)

    @routes.post("/google/purchases", tags=["google"], summary="Buy a one-time product")
    def google_buy(body: GoogleBuy) -> JSONResponse:
        def run() -> dict[str, Any]:
            token = google().buy(body.product_id, account_id=body.account_id)
            return {"purchase_token": token, "order_id": google().store.products[token].order_id}

        return act(run)

    @routes.post("/google/subscriptions/{token}/cancel", tags=["google"])
    def google_cancel(token: str) -> JSONResponse:
        return act(lambda: google().cancel(token))

    @routes.post("/google/subscriptions/{token}/uncancel", tags=["google"])
    def google_uncancel(token: str) -> JSONResponse:
        return act(lambda: google().uncancel(token))

    @routes.post("/google/subscriptions/{token}/change", tags=["google"])
    def google_change(token: str, body: ProductChange) -> JSONResponse:
        """Upgrade (a new linked token now) or downgrade/crossgrade (at the next renewal)."""

        def run() -> dict[str, Any]:
            plan = body.base_plan_id or first_plan(body.product_id)
            return {"purchase_token": google().change_product(token, body.product_id, plan)}

        return act(run)

    @routes.post("/google/subscriptions/{token}/payment", tags=["google"])
    def google_payment(token: str, body: Payment) -> JSONResponse:
        return act(lambda: google().set_payment(token, failing=body.state == "failing"))

    @routes.post("/google/subscriptions/{token}/pause", tags=["google"])
    def google_pause(token: str, body: Pause) -> JSONResponse:
        """Schedule a pause from the end of the paid period."""
        return act(lambda: google().pause(token, body.duration))

    @routes.post("/google/subscriptions/{token}/resume", tags=["google"])
    def google_resume(token: str) -> JSONResponse:
        """Resume now if paused; call a scheduled pause off otherwise."""
        return act(lambda: google().resume(token))

    @routes.post("/google/subscriptions/{token}/defer", tags=["google"])
    def google_defer(token: str, body: Defer) -> JSONResponse:
        return act(lambda: {"expiry_time": iso(google().defer(token, body.by))})

    @routes.post("/google/subscriptions/{token}/price-increase", tags=["google"])
    def google_price_increase(token: str, body: GooglePrice) -> JSONResponse:
        return act(lambda: google().increase_price(token, body.price_micros, opt_in=body.opt_in))

    @routes.post("/google/subscriptions/{token}/consent", tags=["google"])
    def google_consent(token: str) -> JSONResponse:
        return act(lambda: google().consent(token))

    @routes.post("/google/subscriptions/{token}/refund", tags=["google"])
    def google_refund(token: str, body: GoogleRefund | None = None) -> JSONResponse:
        """Refund one order (voided purchase) without revoking access."""
        order = body.order_id if body else None
        return act(lambda: {"order_id": google().refund(token, order)})

    @routes.post("/google/subscriptions/{token}/revoke", tags=["google"])
    def google_revoke(token: str) -> JSONResponse:
        """Refund the latest order and end access now."""
        return act(lambda: {"order_id": google().revoke(token)})

    @routes.post("/google/purchases/{token}/refund", tags=["google"])
    def google_refund_product(token: str) -> JSONResponse:
        return act(lambda: {"order_id": google().refund(token)})

    # -- deliveries -----------------------------------------------------------------------

    @routes.get("/delivery/targets", tags=["delivery"])
    def get_targets() -> dict[str, Any]:
        return emulator.targets.describe()

    @routes.put("/delivery/targets", tags=["delivery"], summary="Set delivery targets")
    def put_targets(body: TargetsBody) -> dict[str, Any]:
        return emulator.set_targets(
            apple_url=body.apple_url,
            google_url=body.google_url,
            push_audience=body.push_audience,
            push_service_account=body.push_service_account,
        ).describe()

    @routes.get("/delivery/policy", tags=["delivery"])
    def get_policy() -> list[dict[str, Any]]:
        return [rule.describe() for rule in emulator.policy.rules]

    @routes.post(
        "/delivery/policy",
        tags=["delivery"],
        summary="Add a rule: drop, duplicate, delay or reorder matching notifications",
    )
    def add_rule(body: RuleBody) -> JSONResponse:
        try:
            rule = emulator.add_rule(
                body.action,
                store=body.store,
                types=tuple(body.types),
                count=body.count,
                until=body.until,
                order=body.order,
                seed=body.seed,
            )
        except ValueError as problem:
            return _error(400, "bad_request", _reason(problem))
        return JSONResponse(rule.describe(), status_code=201)

    @routes.delete("/delivery/policy", tags=["delivery"], summary="Remove every rule")
    def clear_policy() -> dict[str, Any]:
        """Held notifications are released and sent."""
        return {"attempts": [a.describe() for a in emulator.clear_rules()]}

    @routes.delete("/delivery/policy/{rule_id}", tags=["delivery"])
    def remove_rule(rule_id: int) -> JSONResponse:
        try:
            attempts = emulator.remove_rule(rule_id)
        except LookupError as problem:
            return _error(404, "not_found", _reason(problem))
        return JSONResponse({"attempts": [a.describe() for a in attempts]})

    @routes.post("/delivery/release", tags=["delivery"], summary="Send held notifications")
    def release(body: Release | None = None) -> dict[str, Any]:
        store = body.store if body else None
        rule_id = body.rule_id if body else None
        attempts = emulator.release(store=store, rule_id=rule_id)
        return {"attempts": [a.describe() for a in attempts]}

    @routes.post("/delivery/deliver", tags=["delivery"], summary="Attempt what is due now")
    def deliver() -> dict[str, Any]:
        return {"attempts": [a.describe() for a in emulator.deliver_pending()]}

    @routes.get("/deliveries", tags=["delivery"], summary="Every delivery and its attempts")
    def deliveries(store: StoreName | None = None) -> list[dict[str, Any]]:
        return [d.describe() for d in emulator.deliveries(store)]

    return routes
