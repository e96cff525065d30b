from __future__ import annotations

import copy

import jsonschema
import pytest

from spokehub.datacontract import Checker, ContractSpec, diff, effective
from spokehub.datacontract.export import all_schemas, event_schema, slug, warehouse_ddl
from spokehub.datacontract.spec import FieldSpec

CONTRACT = {
    "version": 2,
    "traits": {
        "person": {
            "loyalty_tier": {
                "type": "string",
                "enum": ["bronze", "silver", "gold"],
                "owner": "marketing",
                "pii": "none",
            }
        }
    },
    "events": {
        "Subscription Started": {
            "properties": {
                "plan": {"type": "string", "required": True},
                "seats": {"type": "integer", "minimum": 1},
            }
        }
    },
    "sources": {
        "website": {"mode": "enforce", "unknown_events": "quarantine"},
        "legacy": {"mode": "warn", "unknown_events": "drop", "unknown_traits": "drop"},
        "default": {"mode": "enforce"},
    },
}


def track(event: str, **props) -> dict:
    return {"type": "track", "userId": "u1", "event": event, "properties": props}


def identify(**traits) -> dict:
    return {"type": "identify", "userId": "u1", "traits": traits}


@pytest.fixture
def checker() -> Checker:
    return Checker(effective(ContractSpec.model_validate(CONTRACT)))


def test_valid_messages_pass(checker):
    for msg in (
        track("Subscription Started", plan="pro", seats=3),
        identify(loyalty_tier="gold", email="a@example.com"),
        track("Order Completed", order_id="o1", total=10.5, currency="EUR"),
    ):
        verdict = checker.check_message("website", msg)
        assert verdict.action == "accept", verdict.reason
        assert verdict.violations == []


def test_wrong_enum_and_missing_required_are_quarantined_with_field_and_rule(checker):
    bad_enum = checker.check_message("website", identify(loyalty_tier="platinum"))
    assert bad_enum.action == "quarantine"
    [v] = bad_enum.violations
    assert v.field == "traits.loyalty_tier"
    assert "bronze" in v.rule and "gold" in v.rule
    assert "platinum" not in v.rule  # offending values are never echoed

    missing = checker.check_message("website", track("Subscription Started", seats=2))
    assert missing.action == "quarantine"
    assert [str(v) for v in missing.violations] == ["properties.plan: required"]

    wrong_type = checker.check_message(
        "website", track("Subscription Started", plan="p", seats="2")
    )
    assert [v.field for v in wrong_type.violations] == ["properties.seats"]
    assert "integer" in wrong_type.violations[0].rule


def test_warn_mode_accepts_and_still_reports(checker):
    verdict = checker.check_message("legacy", identify(loyalty_tier="platinum"))
    assert verdict.action == "accept"
    assert verdict.mode == "warn"
    assert [v.field for v in verdict.violations] == ["traits.loyalty_tier"]


def test_unknown_events_follow_the_source_policy(checker):
    unknown = track("Spaceship Launched")
    assert checker.check_message("website", unknown).action == "quarantine"
    dropped = checker.check_message("legacy", unknown)
    assert dropped.action == "drop"
    assert dropped.violations[0].field == "event"
    allowed = checker.check_message("other", unknown)  # default policy allows unknown events
    assert allowed.action == "accept"


def test_unknown_traits_dropped_are_counted(checker):
    verdict = checker.check_message("legacy", identify(shoe_size=44, loyalty_tier="gold"))
    assert verdict.action == "accept"
    assert verdict.dropped_traits == ["shoe_size"]


def test_mode_off_skips_checks():
    contract = effective(
        ContractSpec.model_validate({**CONTRACT, "sources": {"website": {"mode": "off"}}})
    )
    verdict = Checker(contract).check_message("website", identify(loyalty_tier="platinum"))
    assert verdict.action == "accept" and verdict.violations == []


def _with(base: dict, path: list[str], value) -> ContractSpec:
    data = copy.deepcopy(base)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return ContractSpec.model_validate(data)


