"""The readable support view printed by `iap-engine status`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from iap_engine.api.views import in_store_order, iso
from iap_engine.domain import Catalog, entitlements_at, is_entitled
from iap_engine.service.lookup import LookUp, SubscriptionView

RECENT_EVENTS = 12


def render_status(result: LookUp, catalog: Catalog, at: datetime) -> str:
    if not result.views:
        return f"nothing found for {result.query!r}"
    lines = [f"{len(result.views)} subscription(s) for {result.query!r}, at {iso(at)}", ""]
    for view in result.views:
        lines.extend(_subscription(view, catalog, at))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _subscription(view: SubscriptionView, catalog: Catalog, at: datetime) -> list[str]:
    s = view.subscription
    owner = s.app_user_id or ("(account deleted)" if s.account_deleted else "(not linked)")
    renew = "auto-renew on" if s.auto_renew else "auto-renew off"
    if s.renewal_product_id and s.renewal_product_id != s.product_id:
        renew += f", renews as {s.renewal_product_id}"
    entitled = is_entitled(s, at, catalog)
    lines = [
        f"subscription {s.id}  {s.store.value} ({s.environment.value})  app user {owner}",
        f"  product {s.product_id}  status {s.effective_status.value} ({renew})",
        f"  expires {iso(s.expires_at) or '-'}"
        + (f"  grace until {iso(s.grace_expires_at)}" if s.grace_expires_at else "")
        + (f"  expiration reason {s.expiration_reason.value}" if s.expiration_reason else ""),
        f"  entitled at {iso(at)}: {'yes' if entitled else 'no'}",
        f"  store key {_short(s.store_key)}"
        + (f"  tokens {len(view.tokens)}" if view.tokens else ""),
    ]
    grants = [g for g in entitlements_at([s], catalog, at) if g.active]
    if grants:
        lines.append(
            "  entitlements: "
            + ", ".join(f"{g.entitlement} until {iso(g.expires_at) or 'forever'}" for g in grants)
        )
    if s.periods:
        lines.append("  periods:")
        rows: list[tuple[str, ...]] = [
            ("transaction", "product", "starts", "ends", "offer", "price", "revoked")
        ]
        for p in s.periods:
            revocation = s.revocation_of(p.transaction_id)
            replaced = s.replaced_at(p)
            ends = iso(p.ends_at) or "never"
            if replaced:
                ends += f" (replaced {iso(replaced)})"
            rows.append(
                (
                    p.transaction_id,
                    p.product_id,
                    iso(p.starts_at) or "",
                    ends,
                    p.offer.value,
                    _price(p.price_micros, p.currency),
                    iso(revocation.revoked_at) or "" if revocation else "",
                )
            )
        lines.extend("    " + line for line in _table(rows))
    recent = in_store_order(view.timeline)
    if recent:
        lines.append(f"  recent history (last {min(len(recent), RECENT_EVENTS)}):")
        rows = [("store time", "kind", "outcome", "source", "store type", "note")]
        for entry in recent[-RECENT_EVENTS:]:
            store_type = "/".join(t for t in (entry.store_type, entry.store_subtype) if t)
            rows.append(
                (
                    iso(entry.store_time) or iso(entry.received_at) or "",
                    entry.kind,
                    entry.outcome,
                    entry.source.value,
                    store_type,
                    entry.note or "",
                )
            )
        lines.extend("    " + line for line in _table(rows))
    return lines


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _price(micros: int | None, currency: str | None) -> str:
    if micros is None:
        return ""
    return f"{micros / 1_000_000:.2f} {currency or ''}".strip()


def _short(key: str) -> str:
    # Purchase tokens are long and sensitive: support needs to recognise one, not copy it.
    return key if len(key) <= 40 else f"{key[:16]}...{key[-8:]}"
