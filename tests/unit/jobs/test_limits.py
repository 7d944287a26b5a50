"""The token bucket and the limited session keep store calls under their caps."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from requests.adapters import BaseAdapter

from jobs.limits import LimitedSession, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_calls_beyond_the_burst_wait_for_tokens() -> None:
    clock = FakeTime()
    bucket = TokenBucket(10, burst=5, monotonic=clock.monotonic, sleep=clock.sleep)
    for _ in range(25):
        bucket.acquire()
    # 5 at once, then 20 more at 10 per second.
    assert clock.now == pytest.approx(2.0)


def test_the_rate_holds_over_any_window() -> None:
    clock = FakeTime()
    bucket = TokenBucket(50, burst=1, monotonic=clock.monotonic, sleep=clock.sleep)
    stamps = []
    for _ in range(500):
        bucket.acquire()
        stamps.append(clock.now)
    for i in range(len(stamps) - 50):
        assert stamps[i + 50] - stamps[i] >= 1.0 - 1e-9


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeTime()
    bucket = TokenBucket(1, burst=3, monotonic=clock.monotonic, sleep=clock.sleep)
    clock.now += 100  # a long idle spell
    for _ in range(3):
        bucket.acquire()
    assert clock.slept == []
    bucket.acquire()
    assert clock.slept == [pytest.approx(1.0)]


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


class CountingAdapter(BaseAdapter):
    """A transport that answers 200 after a while and counts requests in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.calls = 0

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        with self.lock:
            self.in_flight += 1
            self.calls += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.01)
        with self.lock:
            self.in_flight -= 1
        response = requests.Response()
        response.status_code = 200
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_a_limited_session_caps_requests_in_flight() -> None:
    session = LimitedSession(TokenBucket(10_000), concurrency=3)
    adapter = CountingAdapter()
    session.mount("http://", adapter)
    threads = [
        threading.Thread(target=session.get, args=("http://store.test/x",)) for _ in range(24)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert adapter.calls == 24
    assert adapter.most <= 3


class RecordingAdapter(BaseAdapter):
    """A transport that answers 200 and keeps the requests it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_a_session_with_hooks_still_prepares_plain_calls_the_cheap_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = LimitedSession(TokenBucket(10_000), concurrency=2)
    session.trust_env = False  # as bootstrap makes it when no proxy is configured
    adapter = RecordingAdapter()
    session.mount("http://", adapter)
    answered: list[int] = []
    session.hooks["response"].append(lambda response, *a, **k: answered.append(1))
    expected = session.prepare_request(
        requests.Request(
            "POST", "http://store.test/x", headers={"A": "1"}, params={"q": "2"}, json={"k": 3}
        )
    )

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the plain call went through prepare_request")

    monkeypatch.setattr(requests.Session, "prepare_request", refuse)
    session.post("http://store.test/x", headers={"A": "1"}, params={"q": "2"}, json={"k": 3})
    (sent,) = adapter.sent
    assert answered == [1]  # the session's hook saw the answer
    assert (sent.method, sent.url, sent.body) == (expected.method, expected.url, expected.body)
    assert dict(sent.headers) == dict(expected.headers)
    assert sent.hooks == expected.hooks
