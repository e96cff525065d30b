"""The README's config example is valid, and its claims about the defaults hold."""

from __future__ import annotations

from pathlib import Path

from spokehub_contracts.testing import readme_connection
from spokehub_shopify import DEFAULT_API_VERSION, MAX_PAGE_SIZE, TOPICS, ShopifySource
from spokehub_shopify.testing import SANDBOX_ACCESS_TOKEN, SANDBOX_WEBHOOK_SECRET, SHOP_DOMAIN

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_config_example_validates() -> None:
    _, name, connection = readme_connection(README, "shopify", "source")
    # ${SHOPIFY_…} come from the environment.
    config = {
        **connection["config"],
        "access_token": SANDBOX_ACCESS_TOKEN,
        "webhook_secret": SANDBOX_WEBHOOK_SECRET,
    }
    model = ShopifySource.Config.model_validate(config)
    assert model.api_version == DEFAULT_API_VERSION
    assert model.customers_page_size == MAX_PAGE_SIZE
    ShopifySource(model, connection=name)


def test_readme_names_the_defaults_topics_and_sandbox_keys() -> None:
    for value in (
        DEFAULT_API_VERSION,
        SANDBOX_ACCESS_TOKEN,
        SANDBOX_WEBHOOK_SECRET,
        SHOP_DOMAIN,
        *TOPICS,
    ):
        assert f"`{value}`" in README, value
