"""Counting HTTP requests by route template and status, for `/metrics`."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iap_engine.metrics import Counter


class RequestCounter:
    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            # The template (/v1/users/{app_user_id}/...), never the ids in the path.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.counter.inc(route, str(status))
