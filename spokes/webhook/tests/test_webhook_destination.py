"""What the receiver gets and how its answers are read, on the sandbox receiver: 2xx
delivers, per-item refusals are kept per item, 429 and 5xx are retried after the wait
they name, 401 is the signature refused, other 4xx reject the batch."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError
from webhook_receiver import Receiver

from spokehub_contracts import (
    AudienceEntered,
    AuthError,
    CheckStatus,
    Delivered,
    Forget,
    Identifier,
    Person,
    Rejected,
    Throttled,
    TransientError,
    UpsertPerson,
)
from spokehub_contracts.testing import Fault, SandboxResponse
from spokehub_webhook import WebhookConfig, WebhookDestination

ADA = (Identifier(type="email", value="ada@example.com"),)
OTHER_SECRET = "whsec_b3RoZXIgc2VjcmV0IG9mIHR3ZW50eS1mb3VyIGJ5dGVz"


def batch(count: int = 3) -> list[Any]:
    return [
        UpsertPerson(item_id=f"p{n}", identifiers=ADA, person=Person(first_name=f"Ada{n}"))
        for n in range(count)
    ]


def test_a_batch_reaches_the_receiver_in_one_signed_message(receiver: Receiver) -> None:
    outcomes = receiver.write(
        [*batch(2), AudienceEntered(item_id="a1", identifiers=ADA, audience="recent_buyers")]
    )
    assert outcomes == [
        Delivered(item_id="p0"),
        Delivered(item_id="p1"),
        Delivered(item_id="a1"),
    ]
    [message] = receiver.sandbox.messages
    assert [c["item_id"] for c in message["data"]["changes"]] == ["p0", "p1", "a1"]
    assert message["data"]["changes"][0]["person"] == {"first_name": "Ada0", "attributes": {}}
    assert receiver.sandbox.refused == []


def test_the_same_batch_sent_again_has_the_same_id(receiver: Receiver) -> None:
    receiver.write(batch())
    receiver.write(batch())
    first, second = receiver.sandbox.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert receiver.sandbox.duplicates == 1
    assert len(receiver.sandbox.messages) == 1


def test_a_429_is_waited_out_as_retry_after_says(receiver: Receiver) -> None:
    receiver.sandbox.add_faults(Fault.throttle(retry_after=20))
    outcomes = receiver.write(batch())
    assert all(isinstance(o, Delivered) for o in outcomes)
    throttled, accepted = receiver.sandbox.requests
    assert (throttled.status, accepted.status) == (429, 200)
    assert accepted.at - throttled.at >= 20
    # A retry is signed anew, as the same message.
    assert accepted.headers["webhook-id"] == throttled.headers["webhook-id"]


def test_a_5xx_with_retry_after_is_waited_out_too(receiver: Receiver) -> None:
    receiver.sandbox.error_response = lambda request, status: SandboxResponse.json(  # type: ignore[method-assign]
        {"error": "maintenance"}, status=status, headers={"Retry-After": "45"}
    )
    receiver.sandbox.add_faults(Fault.error(503))
    outcomes = receiver.write(batch(2))
    assert all(isinstance(o, Delivered) for o in outcomes)
    unavailable, accepted = receiver.sandbox.requests
    assert unavailable.status == 503
    assert accepted.at - unavailable.at >= 45


def test_a_long_throttle_is_left_to_the_hub_with_its_wait(receiver: Receiver) -> None:
    receiver.sandbox.add_faults(Fault.throttle(retry_after=600))
    with pytest.raises(Throttled) as raised:
        receiver.write(batch())
    assert raised.value.retry_after == 600
    assert len(receiver.sandbox.requests) == 1


def test_a_receiver_that_stays_down_raises_a_transient_error(receiver: Receiver) -> None:
    receiver.sandbox.add_faults(*[Fault.error(500)] * 3)
    with pytest.raises(TransientError):
        receiver.write(batch())
    assert [r.status for r in receiver.sandbox.requests] == [500, 500, 500]


def test_another_4xx_rejects_every_item_with_the_receivers_reason(receiver: Receiver) -> None:
    receiver.sandbox.error_response = lambda request, status: SandboxResponse.json(  # type: ignore[method-assign]
        {"message": "unknown field person.first_name"}, status=status
    )
    receiver.sandbox.add_faults(Fault.error(422))
    outcomes = receiver.write(batch())
    assert [o.status for o in outcomes] == ["rejected"] * 3
    assert isinstance(outcomes[0], Rejected)
    assert outcomes[0].reason == "the receiver answered 422: unknown field person.first_name"
    assert "127.0.0.1" not in outcomes[0].reason
    assert len(receiver.sandbox.requests) == 1


def test_items_the_receiver_refuses_are_rejected_alone(receiver: Receiver) -> None:
    receiver.sandbox.add_faults(Fault.partial())
    outcomes = receiver.write(batch(4))
    assert [o.status for o in outcomes] == ["rejected", "delivered", "delivered", "rejected"]
    assert isinstance(outcomes[0], Rejected)
    assert outcomes[0].reason == "the receiver refused it: locked by another update"


def test_a_wrong_secret_pauses_the_connection(receiver: Receiver) -> None:
    with pytest.raises(AuthError) as raised:
        receiver.write(batch(), secret=OTHER_SECRET)
    assert raised.value.status_code == 401
    assert OTHER_SECRET not in str(raised.value)
    assert receiver.sandbox.refused == ["No matching signature found"]
    assert receiver.sandbox.messages == []


def test_check_tells_a_wrong_secret_and_a_wrong_clock(receiver: Receiver) -> None:
    async def check(destination: WebhookDestination) -> Any:
        return await destination.check()

    assert receiver.run(check).status is CheckStatus.OK
    wrong = receiver.run(check, secret=OTHER_SECRET)
    assert wrong.status is CheckStatus.AUTH_ERROR
    assert "same secret" in wrong.message and OTHER_SECRET not in wrong.message
    late = receiver.run(check, wall_clock=lambda: time.time() - 3600)
    assert late.status is CheckStatus.AUTH_ERROR
    assert receiver.sandbox.refused == ["No matching signature found", "Message timestamp too old"]
    [probe] = receiver.sandbox.messages
    assert probe["type"] == "spokehub.check" and probe["data"]["changes"] == []


def test_check_tells_a_wrong_url(receiver: Receiver) -> None:
    async def check(destination: WebhookDestination) -> Any:
        return await destination.check()

    receiver.sandbox.add_faults(Fault.error(404))
    result = receiver.run(check)
    assert result.status is CheckStatus.CONFIG_ERROR
    assert result.message.startswith("the receiver answered 404")


def test_forget_sends_the_erasure_as_a_forget_change(receiver: Receiver) -> None:
    async def forget(destination: WebhookDestination) -> Any:
        return await destination.forget(list(ADA))

    outcome = receiver.run(forget)
    assert outcome == Delivered(item_id="forget")
    [change] = receiver.sandbox.changes
    assert change["kind"] == "forget"
    assert change["identifiers"] == [{"type": "email", "value": "ada@example.com"}]


def test_a_forget_change_in_a_batch_goes_out_like_any_other(receiver: Receiver) -> None:
    outcomes = receiver.write([Forget(item_id="f1", identifiers=ADA)])
    assert outcomes == [Delivered(item_id="f1")]
    assert receiver.sandbox.changes[0]["kind"] == "forget"


@pytest.mark.parametrize(
    ("config", "field", "rule"),
    [
        ({"url": "ftp://x.example", "secret": OTHER_SECRET}, "url", "http:// or https://"),
        ({"url": "https://x.example", "secret": "not-prefixed"}, "secret", "whsec_"),
        ({"url": "https://x.example", "secret": "whsec_***not base64***"}, "secret", "base64"),
        ({"url": "https://x.example", "secret": "whsec_c2hvcnQ="}, "secret", "24 bytes"),
    ],
)
def test_config_errors_name_the_field_and_the_rule(
    config: dict[str, str], field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        WebhookConfig.model_validate(config)
    text = str(raised.value)
    assert field in text and rule in text
    assert config["secret"] not in text
