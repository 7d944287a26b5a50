"""Why a customer action is refused.

    LookupError             no such product, purchase, transaction or token (HTTP 404)
    ValueError              the action does not fit the purchase's state (HTTP 409)
    └── PaymentDeclined     the customer's payment method fails (HTTP 402)

The stores' own lookup errors (`apple.store.UnknownPurchase`, `KeyError` from the Play
state) are `LookupError`s, so callers catch these two built-in roots.
"""

from __future__ import annotations


class PaymentDeclined(ValueError):
    """The store could not charge the customer for this purchase."""
