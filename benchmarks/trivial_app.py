"""The bound of HTTP ingestion on this machine: a uvicorn endpoint that reads the request
body and answers a small JSON document, doing nothing else (plain ASGI, no framework)."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

_ANSWER = b'{"result":"processed"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"22")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _ANSWER})
