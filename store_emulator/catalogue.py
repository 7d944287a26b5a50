"""What the emulated stores sell: one store-neutral catalogue, installed in both.

A `SubscriptionPlan` becomes an Apple auto-renewable subscription (same product id, in
subscription group `group`, Billing Grace Period being app-wide on Apple) and a Google Play
subscription product of the same id with one base plan (as Play shows subscriptions
migrated from the old one-SKU-per-plan model), with a `trial` offer and an `intro` offer when
the plan has them. `level` ranks plans for upgrades: higher is an upgrade (immediate), the
same or lower a crossgrade or downgrade (at the next renewal). A `OneTimeProduct` is a
consumable, non-consumable or non-renewing purchase in both stores.

`DEMO` is the default: premium monthly/yearly and basic monthly in one group, a lifetime
unlock and a consumable. Amounts are micros (9_990_000 = 9.99); Apple gets milliunits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from store_emulator import periods
from store_emulator.apple.store import AppleStore, Product
from store_emulator.google.state import BasePlan, Offer, OfferPhase, PlayStore

_BASE_PLAN_IDS = {"P1W": "weekly", "P1M": "monthly", "P3M": "quarterly", "P1Y": "yearly"}


@dataclass(frozen=True)
class SubscriptionPlan:
    product_id: str
    period: str  # ISO 8601: P1W, P1M, P1Y...
    price_micros: int
    group: str = "premium"
    level: int = 1
    entitlements: tuple[str, ...] = ("premium",)
    trial: str | None = None  # free trial length
    intro_price_micros: int | None = None  # introductory price, for `intro_periods` periods
    intro_periods: int = 1
    currency: str = "USD"
    # Google base plan settings (Apple's Billing Grace Period is one setting per app).
    grace_period: str | None = "P7D"
    account_hold: str | None = "P30D"
    base_plan_id: str | None = None  # default: monthly, yearly... from the period

    def __post_init__(self) -> None:
        for duration in (self.period, self.trial, self.grace_period, self.account_hold):
            if duration is not None:
                periods.check(duration)

    @property
    def plan_id(self) -> str:
        return self.base_plan_id or _BASE_PLAN_IDS.get(self.period, "base")


@dataclass(frozen=True)
class OneTimeProduct:
    product_id: str
    kind: Literal["non_consumable", "consumable", "non_renewing"]
    price_micros: int
    entitlements: tuple[str, ...] = ()
    currency: str = "USD"
    duration_days: int | None = None  # non-renewing only: how long the engine grants access

    def __post_init__(self) -> None:
        if self.kind == "non_renewing" and self.duration_days is None:
            raise ValueError("a non-renewing product needs duration_days")


@dataclass(frozen=True)
class Catalogue:
    subscriptions: tuple[SubscriptionPlan, ...] = ()
    one_time: tuple[OneTimeProduct, ...] = ()

    def install_apple(self, store: AppleStore) -> None:
        for plan in self.subscriptions:
            store.add_product(
                Product(
                    plan.product_id,
                    "auto_renewable",
                    plan.price_micros // 1000,
                    currency=plan.currency,
                    period=plan.period,
                    group=plan.group,
                    level=plan.level,
                    trial=plan.trial,
                    intro_price=None
                    if plan.intro_price_micros is None
                    else plan.intro_price_micros // 1000,
                    intro_periods=plan.intro_periods,
                )
            )
        for product in self.one_time:
            store.add_product(
                Product(
                    product.product_id,
                    product.kind,
                    product.price_micros // 1000,
                    currency=product.currency,
                )
            )

    def install_google(self, store: PlayStore) -> None:
        for plan in self.subscriptions:
            offers = []
            if plan.trial is not None:
                offers.append(Offer(plan.plan_id, "trial", (OfferPhase(plan.trial, 1, free=True),)))
            if plan.intro_price_micros is not None:
                offers.append(
                    Offer(plan.plan_id, "intro", (OfferPhase(plan.period, plan.intro_periods),))
                )
            store.add_subscription_product(
                plan.product_id,
                [
                    BasePlan(
                        plan.plan_id,
                        plan.period,
                        grace_period=plan.grace_period,
                        account_hold=plan.account_hold,
                        price_micros=plan.price_micros,
                        currency=plan.currency,
                    )
                ],
                offers,
                level=plan.level,
            )

    def engine_products(self) -> dict[str, dict[str, Any]]:
        """The engine's `[products]` section for this catalogue."""
        products: dict[str, dict[str, Any]] = {}
        for plan in self.subscriptions:
            products[plan.product_id] = {
                "entitlements": list(plan.entitlements),
                "type": "auto_renewable",
            }
        for product in self.one_time:
            entry: dict[str, Any] = {
                "entitlements": list(product.entitlements),
                "type": product.kind,
            }
            if product.duration_days is not None:
                entry["duration_days"] = product.duration_days
            products[product.product_id] = entry
        return products


DEMO = Catalogue(
    subscriptions=(
        SubscriptionPlan(
            "com.example.premium.monthly",
            "P1M",
            9_990_000,
            level=2,
            trial="P1W",
            intro_price_micros=4_990_000,
            intro_periods=3,
        ),
        SubscriptionPlan("com.example.premium.yearly", "P1Y", 99_990_000, level=2),
        SubscriptionPlan(
            "com.example.basic.monthly", "P1M", 4_990_000, level=1, entitlements=("basic",)
        ),
    ),
    one_time=(
        OneTimeProduct("com.example.lifetime", "non_consumable", 49_990_000, ("premium",)),
        OneTimeProduct("com.example.coins", "consumable", 990_000),
    ),
)
