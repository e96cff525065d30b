"""The README's config example is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from spokehub_contracts.testing import readme_connection
from spokehub_postgres import PostgresDestination

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_config_example_validates() -> None:
    _, name, connection = readme_connection(README, "postgres", "destination")
    config = {**connection["config"], "url": "postgresql://spokehub@db.example.com/analytics"}
    spoke = PostgresDestination(PostgresDestination.Config.model_validate(config), connection=name)
    assert spoke.config.schema_ == "spokehub"


def test_the_config_refuses_other_urls_and_schema_names() -> None:
    for bad in (
        {"url": "mysql://db/x"},
        {"url": "postgresql://db/x", "schema": "Robert'); DROP"},
    ):
        with pytest.raises(ValueError):
            PostgresDestination.Config.model_validate(bad)
