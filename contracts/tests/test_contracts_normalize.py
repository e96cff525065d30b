"""Identifier normalization: the invariants identity resolution depends on."""

from __future__ import annotations

import hashlib
import re

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from spokehub_contracts import (
    ValidationFailed,
    hash_identifier,
    normalize_email,
    normalize_identifier,
    normalize_phone,
    sha256_hex,
)

REGIONS = ("US", "DE", "GB", "FR", "NL", "IN", "BR", "JP", "ES", "AU")


def _example_mobile(region: str) -> phonenumbers.PhoneNumber:
    number = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert number is not None, region
    return number


@st.composite
def written_phones(draw: st.DrawFn) -> tuple[str, str, str]:
    """(region, the number as a person might write it, its E.164 form)."""
    region = draw(st.sampled_from(REGIONS))
    number = _example_mobile(region)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    style = draw(st.sampled_from(["national", "international", "e164", "00"]))
    if style == "national":
        text = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    elif style == "international":
        text = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    elif style == "e164":
        text = e164
    else:
        text = "00" + e164[1:]
    # Regroup the digits with whatever separators people type.
    groups = re.findall(r"\+?\d+", text)
    if len(groups) > 1 and draw(st.booleans()):
        groups[0 if style == "national" else 1] = f"({groups[0 if style == 'national' else 1]})"
    separators = draw(
        st.lists(
            st.sampled_from([" ", "-", ".", "", " - "]),
            min_size=len(groups) - 1,
            max_size=len(groups) - 1,
        )
    )
    written = groups[0] + "".join(
        sep + group for sep, group in zip(separators, groups[1:], strict=True)
    )
    padding = draw(st.sampled_from(["", " ", "\t", "  "]))
    return region, f"{padding}{written}{padding}", e164


@settings(max_examples=300)
@given(written_phones(), st.sampled_from(REGIONS))
def test_phone_formats_reach_the_same_e164(phone: tuple[str, str, str], other: str) -> None:
    region, written, e164 = phone
    assert normalize_phone(written, default_region=region) == e164
    if written.strip().startswith(("+", "00")):
        # With a country prefix the default region must not matter.
        assert normalize_phone(written, default_region=other) == e164


@pytest.mark.parametrize("region", REGIONS)
def test_every_format_of_each_country(region: str) -> None:
    number = _example_mobile(region)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    for fmt in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL):
        assert normalize_phone(phonenumbers.format_number(number, fmt), region) == e164
    assert normalize_phone("00" + e164[1:], "US") == e164


@settings(max_examples=200)
@given(st.text(alphabet="0123456789 +-().", max_size=20), st.sampled_from(REGIONS))
def test_normalize_phone_is_idempotent(text: str, region: str) -> None:
    try:
        once = normalize_phone(text, region)
    except ValidationFailed:
        return
    assert once.startswith("+")
    assert normalize_phone(once, region) == once
    assert normalize_phone(once, None) == once


@pytest.mark.parametrize("text", ["", "   ", "phone", "12", "+", "0049"])
def test_not_a_phone_number(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_phone(text)
    assert caught.value.field == "phone"


def test_a_national_number_without_region_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        normalize_phone("030 1234567", default_region=None)


_emails = st.emails(domains=st.sampled_from(["example.com", "mail.example.co.uk", "example.org"]))


@settings(max_examples=200)
@given(_emails, st.sampled_from(["", " ", "\t", " \n "]))
def test_email_case_and_space_variants_agree(email: str, space: str) -> None:
    try:
        normalized = normalize_email(email)
    except ValidationFailed:
        assume(False)
    assert normalized == normalized.strip().lower()
    assert normalize_email(normalized) == normalized
    assert normalize_email(email.upper()) == normalized
    assert normalize_email(f"{space}{email.swapcase()}{space}") == normalized


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
        ("ADA+news@example.org", "ada+news@example.org"),
        ("\tgrace@EXAMPLE.co.uk\n", "grace@example.co.uk"),
    ],
)
def test_email_examples(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "ada", "ada@", "@example.com", "ada@@example.com", "a b@x.com"]
)
def test_invalid_email_names_the_rule_not_the_value(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_email(raw)
    assert str(caught.value) == "email: is not a valid e-mail address"


@settings(max_examples=200)
@given(
    st.sampled_from(["user_id", "anonymous_id", "shopify:customer_id", "hubspot:contact_id"]),
    st.text(min_size=1, max_size=40),
)
def test_normalize_identifier_is_idempotent(type_: str, value: str) -> None:
    try:
        once = normalize_identifier(type_, value)
    except ValidationFailed:
        assume(False)
    assert normalize_identifier(type_, once) == once
    # IDs keep their case: systems treat "AbC" and "abc" as different customers.
    assert once == value.strip()


@settings(max_examples=100)
@given(_emails)
def test_normalize_identifier_email_is_idempotent(email: str) -> None:
    try:
        once = normalize_identifier("email", email)
    except ValidationFailed:
        assume(False)
    assert normalize_identifier("email", once) == once


@settings(max_examples=100)
@given(written_phones())
def test_normalize_identifier_phone_is_idempotent(phone: tuple[str, str, str]) -> None:
    region, written, e164 = phone
    assert normalize_identifier("phone", written, region) == e164
    assert normalize_identifier("phone", e164, region) == e164


def test_normalize_identifier_refuses_unknown_types_and_empty_values() -> None:
    with pytest.raises(ValidationFailed, match="unknown identifier type"):
        normalize_identifier("Customer ID", "42")
    with pytest.raises(ValidationFailed, match="must not be empty"):
        normalize_identifier("user_id", "   ")
    with pytest.raises(ValidationFailed, match="must not be empty"):
        normalize_identifier("user_id", None)
    assert normalize_identifier("shopify:customer_id", 42) == "42"


def test_sha256_known_vectors() -> None:
    assert sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    # What Meta, Google and TikTok match on for " Ada.Lovelace@Example.COM ".
    expected = "e814ff3dc480a94c7ce9334062ec4733c75a002f4bcec0197f62ffea64059e2f"
    assert hash_identifier("email", "  Ada.Lovelace@Example.COM ") == expected
    assert sha256_hex("ada.lovelace@example.com") == expected


def test_hash_identifier_for_phone_hashes_digits_without_plus() -> None:
    digest = hash_identifier("phone", "+1 (201) 555-0123")
    assert digest == hashlib.sha256(b"12015550123").hexdigest()
    assert hash_identifier("phone", "(201) 555-0123", "US") == digest
    assert hash_identifier("phone", "001 201 555 0123", "DE") == digest


@settings(max_examples=100)
@given(written_phones())
def test_hash_identifier_phone_agrees_across_formats(phone: tuple[str, str, str]) -> None:
    region, written, e164 = phone
    assert hash_identifier("phone", written, region) == sha256_hex(e164.lstrip("+"))
