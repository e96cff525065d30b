"""People as Meta matches them: identifiers normalized and hashed by Meta's rules, and
the ``payload`` of a Custom Audience users request.

Meta's rules for customer lists: an e-mail address trimmed and lowercased; a phone number
as digits only, with its country code and without symbols, letters or leading zeros; each
then SHA-256 hashed as lowercase hex. The contracts' toolkit does exactly that
(:func:`~spokehub_contracts.hash_identifier`: e-mails normalized and lowercased, phones as
E.164 without the ``+``), so the hub and every ad-platform spoke hash alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import zip_longest
from typing import Any

from spokehub_contracts import Identifier, hash_identifier, sha256_hex

#: Most rows one users request may carry, as Meta documents.
MAX_USERS_PER_REQUEST = 10_000

#: One person as Meta matches them: (SHA-256 of the e-mail, SHA-256 of the phone), either
#: may be empty.
Row = tuple[str, str]


def meta_hash(type_: str, value: str) -> str:
    """The SHA-256 Meta matches a raw ``value`` of identifier type ``email`` or ``phone``
    on: normalized by Meta's rules, then hashed.

    :raises ValidationFailed: the value is no e-mail address or phone number.
    """
    return hash_identifier(type_, value)


def identifier_hash(identifier: Identifier) -> str:
    """:func:`meta_hash` of an :class:`~spokehub_contracts.Identifier`, whose value the
    contracts normalized when it was made (an e-mail trimmed and lowercased, a phone in
    E.164): only the phone's ``+`` is left to drop. Normalizing again would cost as much
    as the rest of a 10,000-row request."""
    value = identifier.value
    return sha256_hex(value.removeprefix("+") if identifier.type == "phone" else value)


def rows_of(identifiers: Iterable[Identifier]) -> list[Row]:
    """The rows that name one person: their e-mail addresses and phone numbers paired in
    order (a person with two addresses and one phone gives two rows, the second without a
    phone), duplicates dropped. Identifiers of other types are not sent to Meta."""
    emails: list[str] = []
    phones: list[str] = []
    for identifier in identifiers:
        found = {"email": emails, "phone": phones}.get(identifier.type)
        if found is None:
            continue
        hashed = identifier_hash(identifier)
        if hashed not in found:
            found.append(hashed)
    return [(email, phone) for email, phone in zip_longest(emails, phones, fillvalue="")]


def payload(rows: Sequence[Row]) -> dict[str, Any]:
    """The ``payload`` parameter for ``rows``: ``EMAIL_SHA256`` (or ``PHONE_SHA256``) with a
    flat list of hashes when every row has that one key, else the multi-key schema
    ``["EMAIL", "PHONE"]`` with one ``[email, phone]`` pair a row, an unknown key left
    empty."""
    has_email = any(email for email, _ in rows)
    has_phone = any(phone for _, phone in rows)
    if not has_phone:
        return {"schema": "EMAIL_SHA256", "data": [email for email, _ in rows]}
    if not has_email:
        return {"schema": "PHONE_SHA256", "data": [phone for _, phone in rows]}
    return {"schema": ["EMAIL", "PHONE"], "data": [[email, phone] for email, phone in rows]}
