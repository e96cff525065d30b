"""The destination's configuration: where the warehouse is and which schema it writes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator

from spokehub_contracts import SpokeConfig

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class PostgresConfig(SpokeConfig):
    """``url`` is a libpq URL and may hold a password, so it is a secret as a whole."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: SecretStr = Field(
        description="postgresql://user:password@host:5432/database (libpq's URL; query"
        " parameters such as sslmode=require pass through)"
    )
    schema_: str = Field(
        default="spokehub",
        alias="schema",
        description="the schema the tables live in, created if missing",
    )

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in _SCHEMES:
            raise ValueError("must be a postgresql:// URL (postgresql://user@host:5432/db)")
        return value

    @field_validator("schema_")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _SCHEMA.match(value):
            raise ValueError("must be a plain lower-case SQL name (letters, digits, _; at most 63)")
        return value

    def conninfo(self) -> str:
        """The URL as libpq takes it (SQLAlchemy's ``+psycopg`` driver suffix dropped)."""
        url = self.url.get_secret_value()
        return (
            "postgresql" + url[len("postgresql+psycopg") :]
            if url.startswith("postgresql+psycopg")
            else url
        )

    def password(self) -> str | None:
        """The password in the URL, if any: kept out of every message."""
        return urlsplit(self.url.get_secret_value()).password
