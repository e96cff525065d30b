"""The contracts' conformance suite, run against the Meta sandbox."""

from spokehub_contracts.testing import SpokeConformance
from spokehub_meta_audiences import MetaAudiencesDestination
from spokehub_meta_audiences.testing import (
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_AD_ACCOUNT_ID,
    MetaSandbox,
)


class TestMetaAudiencesConformance(SpokeConformance):
    spoke = MetaAudiencesDestination
    config = {"access_token": SANDBOX_ACCESS_TOKEN, "ad_account_id": SANDBOX_AD_ACCOUNT_ID}
    sandbox = MetaSandbox
    config_schema_file = "meta_audiences_config_schema.json"
