"""A sandbox receiver on a test clock, with the spoke's client routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webhook_receiver import Receiver

from spokehub_contracts.testing import FakeClock, intercept_clients
from spokehub_webhook.testing import WebhookReceiverSandbox


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    clock = FakeClock()
    sandbox = WebhookReceiverSandbox(clock=clock)
    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        yield Receiver(sandbox, clock)
