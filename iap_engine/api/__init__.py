"""The HTTP API (DESIGN.md section 6): `create_app(wiring)` builds the FastAPI application."""
