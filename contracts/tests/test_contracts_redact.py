"""Redaction: secrets and raw personal data never survive into text we emit."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from spokehub_contracts import MASK, is_sensitive_key, redact

TOKEN = "sk_live_9f8e7d6c5b4a3f2e1d0c"


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("customer ada.lovelace@example.com complained", "ada.lovelace", "customer"),
        ("search?q=ada%40example.com&page=2", "ada%40example", "page=2"),
        ('{"email": "grace@example.org", "name": "Grace"}', "grace@", '"name": "Grace"'),
        ("rang from +44 20 7946 0958 today", "7946", "rang from"),
        ("call (201) 555-0123 or 201.555.0123", "555", "call"),
        ("mobile 015112345678", "015112345678", "mobile"),
        ("intl 004915112345678", "4915112345678", "intl"),
        (f"Authorization: Bearer {TOKEN}", TOKEN, "Authorization"),
        (f"sent with bearer {TOKEN}.", TOKEN, "sent with"),
        ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw", "Basic"),
        (f"/v1/contacts?api_key={TOKEN}&limit=10", TOKEN, "limit=10"),
        (f"https://x.example/?key={TOKEN}", TOKEN, "x.example"),
        (f'{{"client_secret": "{TOKEN}", "scope": "crm"}}', TOKEN, '"scope": "crm"'),
        (f"{{'password': '{TOKEN}'}}", TOKEN, "password"),
        (f"access_token={TOKEN}", TOKEN, "access_token="),
        (f"X-Api-Key: {TOKEN}", TOKEN, "X-Api-Key"),
    ],
)
def test_redact_masks(text: str, gone: str, kept: str) -> None:
    redacted = redact(text)
    assert gone not in redacted
    assert kept in redacted
    assert MASK in redacted


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:30:00Z",
        "order 123456 shipped",
        "id 550e8400-e29b-41d4-a716-446655440000",
        "sha e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "https://api.example.com/v3/objects/contacts",
        "the author wrote 3 tokens",
        "version 1.2.3 on 10.0.0.1",
    ],
)
def test_redact_keeps_what_is_not_personal(text: str) -> None:
    assert redact(text) == text


REGIONS = ["US", "DE", "GB", "FR", "NL", "IN", "BR", "JP"]


# Addresses as people have them; RFC oddities such as "/" or "=" in the local part are
# masked from that character on, which is the price of leaving URLs readable.
_emails = st.builds(
    "{}@{}".format,
    st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,18}[A-Za-z0-9])?", fullmatch=True),
    st.emails().map(lambda address: address.rsplit("@", 1)[1]),
)


@settings(max_examples=100)
@given(
    _emails,
    st.sampled_from(REGIONS),
    st.sampled_from([PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL]),
    st.text(alphabet="abc XYZ:,;", max_size=10),
)
def test_redact_hides_any_email_and_phone(
    email: str, region: str, fmt: PhoneNumberFormat, filler: str
) -> None:
    number = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    phone = phonenumbers.format_number(number, fmt)
    text = f"{filler} {email} {filler} tel {phone} {filler}"
    redacted = redact(text)
    assert email not in redacted
    assert phone not in redacted
    assert phonenumbers.format_number(number, PhoneNumberFormat.E164)[-7:] not in redacted
    assert redact(redacted) == redacted


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "Authorization",
        "X-Api-Key",
        "client_secret",
        "refresh_token",
        "password",
        "write_key",
        "email",
        "phone",
        "key",
        "Cookie",
        # Person traits whose PII class is contact or sensitive.
        "first_name",
        "lastName",
        "birthday",
    ],
)
def test_sensitive_keys(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["title", "author", "monkey", "plan", "base_url", "keys_total"])
def test_ordinary_keys(key: str) -> None:
    assert not is_sensitive_key(key)
