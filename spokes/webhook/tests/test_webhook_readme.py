"""The README's config example is valid, and its receiver verifies what the spoke sends:
it accepts a signed request and refuses a tampered body, another secret, missing headers
and a timestamp more than five minutes off."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from webhook_receiver import Receiver

from spokehub_contracts import AudienceEntered, Identifier
from spokehub_contracts.testing import readme_blocks, readme_connection
from spokehub_webhook import WebhookDestination
from spokehub_webhook.testing import SANDBOX_SECRET

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
ADA = (Identifier(type="email", value="ada@example.com"),)
OTHER_SECRET = "whsec_b3RoZXIgc2VjcmV0IG9mIHR3ZW50eS1mb3VyIGJ5dGVz"


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    """The names the README's receiver example defines."""
    [code] = readme_blocks(README, "python")
    names: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), names)
    return names


def signed_request(receiver: Receiver, **kwargs: Any) -> tuple[dict[str, str], bytes]:
    receiver.write([AudienceEntered(item_id="1", identifiers=ADA, audience="buyers")], **kwargs)
    request = receiver.sandbox.requests[-1]
    return dict(request.headers), request.body


def test_readme_config_example_validates() -> None:
    _, name, connection = readme_connection(README, "webhook", "destination")
    config = {**connection["config"], "secret": SANDBOX_SECRET}  # ${…} comes from the env
    WebhookDestination(WebhookDestination.Config.model_validate(config), connection=name)


def test_the_readme_receiver_accepts_what_the_spoke_signs(
    receiver: Receiver, example: dict[str, Any]
) -> None:
    headers, body = signed_request(receiver)
    message = example["verify"](SANDBOX_SECRET, headers, body)
    assert message["data"]["changes"][0]["audience"] == "buyers"


def test_the_readme_receiver_refuses_a_tampered_body(
    receiver: Receiver, example: dict[str, Any]
) -> None:
    headers, body = signed_request(receiver)
    with pytest.raises(example["InvalidSignature"], match="no signature matches"):
        example["verify"](SANDBOX_SECRET, headers, body.replace(b"buyers", b"sellers"))


def test_the_readme_receiver_refuses_another_secret(
    receiver: Receiver, example: dict[str, Any]
) -> None:
    headers, body = signed_request(receiver)
    with pytest.raises(example["InvalidSignature"]):
        example["verify"](OTHER_SECRET, headers, body)


def test_the_readme_receiver_refuses_missing_headers(
    receiver: Receiver, example: dict[str, Any]
) -> None:
    headers, body = signed_request(receiver)
    del headers["webhook-signature"]
    with pytest.raises(example["InvalidSignature"], match="missing"):
        example["verify"](SANDBOX_SECRET, headers, body)


def test_the_readme_receiver_refuses_timestamps_more_than_five_minutes_off(
    receiver: Receiver, example: dict[str, Any]
) -> None:
    headers, body = signed_request(receiver)
    signed_at = int(headers["webhook-timestamp"])
    verify = example["verify"]
    assert verify(SANDBOX_SECRET, headers, body, now=signed_at + 299)
    assert verify(SANDBOX_SECRET, headers, body, now=signed_at - 299)
    for now in (signed_at + 301, signed_at - 301):
        with pytest.raises(example["InvalidSignature"], match="five minutes"):
            verify(SANDBOX_SECRET, headers, body, now=now)


def test_the_readme_receiver_refuses_a_request_signed_an_hour_ago(
    receiver: Receiver, example: dict[str, Any]
) -> None:
    # The receiver sandbox refuses it too (401), so the spoke raises; the request stays
    # in the sandbox's log.
    with pytest.raises(Exception, match="401"):
        signed_request(receiver, wall_clock=lambda: time.time() - 3600)
    request = receiver.sandbox.requests[-1]
    with pytest.raises(example["InvalidSignature"], match="five minutes"):
        example["verify"](SANDBOX_SECRET, dict(request.headers), request.body)
