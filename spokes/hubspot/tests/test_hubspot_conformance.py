"""The contracts' conformance suite, run against the HubSpot sandbox."""

from __future__ import annotations

from spokehub_contracts import Change, UpsertAccount, UpsertMembership
from spokehub_contracts.testing import SpokeConformance
from spokehub_hubspot import HubSpotDestination
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox


class TestHubSpotConformance(SpokeConformance):
    spoke = HubSpotDestination
    config = {"access_token": SANDBOX_ACCESS_TOKEN, "subscription_ids": {"email_marketing": "7"}}
    sandbox = HubSpotSandbox
    config_schema_file = "hubspot_config_schema.json"

    def example_batch(self) -> list[Change]:
        """The suite's example changes, with accounts HubSpot can match: a company is
        found by its domain, which the suite's made-up ``acct-N`` ids are not."""
        batch = []
        for change in super().example_batch():
            if isinstance(change, UpsertAccount):
                domain = f"org{change.item_id.split('-')[-1]}.example.com"
                account = change.account.model_copy(update={"account_id": domain})
                change = change.model_copy(update={"account": account})
            elif isinstance(change, UpsertMembership):
                domain = f"org{change.item_id.split('-')[-1]}.example.com"
                membership = change.membership.model_copy(update={"account_id": domain})
                change = change.model_copy(update={"membership": membership})
            batch.append(change)
        return batch
