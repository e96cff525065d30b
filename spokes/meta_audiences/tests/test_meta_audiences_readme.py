"""The README's config example is valid, and so is its lookalike example's call."""

from __future__ import annotations

import re
from pathlib import Path

from spokehub_contracts.testing import readme_blocks, readme_connection
from spokehub_meta_audiences import MetaAudiencesDestination
from spokehub_meta_audiences.testing import SANDBOX_ACCESS_TOKEN

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_config_example_validates() -> None:
    _, name, connection = readme_connection(README, "meta_audiences", "destination")
    # ${META_ACCESS_TOKEN} comes from the environment.
    config = {**connection["config"], "access_token": SANDBOX_ACCESS_TOKEN}
    model = MetaAudiencesDestination.Config.model_validate(config)
    assert model.ad_account_id == "1234567890"
    MetaAudiencesDestination(model, connection=name)


def test_readme_lookalike_example_calls_the_helper_as_it_is() -> None:
    [code] = readme_blocks(README, "python")
    call = re.search(r"create_lookalike\((.*?)\)", code, re.DOTALL)
    assert call is not None
    assert '"recent_buyers", country="US", ratio=0.01' in " ".join(call.group(1).split())
    assert hasattr(MetaAudiencesDestination, "create_lookalike")
