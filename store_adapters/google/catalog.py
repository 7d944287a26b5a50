"""The app's subscription catalogue, as the monetization API describes it, cached per plan.

Period starts and grace ends need the durations of base plans and offer phases
(`normalize.PlanTerms`). Plans change rarely and a billing period can never change, so each
plan's terms are cached for `ttl`; a product Google does not know is cached as unknown too.
Reading the catalogue needs the service account's "View app information" permission; without
it the terms are unknown (period starts fall back, see `normalize`) and a warning is logged.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from iap_engine.service.ports import Clock
from store_adapters.google.client import PlayClient
from store_adapters.google.errors import PlayNotConfigured, ProductUnknown
from store_adapters.google.normalize import UNKNOWN_TERMS, PlanKey, PlanTerms, plan_terms

log = logging.getLogger(__name__)


class PlanCatalog:
    def __init__(self, client: PlayClient, clock: Clock, ttl: timedelta = timedelta(hours=6)):
        self._client = client
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._terms: dict[PlanKey, tuple[datetime, PlanTerms]] = {}

    def terms(self, key: PlanKey | None) -> PlanTerms:
        if key is None:
            return UNKNOWN_TERMS
        now = self._clock.now()
        with self._lock:
            cached = self._terms.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        terms = self._fetch(key)
        with self._lock:
            self._terms[key] = (now + self._ttl, terms)
        return terms

    def _fetch(self, key: PlanKey) -> PlanTerms:
        try:
            product: dict[str, Any] | None = self._client.get_subscription_product(key.product_id)
        except ProductUnknown:
            return UNKNOWN_TERMS
        except PlayNotConfigured as error:
            log.warning("subscription catalogue unreadable, period starts estimated: %s", error)
            return UNKNOWN_TERMS
        offer: dict[str, Any] | None = None
        if key.offer_id and key.base_plan_id:
            try:
                offer = self._client.get_offer(key.product_id, key.base_plan_id, key.offer_id)
            except ProductUnknown:
                offer = None
        return plan_terms(product, key.base_plan_id, offer)
