"""A route's field ``mapping``: extra, destination-named fields copied from the change.

Meaning chosen: ``mapping`` maps a *destination field name* to a *path in the change*,
``{"plan_tier": "attributes.plan", "churn": "scores.churn_risk", "city": "address.city"}``
(Segment and Hightouch write their mappings in the same direction). The value found at
the path is added under the destination name to the change's free-form bag: a person's
or account's ``attributes``, an event's ``properties``. Typed fields are left as they
are, so every spoke still receives a valid change, and a spoke that sends custom fields
sends the mapped ones with no code of its own. Paths are read from the person (with
``scores.*`` for a model score's value, ``score_details.<name>.model`` and
``.computed_at`` for where and when it was computed, ``consents.<purpose>`` for a consent
decision, true or false, and ``contact_id``), the account, or the event (``properties.*``,
``context.*``, ``traits.*``). A path that holds nothing is skipped; memberships,
audience changes and erasures carry no mappable fields and pass unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spokehub_contracts import Change, TrackEvent, UpsertAccount, UpsertPerson

_MISSING = object()


def apply_mapping(change: Change, mapping: Mapping[str, str]) -> Change:
    """``change`` with the mapped fields added (the original is left untouched)."""
    if not mapping:
        return change
    if isinstance(change, UpsertPerson):
        source = {
            **change.person.model_dump(mode="json"),
            "scores": change.scores,
            "score_details": {
                name: score.model_dump(mode="json") for name, score in change.score_details.items()
            },
            "consents": change.consents,
            "contact_id": change.contact_id,
        }
        extra = _pick(source, mapping)
        person = change.person.model_copy(
            update={"attributes": {**change.person.attributes, **extra}}
        )
        return change.model_copy(update={"person": person})
    if isinstance(change, UpsertAccount):
        extra = _pick(change.account.model_dump(mode="json"), mapping)
        account = change.account.model_copy(
            update={"attributes": {**change.account.attributes, **extra}}
        )
        return change.model_copy(update={"account": account})
    if isinstance(change, TrackEvent):
        extra = _pick(change.event.model_dump(mode="json"), mapping)
        event = change.event.model_copy(update={"properties": {**change.event.properties, **extra}})
        return change.model_copy(update={"event": event})
    return change


def _pick(source: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target, path in mapping.items():
        value = _get(source, path)
        if value is not _MISSING and value is not None:
            out[target] = value
    return out


def _get(source: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(source, Mapping) or part not in source:
            return _MISSING
        source = source[part]
    return source
