"""The contracts' conformance suite, run against the sandbox receiver."""

from spokehub_contracts.testing import SpokeConformance
from spokehub_webhook import WebhookDestination
from spokehub_webhook.testing import SANDBOX_SECRET, WebhookReceiverSandbox


class TestWebhookConformance(SpokeConformance):
    spoke = WebhookDestination
    config = {"url": "https://orders.example.com/hooks/spokehub", "secret": SANDBOX_SECRET}
    sandbox = WebhookReceiverSandbox
    base_url_field = "url"
    # The secret signs what the hub sends, like a webhook source's: it is no credential
    # the suite could replace with any string (a Standard Webhooks secret has a format).
    # A wrong secret is tested in test_webhook_destination.py.
    webhook_secret_field = "secret"
    config_schema_file = "webhook_config_schema.json"
