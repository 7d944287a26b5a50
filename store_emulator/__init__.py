"""A local App Store and Google Play for tests, benchmarks and the sandbox (DESIGN.md section 8).

- `emulator.StoreEmulator`: both stores on one virtual clock, their notifications delivered,
  one ASGI app (`app()`), and the engine settings to talk to it (`engine_settings`)
- `apple/`, `google/`: each store's state, API, signing and lifecycle
- `delivery`, `policy`, `message`: the outgoing notifications, retries, drop/duplicate/delay/
  reorder
- `control`: the HTTP control API (/control); `server`: serving it as a process
- `clock`, `periods`, `catalogue`, `configuration`, `serving`, `errors`: the small parts
"""
