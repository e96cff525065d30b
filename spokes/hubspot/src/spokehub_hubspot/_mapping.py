"""From the hub's changes to HubSpot's properties: which contact or company a change is
about, and the property values it sets.

HubSpot takes every property value as a string: numbers as written, booleans as
``true``/``false``, a date as ``YYYY-MM-DD``, a moment as ISO 8601 in UTC, a list as its
items joined by ``;`` (the form of multiple-checkbox properties). A value the hub does not
have is left out rather than sent empty, since an empty string would clear what someone
typed into HubSpot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from spokehub_contracts import (
    Account,
    AudienceEntered,
    AudienceExited,
    Change,
    Event,
    Identifier,
    UpsertPerson,
    ValidationFailed,
    normalize_email,
)

#: The identifier type the hub records a HubSpot contact id under.
CONTACT_ID_TYPE = "hubspot:contact_id"

_MISSING = object()
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.[a-z]{{2,}}$")
_NOT_IN_A_NAME = re.compile(r"[^a-z0-9_]+")


def read_path(source: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``source`` (mappings), or ``None``. Reaching a list,
    the rest of the path is read in each of its items: ``properties.products.name`` gives
    the name of every product."""
    value = _read(source, path.split("."))
    return None if value is _MISSING else value


def _read(source: Any, parts: list[str]) -> Any:
    for position, part in enumerate(parts):
        if isinstance(source, list | tuple):
            rest = parts[position:]
            found = [_read(item, rest) for item in source]
            return [item for item in found if item is not _MISSING and item is not None]
        if not isinstance(source, Mapping) or part not in source:
            return _MISSING
        source = source[part]
    return source


def property_value(value: Any) -> str | None:
    """``value`` as HubSpot takes a property value, or ``None`` when there is nothing to
    send (``None``, an empty string or list)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list | tuple | set):
        items = [property_value(item) for item in value if not isinstance(item, Mapping)]
        if len(items) != len(value):
            return json.dumps(list(value), default=str, separators=(",", ":"))
        joined = ";".join(item for item in items if item)
        return joined or None
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, separators=(",", ":")) if value else None
    return str(value)


def properties_of(source: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, str]:
    """Each mapped property's value in ``source``, the ones with nothing left out."""
    found: dict[str, str] = {}
    for prop, path in mapping.items():
        value = property_value(read_path(source, path))
        if value is not None:
            found[prop] = value
    return found


def person_source(change: UpsertPerson) -> dict[str, Any]:
    """What a person's mapping paths read: the traits, ``scores`` and ``contact_id``."""
    person = change.person.model_dump(mode="python")
    return {**person, "scores": dict(change.scores), "contact_id": change.contact_id}


def account_source(account: Account) -> dict[str, Any]:
    return account.model_dump(mode="python")


def event_source(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="python", by_alias=False)


def contact_email(change: Change) -> str | None:
    """The e-mail address HubSpot finds the contact by: the person's, else the first
    e-mail identifier; ``None`` when there is none or it is no valid address."""
    candidates: list[str] = []
    if isinstance(change, UpsertPerson) and change.person.email:
        candidates.append(change.person.email)
    candidates += [i.value for i in change.identifiers if i.type == "email"]
    for candidate in candidates:
        try:
            return normalize_email(candidate)
        except ValidationFailed:
            continue
    return None


def contact_id_of(identifiers: tuple[Identifier, ...]) -> str | None:
    """A HubSpot contact id the hub recorded for the person, if any."""
    return next((i.value for i in identifiers if i.type == CONTACT_ID_TYPE), None)


def domain_of(text: str | None) -> str | None:
    """The company domain in ``text`` (a domain, a URL or ``www.`` host), lowercased, or
    ``None`` when it holds none: ``https://www.Acme.com/about`` → ``acme.com``."""
    if not text or not text.strip():
        return None
    candidate = text.strip().lower()
    if "://" not in candidate:
        candidate = "//" + candidate
    try:
        host = urlsplit(candidate).hostname or ""
    except ValueError:
        return None
    host = host.removeprefix("www.")
    return host if _DOMAIN.match(host) else None


def account_domain(account: Account) -> str | None:
    """The domain HubSpot matches the account's company on: its ``domain`` attribute, its
    website's host, or its id when that is a domain."""
    for candidate in (account.attributes.get("domain"), account.website, account.account_id):
        if isinstance(candidate, str) and (found := domain_of(candidate)):
            return found
    return None


def audience_property(audience: str, named: Mapping[str, str], prefix: str = "") -> str:
    """The contact property that says whether a person is in ``audience``: as ``named``
    says, else ``prefix`` and the audience's name in HubSpot's form (``Recent buyers`` →
    ``recent_buyers``)."""
    if audience in named:
        return named[audience]
    name = _NOT_IN_A_NAME.sub("_", audience.strip().lower()).strip("_") or "audience"
    if not name[0].isalpha() and not prefix:
        name = f"audience_{name}"
    return f"{prefix}{name}"


def audience_value(change: AudienceEntered | AudienceExited) -> str:
    """``true`` on entering, ``false`` on leaving (Segment Engage's form for CRMs)."""
    return "true" if isinstance(change, AudienceEntered) else "false"
