"""SpokeHarness: a spoke built for its vendor's sandbox on a test clock, written to and
read from, with the sandbox's requests at hand."""

from __future__ import annotations

from typing import Any

from demo_vendor import API_KEY, WEBHOOK_SECRET, DemoDestination, DemoSandbox, DemoSource

from spokehub_contracts import Delivered, Identifier, Person, RateLimit, UpsertPerson
from spokehub_contracts.testing import FakeClock, SpokeHarness


class DemoCrm(SpokeHarness[DemoDestination, DemoSandbox]):
    spoke = DemoDestination
    connection = "crm"

    def sandbox_config(self) -> dict[str, Any]:
        return {"base_url": self.sandbox.url, "api_key": API_KEY}


class DemoContacts(SpokeHarness[DemoSource, DemoSandbox]):
    spoke = DemoSource
    connection = "contacts"

    def sandbox_config(self) -> dict[str, Any]:
        return {"base_url": self.sandbox.url, "api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET}


def _upsert(n: int) -> UpsertPerson:
    email = f"person{n}@example.com"
    return UpsertPerson(
        item_id=f"p-{n}",
        contact_id=f"c-{n}",
        identifiers=(Identifier(type="email", value=email),),
        person=Person(email=email),
    )


def test_a_write_reaches_the_sandbox_and_its_requests_are_listed() -> None:
    clock = FakeClock()
    with DemoCrm.serving(DemoSandbox(clock=clock), clock) as crm:
        outcomes = crm.write([_upsert(1), _upsert(2)])
        assert [type(o) for o in outcomes] == [Delivered, Delivered]
        assert set(crm.sandbox.stored) == {"person1@example.com", "person2@example.com"}
        [body] = crm.bodies("/contacts/batch")
        assert [c["ref"] for c in body["contacts"]] == ["p-1", "p-2"]
        assert crm.requests("/v1/me") == []


def test_config_overrides_reach_the_spoke() -> None:
    clock = FakeClock()
    with DemoCrm.serving(DemoSandbox(clock=clock), clock) as crm:
        assert crm.config().api_key.get_secret_value() == API_KEY
        refused = crm.run(lambda spoke: spoke.check(), api_key="not-the-key")
        assert refused.status == "auth_error"


def test_a_read_sorts_records_and_checkpoints_and_resumes_from_its_state() -> None:
    clock = FakeClock()
    sandbox = DemoSandbox(clock=clock, rate_limit={"default": RateLimit(requests=2, per_seconds=1)})
    with DemoContacts.serving(sandbox, clock) as contacts:
        first = contacts.read("contacts")
        assert len(first.of_kind("person")) == 23 and first.rejected == []
        assert len(first.checkpoints) == 5
        again = contacts.read("contacts", first.state)
        assert again.records == [] and again.state == first.state
    # Throttled by the sandbox, the client waited on the test clock, not the wall.
    assert clock.slept
