"""Telling breaking from additive contract changes.

A change is *breaking* when data valid under the old contract can fail the new one, or a
consumer loses something it read: removing an event or field, making a field required,
narrowing a type or an enum, tightening a bound or pattern. It is *additive* otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .spec import EffectiveContract, FieldSpec

Severity = Literal["breaking", "additive"]

# type → the types whose values it accepts (a widening goes up this lattice).
_ACCEPTS: dict[str, set[str]] = {
    "string": {"string", "email", "datetime"},
    "number": {"number", "integer"},
    "integer": {"integer"},
    "email": {"email"},
    "datetime": {"datetime"},
    "boolean": {"boolean"},
    "object": {"object"},
    "array": {"array"},
}


@dataclass(frozen=True)
class ContractChange:
    severity: Severity
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.what}"


def compare_field(where: str, old: FieldSpec, new: FieldSpec) -> list[ContractChange]:
    """Classify every difference between two versions of one field."""
    out: list[ContractChange] = []
    if old.type != new.type:
        widened = old.type in _ACCEPTS[new.type]
        out.append(
            ContractChange(
                "additive" if widened else "breaking",
                where,
                f"type {old.type} → {new.type} ({'widened' if widened else 'narrowed'})",
            )
        )
    if old.required != new.required:
        out.append(
            ContractChange(
                "breaking" if new.required else "additive",
                where,
                "now required" if new.required else "now optional",
            )
        )
    if old.enum != new.enum:
        if new.enum is None:
            out.append(ContractChange("additive", where, "enum removed (widened)"))
        elif old.enum is None or not set(old.enum) <= set(new.enum):
            out.append(ContractChange("breaking", where, "enum narrowed"))
        else:
            out.append(ContractChange("additive", where, "enum widened"))
    for bound, tighter in (("minimum", lambda o, n: n > o), ("maximum", lambda o, n: n < o)):
        o, n = getattr(old, bound), getattr(new, bound)
        if o != n:
            breaking = n is not None and (o is None or tighter(o, n))
            out.append(
                ContractChange("breaking" if breaking else "additive", where, f"{bound} {o} → {n}")
            )
    if old.pattern != new.pattern:
        out.append(
            ContractChange(
                "additive" if new.pattern is None else "breaking", where, "pattern changed"
            )
        )
    return out


def _fields(
    where: str, old: dict[str, FieldSpec], new: dict[str, FieldSpec]
) -> list[ContractChange]:
    out: list[ContractChange] = []
    for key in sorted(old.keys() - new.keys()):
        out.append(ContractChange("breaking", f"{where}.{key}", "removed"))
    for key in sorted(new.keys() - old.keys()):
        spec = new[key]
        out.append(
            ContractChange(
                "breaking" if spec.required else "additive",
                f"{where}.{key}",
                "added (required)" if spec.required else "added (optional)",
            )
        )
    for key in sorted(old.keys() & new.keys()):
        out.extend(compare_field(f"{where}.{key}", old[key], new[key]))
    return out


def diff(old: EffectiveContract, new: EffectiveContract) -> list[ContractChange]:
    """Every change from ``old`` to ``new``, breaking ones first."""
    out: list[ContractChange] = []
    out += _fields("traits.person", old.person_traits, new.person_traits)
    out += _fields("traits.account", old.account_traits, new.account_traits)
    for name in sorted(old.events.keys() - new.events.keys()):
        out.append(ContractChange("breaking", f"events[{name!r}]", "event removed"))
    for name in sorted(new.events.keys() - old.events.keys()):
        out.append(ContractChange("additive", f"events[{name!r}]", "event added"))
    for name in sorted(old.events.keys() & new.events.keys()):
        o, n = old.events[name], new.events[name]
        where = f"events[{name!r}].properties"
        out += _fields(where, o.properties, n.properties)
        if o.additional_properties and not n.additional_properties:
            out.append(ContractChange("breaking", where, "additional properties now refused"))
    return sorted(out, key=lambda c: c.severity != "breaking")
