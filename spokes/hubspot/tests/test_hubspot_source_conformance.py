"""The contracts' conformance suite, run against the HubSpot sandbox for the source."""

from __future__ import annotations

from hubspot_source_vendor import ticking

from spokehub_contracts.testing import FakeClock, SpokeConformance
from spokehub_hubspot import HubSpotSource
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox


class TestHubSpotSourceConformance(SpokeConformance):
    spoke = HubSpotSource
    # Small pages, so that the suite's paging faults fall inside a read.
    config = {"access_token": SANDBOX_ACCESS_TOKEN, "page_size": 20}
    sandbox = HubSpotSandbox
    config_schema_file = "hubspot_source_config_schema.json"

    def make_sandbox(self, clock: FakeClock) -> HubSpotSandbox:
        """A portal of 90 contacts at 45 companies (pages of both)."""
        sandbox = HubSpotSandbox(clock=clock, now=ticking())
        sandbox.seed(contacts=90, companies=45)
        return sandbox
