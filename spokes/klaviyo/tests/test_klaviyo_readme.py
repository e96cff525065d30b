"""The README's config example is valid, and its claims about the defaults hold."""

from __future__ import annotations

from pathlib import Path

from spokehub_contracts.testing import readme_connection
from spokehub_klaviyo import (
    CONSENT_METRICS,
    DEFAULT_REVISION,
    PRODUCTION_URL,
    KlaviyoDestination,
    KlaviyoSource,
)
from spokehub_klaviyo.testing import SANDBOX_API_KEY, SANDBOX_READ_ONLY_KEY

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_config_example_validates() -> None:
    project, name, connection = readme_connection(README, "klaviyo", "destination")
    # ${KLAVIYO_API_KEY} comes from the environment.
    config = {**connection["config"], "api_key": SANDBOX_API_KEY}
    model = KlaviyoDestination.Config.model_validate(config)
    assert model.revision == DEFAULT_REVISION and model.base_url == PRODUCTION_URL
    KlaviyoDestination(model, connection=name)
    [route] = project["routes"]
    assert set(route["kinds"]) == set(KlaviyoDestination.capabilities.record_kinds)


def test_readme_source_example_validates() -> None:
    _, name, connection = readme_connection(README, "klaviyo", "source", example=1)
    config = {**connection["config"], "webhook_secret": "whsec-readme-0123456789"}
    KlaviyoSource(KlaviyoSource.Config.model_validate(config), connection=name)
    for metric, (topic, purpose, granted) in CONSENT_METRICS.items():
        row = f"| {metric} (`{topic}`) | `{purpose.value}` {'granted' if granted else 'denied'} |"
        assert row in README, row


def test_readme_names_the_defaults_and_the_sandbox_keys() -> None:
    for value in (DEFAULT_REVISION, PRODUCTION_URL, SANDBOX_API_KEY, SANDBOX_READ_ONLY_KEY):
        assert f"`{value}`" in README, value
