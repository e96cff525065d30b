"""The contracts' conformance suite, run against the Klaviyo source and its sandbox."""

from datetime import UTC, datetime, timedelta

from spokehub_contracts.testing import FakeClock, SpokeConformance
from spokehub_klaviyo import KlaviyoSource
from spokehub_klaviyo.testing import SANDBOX_API_KEY, KlaviyoSandbox

#: A config that works against the sandbox: webhooks and the pull.
CONFIG = {"api_key": SANDBOX_API_KEY, "webhook_secret": "whsec-klaviyo-sandbox-secret"}
T0 = datetime(2024, 6, 1, tzinfo=UTC)


class TestKlaviyoSourceConformance(SpokeConformance):
    spoke = KlaviyoSource
    config = CONFIG
    sandbox = KlaviyoSandbox
    config_schema_file = "klaviyo_source_config_schema.json"

    def make_sandbox(self, clock: FakeClock) -> KlaviyoSandbox:
        """Seven people who changed their minds a minute apart, three events a page."""
        sandbox = KlaviyoSandbox(clock=clock)
        sandbox.events_page_size = 3
        for n in range(7):
            profile, _ = sandbox._upsert({"email": f"person{n}@example.com"})
            consent = "UNSUBSCRIBED" if n % 3 else "SUBSCRIBED"
            channel = "sms" if n == 4 else "email"
            sandbox.set_consent(profile["id"], channel, consent, at=T0 + timedelta(minutes=n))
        return sandbox
