"""iap-engine: a self-hosted engine for App Store and Google Play purchases and subscriptions."""

__version__ = "0.1.0"
