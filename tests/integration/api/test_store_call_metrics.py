"""/metrics counts store API calls by store and outcome (Google's counted on its session)."""

from __future__ import annotations

import requests
from requests.adapters import BaseAdapter

from iap_engine.bootstrap import count_calls
from iap_engine.domain import Store
from iap_engine.metrics import Metrics


class Answers(BaseAdapter):
    def __init__(self, *statuses: int) -> None:
        super().__init__()
        self.statuses = list(statuses)

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        response = requests.Response()
        response.status_code = self.statuses.pop(0)
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_each_answer_is_counted_by_outcome() -> None:
    metrics = Metrics()
    session = requests.Session()
    session.mount("http://", Answers(200, 429, 503, 410, 200))
    count_calls(session, metrics, Store.PLAY_STORE)
    for _ in range(5):
        session.get("http://play.test/x")
    calls = metrics.store_calls
    assert calls.value("play_store", "ok") == 2
    assert calls.value("play_store", "rate_limited") == 1
    assert calls.value("play_store", "unavailable") == 1
    assert calls.value("play_store", "rejected") == 1
    assert 'iap_store_api_calls_total{store="play_store",result="ok"} 2' in metrics.render()
