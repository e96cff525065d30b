"""Identifier normalization and hashing.

Two records name the same person only if their identifiers agree byte for byte, so every
identifier is normalized the same way everywhere: in the hub before resolution, in a spoke
before matching, in the ad-platform spokes before hashing. All functions here are pure and
idempotent (``f(f(x)) == f(x)``).
"""

from __future__ import annotations

import functools
import hashlib
import re

from ._errors import ValidationFailed

#: Identifier types the hub knows without configuration. Anything else must be namespaced
#: as ``system:key`` (``shopify:customer_id``).
BUILTIN_IDENTIFIER_TYPES: tuple[str, ...] = ("user_id", "anonymous_id", "email", "phone")

_NAMESPACED = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


# Bounded caches: the same addresses and numbers come round again and again (every event
# of a known person, a batch's look-ups, a destination's hashing), and their syntax check
# costs more than everything else an identifier needs. Failures are not cached.
@functools.lru_cache(maxsize=65536)
def normalize_email(value: str) -> str:
    """Trim, lowercase and syntax-check an e-mail address (no DNS lookups).

    :raises ValidationFailed: when the address is not syntactically valid.
    """
    # Loaded on the first address, like phonenumbers below: importing the contracts should
    # not compile a syntax checker for a process that never reads an e-mail address.
    from email_validator import EmailNotValidError, validate_email

    candidate = value.strip().lower()
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        # The library's message quotes the address; ours must not carry raw PII.
        raise ValidationFailed("email", "is not a valid e-mail address") from exc
    return result.normalized.lower()


@functools.lru_cache(maxsize=65536)
def normalize_phone(value: str, default_region: str | None = "US") -> str:
    """Parse a phone number into E.164 (``+4915112345678``).

    Numbers without a country prefix are read in ``default_region`` (ISO 3166 alpha-2).

    :raises ValidationFailed: when the number cannot be parsed or is not a possible number.
    """
    # Loaded on the first number, not with the contracts: its metadata is a large import.
    import phonenumbers

    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed("phone", "is not a phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValidationFailed("phone", "is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def check_identifier_type(type_: str) -> str:
    """Return ``type_`` if it is a built-in or a namespaced (``system:key``) type.

    :raises ValidationFailed: for anything else.
    """
    if type_ in BUILTIN_IDENTIFIER_TYPES or _NAMESPACED.match(type_):
        return type_
    raise ValidationFailed(
        "identifier.type",
        f"unknown identifier type {type_!r}: use one of {', '.join(BUILTIN_IDENTIFIER_TYPES)}"
        " or a namespaced type such as 'shopify:customer_id'",
    )


def normalize_identifier(type_: str, value: object, default_region: str | None = "US") -> str:
    """Normalize ``value`` for identifier type ``type_``.

    E-mails and phones get their own rules; every other type is trimmed text (IDs are
    case-sensitive in most systems, so their case is kept).
    """
    check_identifier_type(type_)
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ValidationFailed(type_, "must not be empty")
    if type_ == "email":
        return normalize_email(text)
    if type_ == "phone":
        return normalize_phone(text, default_region)
    return text


def sha256_hex(normalized: str) -> str:
    """SHA-256 of an already-normalized value, as lowercase hex (what ad platforms match on)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def hash_identifier(type_: str, value: str, default_region: str | None = "US") -> str:
    """Normalize then hash, the way Meta, Google and TikTok expect e-mails and phones.

    Phones are hashed as E.164 digits without the leading ``+``, as those platforms ask.
    """
    normalized = normalize_identifier(type_, value, default_region)
    if type_ == "phone":
        normalized = normalized.lstrip("+")
    return sha256_hex(normalized)
