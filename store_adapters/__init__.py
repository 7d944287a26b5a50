"""Store adapters: everything the engine knows about each store lives in its package."""