EVENT = ["events", "Subscription Started", "properties"]


@pytest.mark.parametrize(
    ("path", "value", "severity", "what"),
    [
        ([*EVENT, "coupon"], {"type": "string"}, "additive", "added (optional)"),
        ([*EVENT, "region"], {"type": "string", "required": True}, "breaking", "added (required)"),
        ([*EVENT, "plan"], None, "breaking", "removed"),
        ([*EVENT, "seats"], {"type": "number", "minimum": 1}, "additive", "widened"),
        ([*EVENT, "plan"], {"type": "email", "required": True}, "breaking", "narrowed"),
        ([*EVENT, "plan"], {"type": "string"}, "additive", "now optional"),
        (
            [*EVENT, "seats"],
            {"type": "integer", "minimum": 1, "required": True},
            "breaking",
            "now required",
        ),
        (
            ["traits", "person", "loyalty_tier"],
            {"type": "string", "enum": ["bronze", "silver", "gold", "platinum"]},
            "additive",
            "enum widened",
        ),
        (
            ["traits", "person", "loyalty_tier"],
            {"type": "string", "enum": ["silver", "gold"]},
            "breaking",
            "enum narrowed",
        ),
        (["events", "Trial Ended"], {"properties": {}}, "additive", "event added"),
        (["events", "Subscription Started"], None, "breaking", "event removed"),
        ([*EVENT, "seats"], {"type": "integer", "minimum": 5}, "breaking", "minimum"),
    ],
)
def test_diff_classifies_changes(path, value, severity, what):
    old = effective(ContractSpec.model_validate(CONTRACT))
    new = effective(_with(CONTRACT, path, value))
    changes = diff(old, new)
    assert len(changes) == 1, changes
    assert changes[0].severity == severity
    assert what in changes[0].what


def test_diff_of_identical_contracts_is_empty():
    spec = effective(ContractSpec.model_validate(CONTRACT))
    assert diff(spec, spec) == []


SAMPLES = [
    track("Subscription Started", plan="pro"),
    track("Subscription Started", plan="pro", seats=3, extra={"a": 1}),
    track("Subscription Started", seats=3),
    track("Subscription Started", plan=5),
    track("Subscription Started", plan="pro", seats=0),
    track("Subscription Started", plan="pro", seats=1.5),
    track("Order Completed", order_id="o1", total=12, currency="EUR", products=[{"sku": "x"}]),
    track("Order Completed", order_id="o1", total="12"),
    track("Order Completed", currency="euro"),
    {"type": "track", "anonymousId": "a1", "event": "Order Completed", "properties": {}},
]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: str(s["properties"])[:40])
def test_exported_json_schema_agrees_with_the_pipeline(checker, sample):
    contract = checker.contract
    schema = event_schema(contract, sample["event"])
    jsonschema.Draft202012Validator.check_schema(schema)
    accepted = checker.check_message("website", sample).action == "accept"
    valid = jsonschema.Draft202012Validator(schema).is_valid(sample)
    assert accepted == valid


def test_trait_schema_agrees_with_the_pipeline(checker):
    schema = all_schemas(checker.contract)["traits/person.json"]
    for traits, ok in (({"loyalty_tier": "gold"}, True), ({"loyalty_tier": "x"}, False)):
        assert jsonschema.Draft202012Validator(schema).is_valid(traits) is ok
        assert (checker.check_message("website", identify(**traits)).action == "accept") is ok


def test_warehouse_ddl_names_tables_like_segment(checker):
    ddl = warehouse_ddl(checker.contract)
    assert "CREATE TABLE subscription_started" in ddl
    assert "CREATE TABLE order_completed" in ddl
    assert "CREATE TABLE persons" in ddl
    assert "loyalty_tier TEXT" in ddl
    assert "seats BIGINT" in ddl
    assert slug("Order Completed") == "order_completed"


def test_field_spec_rejects_nonsense():
    with pytest.raises(ValueError):
        FieldSpec(type="boolean", enum=[True])
