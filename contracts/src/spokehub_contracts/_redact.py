"""Masking of secrets and raw personal data in free text.

One set of patterns serves every place text leaves the process: the toolkit's HTTP client
runs vendor messages and URLs through :func:`redact` before they reach an exception, and
the hub's log redaction does the same for every log line. What is masked:

- e-mail addresses, also URL-encoded (``ada%40example.com``);
- phone-number-like digit runs: an optional ``+``, then 7 or more digits, possibly grouped
  by single spaces, dashes, dots, slashes or parentheses (ISO dates are left alone);
- bearer and basic credentials (``Bearer eyJ…``) and ``Authorization`` header values;
- values of keys named like a secret (``api_key=…``, ``"password": "…"``, ``token: …``).

Masking errs on the side of hiding: an order number of seven digits is masked too, since a
log line that lost an order number is a nuisance while one that kept a phone number is a
breach.
"""

from __future__ import annotations

import re

#: What a masked value is replaced with.
MASK = "***"

# Key names that hold secrets, for "key = value" pairs in text. "auth" and "key" only count
# as whole words so that "author" or "monkey" stay readable.
_SECRET_KEY_WORDS = (
    r"secret|token|passw(?:or)?d|pwd|api[_-]?key|write[_-]?key|authori[sz]ation|credential"
    r"|signature|private[_-]?key|access[_-]?key|cookie|session[_-]?id"
    r"|(?<![a-z0-9])auth(?![a-z0-9])|(?<![a-z0-9])key(?![a-z0-9])"
)
# Structured data also masks whole values under keys that hold direct identifiers, since a
# phone number written in an unusual format could slip past the text patterns.
_SENSITIVE_KEY = re.compile(_SECRET_KEY_WORDS + r"|e-?mail|phone", re.IGNORECASE)
# Credentials only: the conformance kit requires config fields named so to be SecretStr.
SECRET_KEY = re.compile(_SECRET_KEY_WORDS, re.IGNORECASE)

_AUTH_HEADER = re.compile(
    r"""(?P<key>\b(?:proxy-)?authori[sz]ation\b["']?\s*[:=]\s*)(?P<q>["']?)(?P<val>[^"'\r\n]+)""",
    re.IGNORECASE,
)
_SCHEME_CREDENTIAL = re.compile(
    r"\b(?P<scheme>bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE
)
_KEY_VALUE = re.compile(
    r"(?P<key>[\w.-]*(?:" + _SECRET_KEY_WORDS + r")[\w.-]*[\"']?\s*[:=]\s*)"
    r"(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[^\s&,;\"'}\])]+))",
    re.IGNORECASE,
)
# The local part leaves out "/", "?", "=", "&" and quotes, which RFC 5322 allows but which
# in practice delimit the address in URLs, query strings and JSON.
_EMAIL = re.compile(r"[\w.!#$%*+^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(
    r"(?<![\w+\-./])"  # not the tail of a longer token (an id, a version, a decimal)
    r"(?!\d{4}-\d{2}-\d{2}(?!\d))"  # an ISO date is not a phone number
    r"\+?\(?\d(?:[ .\-/()]{0,2}\d){6,}"
    r"(?![\w\-])"
)


def is_sensitive_key(key: str) -> bool:
    """True if a value stored under ``key`` must be masked whole: secrets (``api_key``,
    ``Authorization``, ``client_secret``, ``refresh_token``, ``password``), direct
    identifiers (``email``, ``phone``) and every person trait whose PII class is
    ``contact`` or ``sensitive`` (``first_name``, ``lastName``, ``address``, ``birthday``)."""
    return bool(_SENSITIVE_KEY.search(key)) or _folded(key) in _personal_fields()


def _folded(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


_PERSONAL: frozenset[str] | None = None


def _personal_fields() -> frozenset[str]:
    # Read from the schema's PII classes on first use (the schema imports this module).
    global _PERSONAL
    if _PERSONAL is None:
        from ._schema import Person, pii_classes

        _PERSONAL = frozenset(
            _folded(name) for name, kind in pii_classes(Person).items() if kind != "none"
        )
    return _PERSONAL


def _mask_key_value(match: re.Match[str]) -> str:
    if match.group("dq") is not None:
        return f'{match.group("key")}"{MASK}"'
    if match.group("sq") is not None:
        return f"{match.group('key')}'{MASK}'"
    return f"{match.group('key')}{MASK}"


def redact(text: str) -> str:
    """Return ``text`` with secrets and raw personal data replaced by ``***``.

    Pure and idempotent; safe to apply to any log line or error message.
    """
    if not text:
        return text
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('key')}{m.group('q')}{MASK}", text)
    text = _SCHEME_CREDENTIAL.sub(lambda m: f"{m.group('scheme')} {MASK}", text)
    text = _KEY_VALUE.sub(_mask_key_value, text)
    text = _EMAIL.sub(MASK, text)
    return _PHONE.sub(MASK, text)
