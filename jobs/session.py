"""A `requests.Session` for the store APIs that prepares their plain requests cheaply.

Reconciliation makes one or two store calls per subscription, and on the benchmark machines
`Session.request` itself cost about 1 ms of CPU per call, twice what sending the request and
reading the answer through the adapter did: most of it in merging the session's settings
into each request (cookie jars copied and merged, settings merged through runtime Protocol
checks, the environment consulted). The store APIs' calls need none of that: no cookies are
sent (the stores set none), no auth but the header the client adds, no per-call hooks, no
proxy settings from the environment. So when the call and the session are that plain, the request
is prepared here with the same `PreparedRequest` steps `prepare_request` takes and handed
to `Session.send` like any other (which still handles redirects, hooks and the cookies an
answer sets); anything else takes the ordinary way.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.cookies import RequestsCookieJar
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict

# The keyword arguments the plain way handles; any other goes the ordinary way.
_PLAIN = frozenset({"params", "data", "headers", "json", "timeout", "allow_redirects"})


class StoreSession(requests.Session):
    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if args or not (isinstance(method, str) and isinstance(url, str) and self._plain(kwargs)):
            return super().request(method, url, *args, **kwargs)
        return self.send(
            self._prepare_plain(method, url, kwargs),
            timeout=kwargs.get("timeout"),
            allow_redirects=kwargs.get("allow_redirects", True),
            # What `merge_environment_settings` gives when the environment is not trusted.
            proxies=self.proxies,
            stream=self.stream,
            verify=self.verify,
            cert=self.cert,
        )

    def _plain(self, kwargs: dict[str, Any]) -> bool:
        """Whether `prepare_request` would merge nothing but the default headers and the
        session's hooks in."""
        return (
            _PLAIN.issuperset(kwargs)
            and not self.trust_env
            and self.auth is None
            and not self.params
            and not self.proxies
            and len(self.cookies) == 0
        )

    def _prepare_plain(self, method: str, url: str, kwargs: dict[str, Any]) -> PreparedRequest:
        """`prepare_request(Request(...))` for a plain call on a plain session."""
        headers = CaseInsensitiveDict(self.headers)
        headers.update(kwargs.get("headers") or {})
        prepared = PreparedRequest()
        prepared.prepare_method(method.upper())
        prepared.prepare_url(url, kwargs.get("params") or {})
        # Headers set to None are removed, as when merged with the session's.
        prepared.prepare_headers({k: v for k, v in headers.items() if v is not None})
        prepared.prepare_cookies(RequestsCookieJar())
        prepared.prepare_body(kwargs.get("data") or {}, None, kwargs.get("json"))
        prepared.prepare_auth(None, url)
        # The session's hooks (bootstrap counts each store answer with one), as merged in.
        prepared.prepare_hooks(self.hooks)
        return prepared
