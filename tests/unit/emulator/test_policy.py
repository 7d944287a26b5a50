"""The delivery policy and the retry schedules, with a recording transport (no network)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import requests

from store_emulator.delivery import AppleRetries, Courier, PushRetries, Targets
from store_emulator.message import Message
from store_emulator.policy import DeliveryPolicy, Rule
from tests.unit.emulator.conftest import START


@dataclass
class Answer:
    status_code: int

    def close(self) -> None:
        return None


@dataclass
class RecordingSession:
    """Answers POSTs from a script of statuses (200 when it runs out), recording them."""

    statuses: list[int] = field(default_factory=list)
    posts: list[tuple[str, bytes]] = field(default_factory=list)

    def post(self, url: str, *, data: bytes, **_: Any) -> Answer:
        self.posts.append((url, data))
        return Answer(self.statuses.pop(0) if self.statuses else 200)


def message(number: int, store: str = "apple", kind: str = "DID_RENEW") -> Message:
    return Message(
        store=store,  # type: ignore[arg-type]
        notification_type=kind,
        subtype=None,
        emitted_at=START,
        body=f"body-{number}".encode(),
        notification_id=str(number),
    )


def courier(session: RecordingSession, policy: DeliveryPolicy | None = None) -> Courier:
    made = Courier(
        session=session,  # type: ignore[arg-type]
        policy=policy or DeliveryPolicy(),
        headers=lambda _m, _t: {},
    )
    made.targets = Targets(apple_url="http://apple", google_url="http://google")
    return made


def test_apple_retries_one_twelve_twenty_four_forty_eight_seventy_two_hours_apart():
    schedule = AppleRetries()
    attempts, last = [START], START
    for failed in range(1, 7):
        following = schedule.after(message(1), failed, last)
        if following is None:
            break
        attempts.append(following)
        last = following

    gaps = [(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(attempts)]
    assert gaps == [1, 12, 24, 48, 72]


def test_apple_sends_sandbox_notifications_once():
    sandbox = Message("apple", "DID_RENEW", None, START, b"", "1", retried=False)

    assert AppleRetries().after(sandbox, 1, START) is None


def test_push_backoff_doubles_from_ten_seconds_to_ten_minutes_for_seven_days():
    schedule = PushRetries()
    delays, last, failed = [], START, 0
    while (following := schedule.after(message(1, "google"), failed + 1, last)) is not None:
        delays.append((following - last).total_seconds())
        last, failed = following, failed + 1

    assert delays[:8] == [10, 20, 40, 80, 160, 320, 600, 600]
    assert set(delays[6:]) == {600}
    assert last <= START + timedelta(days=7) < last + timedelta(seconds=600)


def test_a_failed_attempt_is_retried_when_its_time_comes():
    session = RecordingSession(statuses=[503])
    queue = courier(session)
    queue.post(message(1))

    (first,) = queue.deliver_due(START)
    assert (first.status, first.ok, queue.next_due()) == (503, False, START + timedelta(hours=1))
    assert queue.deliver_due(START + timedelta(minutes=59)) == []
    (second,) = queue.deliver_due(START + timedelta(hours=1))

    assert (second.number, second.ok) == (2, True)
    assert queue.deliveries[0].state == "delivered"


def test_without_a_target_a_notification_is_never_sent():
    session = RecordingSession()
    queue = courier(session)
    queue.targets.apple_url = None
    queue.post(message(1))

    assert queue.deliver_due(START) == []
    assert queue.deliveries[0].state == "unsent"
    assert session.posts == []


def test_rules_match_by_store_and_type_and_count_down():
    policy = DeliveryPolicy()
    rule = policy.add(Rule("drop", store="google", types=("SUBSCRIPTION_RENEWED",), count=2))

    decided = [
        policy.decide(message(1, "apple", "SUBSCRIPTION_RENEWED")),
        policy.decide(message(2, "google", "SUBSCRIPTION_CANCELED")),
        policy.decide(message(3, "google", "SUBSCRIPTION_RENEWED")),
        policy.decide(message(4, "google", "SUBSCRIPTION_RENEWED")),
        policy.decide(message(5, "google", "SUBSCRIPTION_RENEWED")),
    ]

    assert decided == [None, None, rule, rule, None]
    assert rule.used_up


def test_drop_duplicate_and_delay():
    session = RecordingSession()
    policy = DeliveryPolicy()
    queue = courier(session, policy)
    policy.add(Rule("drop", count=1))
    policy.add(Rule("duplicate", count=1))
    delay = policy.add(Rule("delay", count=1, until=START + timedelta(hours=2)))

    for number in (1, 2, 3, 4):
        queue.post(message(number))
    queue.deliver_due(START)
    assert [body for _, body in session.posts] == [b"body-2", b"body-2", b"body-4"]
    assert queue.next_due() == delay.until
    queue.deliver_due(START + timedelta(hours=2))

    assert session.posts[-1][1] == b"body-3"
    assert [d.state for d in queue.deliveries] == ["dropped", *["delivered"] * 4]


@pytest.mark.parametrize(
    ("order", "seed", "expected"),
    [("reverse", 0, [b"body-3", b"body-2", b"body-1"]), ("shuffle", 7, None)],
)
def test_a_reorder_batch_goes_out_when_complete(order, seed, expected):
    session = RecordingSession()
    policy = DeliveryPolicy()
    queue = courier(session, policy)
    policy.add(Rule("reorder", count=3, order=order, seed=seed))

    queue.post(message(1))
    queue.post(message(2))
    assert queue.deliver_due(START) == []
    queue.post(message(3))
    queue.deliver_due(START)

    sent = [body for _, body in session.posts]
    if expected is None:  # shuffled, the same way for the same seed
        expected = Rule("reorder", order="shuffle", seed=seed).arrange(
            [b"body-1", b"body-2", b"body-3"]
        )
        assert sorted(sent) == [b"body-1", b"body-2", b"body-3"]
    assert sent == expected


def test_held_notifications_are_released_on_demand_per_store():
    session = RecordingSession()
    policy = DeliveryPolicy()
    queue = courier(session, policy)
    policy.add(Rule("delay"))
    queue.post(message(1, "apple"))
    queue.post(message(2, "google"))

    assert queue.release(START, store="google") == 1
    queue.deliver_due(START)

    assert [url for url, _ in session.posts] == ["http://google"]
    assert [d.state for d in queue.deliveries] == ["held", "delivered"]


def test_connection_failures_are_attempts_that_failed():
    class Refusing(RecordingSession):
        def post(self, url: str, *, data: bytes, **_: Any) -> Answer:
            raise requests.ConnectionError("refused")

    queue = courier(Refusing())
    queue.post(message(1, "google"))

    (attempt,) = queue.deliver_due(START)

    assert (attempt.status, attempt.ok) == (None, False)
    assert attempt.error is not None and "connection" in attempt.error
    assert queue.next_due() == START + timedelta(seconds=10)


def test_rules_check_their_fields():
    with pytest.raises(ValueError, match="until"):
        Rule("drop", until=START)
    with pytest.raises(ValueError, match="count"):
        Rule("duplicate", count=0)
    with pytest.raises(ValueError, match="unknown"):
        Rule("explode")  # type: ignore[arg-type]
