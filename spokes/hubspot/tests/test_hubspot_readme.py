"""The README's config example is valid, and its claims about the defaults hold."""

from __future__ import annotations

from pathlib import Path

from spokehub_contracts.testing import readme_connection
from spokehub_hubspot import (
    DEFAULT_COMPANY_PROPERTIES,
    DEFAULT_CONTACT_PROPERTIES,
    HubSpotDestination,
)
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, SANDBOX_READ_ONLY_TOKEN

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_config_example_validates() -> None:
    project, name, connection = readme_connection(README, "hubspot", "destination")
    # ${HUBSPOT_ACCESS_TOKEN} comes from the environment.
    config = {**connection["config"], "access_token": SANDBOX_ACCESS_TOKEN}
    model = HubSpotDestination.Config.model_validate(config)
    assert model.contact_mapping()["churn_risk"] == "scores.churn_risk"
    assert "date_of_birth" not in model.contact_mapping()
    HubSpotDestination(model, connection=name)
    [route] = project["routes"]
    assert set(route["kinds"]) == set(HubSpotDestination.capabilities.record_kinds)


def test_readme_names_the_sandbox_tokens_and_the_default_mapping() -> None:
    assert SANDBOX_ACCESS_TOKEN in README and SANDBOX_READ_ONLY_TOKEN in README
    for prop in (*DEFAULT_CONTACT_PROPERTIES, *DEFAULT_COMPANY_PROPERTIES):
        assert f"`{prop}`" in README, prop
