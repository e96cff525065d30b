"""The hub's changes in Klaviyo's JSON:API shapes: a profile for ``/api/profile-import``,
an event for ``/api/events``, a profile to erase for ``/api/data-privacy-deletion-jobs``.

Pure functions, so every mapping rule is testable without a request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spokehub_contracts import Event, Identifier, Person

#: Hub identifier type → the profile attribute Klaviyo matches on.
MATCH_KEYS: Mapping[str, str] = {
    "email": "email",
    "phone": "phone_number",
    "user_id": "external_id",
}
#: Person traits Klaviyo has a profile attribute for; the others go to ``properties``.
PROFILE_ATTRIBUTES: Mapping[str, str] = {
    "first_name": "first_name",
    "last_name": "last_name",
    "title": "title",
    "avatar": "image",
}
#: The hub's address fields → Klaviyo's ``location`` keys.
LOCATION_KEYS: Mapping[str, str] = {
    "street": "address1",
    "city": "city",
    "state": "region",
    "postal_code": "zip",
    "country": "country",
}
# Traits already sent as a match key or an attribute (or as the location).
_NOT_PROPERTIES = frozenset({"email", "phone", "address", "attributes", *PROFILE_ATTRIBUTES})
#: Event properties whose number is the event's ``value`` (revenue), in that order.
VALUE_PROPERTIES = ("value", "revenue", "total")


def match_keys(identifiers: Sequence[Identifier]) -> dict[str, str]:
    """The profile attributes Klaviyo matches a person on (``email``, ``phone_number``,
    ``external_id``), the first identifier of each type; empty when there is none."""
    keys: dict[str, str] = {}
    for identifier in identifiers:
        name = MATCH_KEYS.get(identifier.type)
        if name is not None:
            keys.setdefault(name, identifier.value)
    return keys


def profile_attributes(person: Person, identifiers: Sequence[Identifier]) -> dict[str, Any]:
    """The ``attributes`` of a profile for ``/api/profile-import``: the match keys (the
    person's own e-mail and phone when the identifiers name none), Klaviyo's named
    attributes, ``location`` from the address, and every other trait and free-form
    attribute under ``properties``."""
    attributes: dict[str, Any] = match_keys(identifiers)
    if person.email:
        attributes.setdefault("email", person.email)
    if person.phone:
        attributes.setdefault("phone_number", person.phone)
    traits = person.model_dump(mode="json", exclude_none=True)
    for trait, name in PROFILE_ATTRIBUTES.items():
        if trait in traits:
            attributes[name] = traits[trait]
    if person.address is not None:
        address = person.address.model_dump(mode="json", exclude_none=True)
        location = {LOCATION_KEYS[k]: v for k, v in address.items() if k in LOCATION_KEYS}
        if location:
            attributes["location"] = location
    properties = {k: v for k, v in traits.items() if k not in _NOT_PROPERTIES}
    properties.update(person.attributes)
    if properties:
        attributes["properties"] = properties
    return attributes


def profile_body(
    person: Person, identifiers: Sequence[Identifier], scores: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON:API document of a profile upsert; model scores become properties."""
    attributes = profile_attributes(person, identifiers)
    if scores:
        attributes["properties"] = {**attributes.get("properties", {}), **scores}
    return {"data": {"type": "profile", "attributes": attributes}}


def metric_name(event: Event) -> str:
    """The metric an event counts toward: a track's event name, a page's or screen's
    ``Viewed <name>``, else the call type (``Identify``)."""
    if event.event:
        return event.event
    kind = str(event.type.value if hasattr(event.type, "value") else event.type)
    if kind in ("page", "screen"):
        return f"Viewed {event.name}" if event.name else f"Viewed {kind.title()}"
    return kind.title()


def event_value(properties: Mapping[str, Any]) -> float | None:
    """The event's monetary ``value``, from the first numeric value property."""
    for name in VALUE_PROPERTIES:
        value = properties.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def event_body(event: Event, identifiers: Sequence[Identifier]) -> dict[str, Any]:
    """The JSON:API document of ``POST /api/events``: the event's properties, its metric
    by name, the profile it happened to by its match keys, its time, its value and a
    ``unique_id`` (the message id) so that an event sent twice is counted once."""
    attributes: dict[str, Any] = {
        "properties": dict(event.properties),
        "metric": {"data": {"type": "metric", "attributes": {"name": metric_name(event)}}},
        "profile": {"data": {"type": "profile", "attributes": match_keys(identifiers)}},
    }
    if event.timestamp is not None:
        attributes["time"] = event.timestamp.isoformat()
    value = event_value(event.properties)
    if value is not None:
        attributes["value"] = value
    if event.message_id:
        attributes["unique_id"] = event.message_id
    return {"data": {"type": "event", "attributes": attributes}}


def deletion_body(attribute: str, value: str) -> dict[str, Any]:
    """The JSON:API document of a data privacy deletion job for the profile with
    ``attribute`` (``email``, ``phone_number``) equal to ``value``. Klaviyo takes exactly
    one identifier per job."""
    profile = {"data": {"type": "profile", "attributes": {attribute: value}}}
    return {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": profile}}}
