"""pydantic models built from the contract: one per event's properties and per trait set.

The same models validate in the pipeline and produce the exported JSON Schema, so a client
team's CI and the hub can never disagree. Validation runs in strict JSON mode: ``"5"`` is
not a number, as in JSON Schema.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from spokehub_contracts import ValidationFailed, normalize_email

from .spec import EventSpec, FieldSpec

_SAFE = re.compile(r"[^A-Za-z0-9_]")


def _valid_email(value: str) -> str:
    # The identifier's own check (cached), so the e-mail trait an identify carries is
    # checked once for the contract and its identifier both; the value is kept as sent.
    try:
        normalize_email(value)
    except ValidationFailed:
        raise ValueError("value is not a valid email address") from None
    return value


#: A string that is an e-mail address (``format: email`` in the exported JSON Schema).
Email = Annotated[
    str, AfterValidator(_valid_email), WithJsonSchema({"type": "string", "format": "email"})
]


def _python_type(spec: FieldSpec) -> Any:
    if spec.enum is not None:
        return Literal[tuple(spec.enum)]  # type: ignore[valid-type]
    return {
        "string": str,
        "number": float,
        "integer": int,
        "boolean": bool,
        "datetime": datetime,
        "email": Email,
        "object": dict[str, Any],
        "array": list[Any],
    }[spec.type]


def _field(key: str, spec: FieldSpec) -> tuple[Any, Any]:
    kwargs: dict[str, Any] = {"description": spec.description or None, "alias": key}
    if spec.minimum is not None:
        kwargs["ge"] = spec.minimum
    if spec.maximum is not None:
        kwargs["le"] = spec.maximum
    if spec.pattern is not None:
        kwargs["pattern"] = spec.pattern
    type_ = _python_type(spec)
    if spec.required:
        return (type_, Field(..., **kwargs))
    return (type_ | None, Field(None, **kwargs))


def build_model(name: str, fields: dict[str, FieldSpec], *, extra: bool = True) -> type[BaseModel]:
    """A strict pydantic model for a property or trait set. Keys that are not Python
    identifiers (``Order ID``) are kept as aliases."""
    definitions: dict[str, Any] = {}
    for key, spec in fields.items():
        attr = "f_" + _SAFE.sub("_", key)
        definitions[attr] = _field(key, spec)
    config = ConfigDict(
        strict=True,
        extra="allow" if extra else "forbid",
        populate_by_name=False,
        hide_input_in_errors=True,
        title=name,
    )
    return create_model(_SAFE.sub("_", name) or "Model", __config__=config, **definitions)


@cache
def _cached(name: str, key: str, extra: bool, fields_json: str) -> type[BaseModel]:
    from pydantic import TypeAdapter

    fields = TypeAdapter(dict[str, FieldSpec]).validate_json(fields_json)
    return build_model(name, fields, extra=extra)


def event_model(name: str, spec: EventSpec) -> type[BaseModel]:
    """The properties model of event ``name`` (cached on the spec's content)."""
    import orjson

    payload = orjson.dumps({k: v.model_dump() for k, v in spec.properties.items()}).decode()
    return _cached(name, "event", spec.additional_properties, payload)


def traits_model(kind: str, fields: dict[str, FieldSpec]) -> type[BaseModel]:
    import orjson

    payload = orjson.dumps({k: v.model_dump() for k, v in fields.items()}).decode()
    return _cached(f"{kind} traits", "traits", True, payload)
