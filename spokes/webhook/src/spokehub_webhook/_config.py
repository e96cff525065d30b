"""The configuration of a webhook connection."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from pydantic import ConfigDict, SecretStr, field_validator

from spokehub_contracts import SpokeConfig

#: How Standard Webhooks marks a signing secret: ``whsec_`` and the key in base64.
SECRET_PREFIX = "whsec_"
#: The shortest key the Standard Webhooks spec allows (24 bytes; it recommends 24 to 64).
MIN_KEY_BYTES = 24


def signing_key(secret: SecretStr) -> bytes:
    """The HMAC key of a ``whsec_…`` secret: the bytes its base64 part decodes to."""
    text = secret.get_secret_value().removeprefix(SECRET_PREFIX)
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


class WebhookConfig(SpokeConfig):
    """Configuration of a webhook connection.

    :param url: where each batch is POSTed (``http`` or ``https``); the receiver answers
        2xx to accept it.
    :param secret: the signing secret shared with the receiver, ``whsec_`` followed by
        the base64 of 24 to 64 random bytes, as the Standard Webhooks spec gives it; write
        ``${WEBHOOK_SECRET}`` in spokehub.yaml rather than the secret itself.
    """

    # A mistyped secret is still a secret: errors name the field and the rule, never the input.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: str
    secret: SecretStr

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.strip()

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, value: SecretStr) -> SecretStr:
        # The messages never quote the value: it is the signing key.
        if not value.get_secret_value().startswith(SECRET_PREFIX):
            raise ValueError(f"must start with {SECRET_PREFIX!r} (a Standard Webhooks secret)")
        try:
            key = signing_key(value)
        except (binascii.Error, ValueError):
            raise ValueError(f"the part after {SECRET_PREFIX!r} must be base64") from None
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the key must be at least {MIN_KEY_BYTES} bytes (base64-encoded)")
        return value
