"""The contracts' conformance suite, run against Klaviyo's sandbox."""

from spokehub_contracts.testing import SpokeConformance
from spokehub_klaviyo import KlaviyoDestination
from spokehub_klaviyo.testing import SANDBOX_API_KEY, KlaviyoSandbox

#: A config that works against the sandbox.
CONFIG = {"api_key": SANDBOX_API_KEY}


class TestKlaviyoConformance(SpokeConformance):
    spoke = KlaviyoDestination
    config = CONFIG
    sandbox = KlaviyoSandbox
    config_schema_file = "klaviyo_config_schema.json"
