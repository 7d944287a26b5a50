"""The engine's choices that every path in must agree on, from configuration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from iap_engine.domain.schedule import DEFAULT_WINDOW

RestorePolicy = Literal["transfer", "keep_original"]


@dataclass(frozen=True, slots=True)
class Policy:
    # A purchase restored on another live account: move it, or refuse with a conflict.
    restore: RestorePolicy = "transfer"
    # Apple appAccountToken / Google obfuscatedExternalAccountId carry the app user id.
    link_account_hints: bool = True
    # Every live subscription is fetched from its store at least once per window.
    recheck_window: timedelta = DEFAULT_WINDOW


DEFAULT_POLICY = Policy()
