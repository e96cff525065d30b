"""Checking records against the contract, per source policy.

The pipeline calls :meth:`Checker.check_message` for every Segment message. The verdict
says whether to accept, quarantine or drop the message, and lists every violation with its
field and rule. Offending values never appear in a violation: they may be personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ValidationError

from .models import event_model, traits_model
from .spec import EffectiveContract, EventSpec, FieldSpec, SourcePolicy

Action = Literal["accept", "quarantine", "drop"]


@dataclass(frozen=True)
class FieldViolation:
    """One broken rule: where (``properties.plan``) and what (``required``)."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


@dataclass
class Verdict:
    """What to do with a message, and why.

    ``violations`` are recorded and counted whatever the action (``warn`` mode accepts
    and still counts them); ``dropped_traits`` lists unknown traits removed by a ``drop``
    policy, so a drop is counted too.
    """

    action: Action = "accept"
    violations: list[FieldViolation] = field(default_factory=list)
    mode: str = "enforce"
    dropped_traits: list[str] = field(default_factory=list)
    event: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(str(v) for v in self.violations)


_RULES = {
    "missing": "required",
    "extra_forbidden": "not declared in the contract",
    "literal_error": None,
}


def _violations(exc: ValidationError, prefix: str) -> list[FieldViolation]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        rule = _RULES.get(err["type"]) or err["msg"]
        out.append(FieldViolation(f"{prefix}.{loc}" if loc else prefix, rule))
    return out


class Checker:
    """Applies an :class:`EffectiveContract` to messages from named source connections."""

    def __init__(self, contract: EffectiveContract) -> None:
        self.contract = contract
        # The models for this contract, by event name and trait kind: finding them through
        # the spec's content (what the shared cache keys on) costs more than validating.
        self._events: dict[str, type[BaseModel]] = {}
        self._traits: dict[str, type[BaseModel]] = {}
        # A source's policy, by connection: a connection without one of its own would
        # build the default policy anew for every message.
        self._policies: dict[str, SourcePolicy] = {}

    def policy(self, connection: str) -> SourcePolicy:
        found = self._policies.get(connection)
        if found is None:
            found = self._policies[connection] = self.contract.policy(connection)
        return found

    def _event_model(self, name: str, spec: EventSpec) -> type[BaseModel]:
        model = self._events.get(name)
        if model is None:
            model = self._events[name] = event_model(name, spec)
        return model

    def _traits_model(self, kind: str, fields: dict[str, FieldSpec]) -> type[BaseModel]:
        model = self._traits.get(kind)
        if model is None:
            model = self._traits[kind] = traits_model(kind, fields)
        return model

    def check_message(self, connection: str, message: Mapping[str, Any]) -> Verdict:
        """Check one Segment message (wire form, camelCase keys) from ``connection``."""
        policy = self.policy(connection)
        verdict = Verdict(mode=policy.mode)
        if policy.mode == "off":
            return verdict
        kind = message.get("type")
        if kind == "track":
            self._check_track(connection, message, verdict)
        if kind in ("identify", "track", "page", "screen") and isinstance(
            message.get("traits"), Mapping
        ):
            self._check_traits("person", message["traits"], verdict, policy.unknown_traits)
        if kind == "group" and isinstance(message.get("traits"), Mapping):
            self._check_traits("account", message["traits"], verdict, policy.unknown_traits)
        if verdict.violations and verdict.action == "accept" and policy.mode == "enforce":
            verdict.action = "quarantine"
        if policy.mode == "warn" and verdict.action == "quarantine":
            verdict.action = "accept"
        return verdict

    def _check_track(self, connection: str, message: Mapping[str, Any], verdict: Verdict) -> None:
        policy = self.policy(connection)
        name = message.get("event")
        verdict.event = name if isinstance(name, str) else None
        if policy.events is not None and name not in policy.events:
            verdict.violations.append(
                FieldViolation("event", f"source {connection!r} may not send event {name!r}")
            )
            return
        spec = self.contract.events.get(name) if isinstance(name, str) else None
        if spec is None:
            if policy.unknown_events == "allow":
                return
            verdict.violations.append(FieldViolation("event", f"event {name!r} is not declared"))
            verdict.action = "quarantine" if policy.unknown_events == "quarantine" else "drop"
            return
        props = message.get("properties") or {}
        if not isinstance(props, Mapping):
            verdict.violations.append(FieldViolation("properties", "must be an object"))
            return
        try:
            self._event_model(name, spec).model_validate_json(orjson.dumps(props))
        except ValidationError as exc:
            verdict.violations.extend(_violations(exc, "properties"))

    def _check_traits(
        self, kind: str, traits: Mapping[str, Any], verdict: Verdict, unknown: str
    ) -> None:
        fields = self.contract.person_traits if kind == "person" else self.contract.account_traits
        try:
            self._traits_model(kind, fields).model_validate_json(orjson.dumps(dict(traits)))
        except ValidationError as exc:
            verdict.violations.extend(_violations(exc, "traits"))
        undeclared = sorted(k for k in traits if k not in fields)
        if not undeclared or unknown == "allow":
            return
        if unknown == "drop":
            verdict.dropped_traits.extend(undeclared)
        else:
            verdict.violations.extend(
                FieldViolation(f"traits.{k}", "trait is not declared") for k in undeclared
            )
