"""The condition language: what each test means, what a condition reads, and the
project file's errors about audiences and journeys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from spokehub._errors import ConfigErrors
from spokehub.audiences.conditions import (
    Condition,
    EventFact,
    Facts,
    dependencies,
    evaluate,
    windows,
)
from spokehub.config import validate

NOW = datetime(2026, 1, 31, tzinfo=UTC)
parse = TypeAdapter(Condition).validate_python


def holds(condition: dict, facts: Facts) -> bool:
    return evaluate(parse(condition), facts, NOW)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"trait": "plan", "eq": "pro"}, True),
        ({"trait": "plan", "ne": "pro"}, False),
        ({"trait": "plan", "in": ["free", "pro"]}, True),
        ({"trait": "plan"}, True),  # no test: exists
        ({"trait": "age", "gte": 30, "lt": 40}, True),
        ({"trait": "age", "gt": "30"}, False),  # a number against a string fails
        ({"trait": "since", "gte": "2025-01-01"}, True),  # ISO dates order as strings
        ({"trait": "tags", "contains": "vip"}, True),
        ({"trait": "missing", "ne": "pro"}, False),  # absent fails every test...
        ({"trait": "missing", "exists": False}, True),  # ...but exists: false
        ({"trait": "flag", "eq": 1}, False),  # true is no number
        ({"score": "ltv", "gte": 1000}, True),
        ({"consent": "email_marketing", "granted": True}, False),
        ({"consent": "email_marketing", "granted": False}, True),
        ({"consent": "sms_marketing", "granted": False}, False),  # no decision
        ({"account": "acme"}, True),
        ({"account": "acme", "role": "buyer"}, False),
        ({"account": "*"}, True),
        ({"event": "Order Completed"}, True),
        ({"event": "Order Completed", "within_days": 7}, True),
        ({"event": "Order Completed", "within_days": 7, "count": {"gte": 2}}, False),
        ({"event": "Order Completed", "count": {"eq": 3}}, True),
        ({"event": "Order Completed", "sum": {"property": "total", "gte": 120}}, True),
        (
            {"event": "Order Completed", "within_days": 7, "sum": {"property": "total", "gt": 50}},
            False,
        ),
        ({"event": "Order Completed", "properties": {"currency": "EUR"}, "count": {"eq": 2}}, True),
        ({"event": "Signed Up"}, False),
        ({"all": [{"trait": "plan", "eq": "pro"}, {"account": "acme"}]}, True),
        ({"any": [{"trait": "plan", "eq": "free"}, {"score": "ltv", "lt": 0}]}, False),
        ({"not": {"event": "Signed Up"}}, True),
    ],
)
def test_what_each_condition_means(condition, expected):
    facts = Facts(
        traits={"plan": "pro", "age": 33, "since": "2025-03-01", "tags": ["vip"], "flag": True},
        scores={"ltv": 1200},
        consents={"email_marketing": False},
        accounts={("acme", "admin")},
        events={
            "Order Completed": [
                EventFact(NOW - timedelta(days=1), {"total": 50, "currency": "EUR"}),
                EventFact(NOW - timedelta(days=10), {"total": 70, "currency": "EUR"}),
                EventFact(NOW - timedelta(days=40), {"total": "n/a", "currency": "USD"}),
            ]
        },
    )
    assert holds(condition, facts) is expected


def test_an_event_exactly_at_the_window_edge_has_aged_out():
    facts = Facts(events={"X": [EventFact(NOW - timedelta(days=30), {})]})
    assert not holds({"event": "X", "within_days": 30}, facts)
    assert holds({"event": "X", "within_days": 30.001}, facts)


def test_what_a_condition_reads():
    cond = parse(
        {
            "all": [
                {"trait": "plan", "eq": "pro"},
                {"not": {"event": "Order Completed", "within_days": 30}},
                {"event": "Order Completed", "within_days": 90},
                {"any": [{"score": "ltv", "gt": 1}, {"consent": "email_marketing"}]},
            ]
        }
    )
    deps = dependencies(cond)
    assert deps.traits == {"plan"} and deps.scores == {"ltv"}
    assert deps.consents == {"email_marketing"} and deps.events == {"Order Completed"}
    assert deps.timed and not deps.accounts
    assert windows(cond) == {"Order Completed": 90}
    assert windows(parse({"any": [{"event": "A", "within_days": 3}, {"event": "A"}]})) == {
        "A": None
    }


def test_the_project_file_names_every_problem_with_audiences_and_journeys():
    with pytest.raises(ConfigErrors) as caught:
        validate(
            {
                "connections": {
                    "web": {"kind": "source", "write_keys": ["wk-123456"]},
                    "crm": {"kind": "destination", "spoke": "files"},
                },
                "audiences": {
                    "ok": {"where": {"trait": "plan"}, "to": ["crm", "web", "nope"]},
                    "two": {"where": {"trait": "plan", "event": "X"}},
                    "bad name!": {"where": {"trait": "plan"}},
                    "window": {"where": {"event": "X", "within_days": 0}},
                },
                "journeys": {
                    "j": {
                        "trigger": {"event": "Order Completed"},
                        "after": "soon",
                        "send": {"event": "E", "to": "web", "fields": {"x": "profile.x"}},
                    }
                },
            }
        )
    lines = [f"{e.path}: {e.rule}" for e in caught.value.errors]
    assert "audiences.ok.to[1]: no destination connection 'web'" in lines
    assert "audiences.ok.to[2]: no destination connection 'nope'" in lines
    assert any(
        line.startswith("audiences.two.where: a condition names exactly one") for line in lines
    )
    assert any(line.startswith("audiences.bad name!: name must match") for line in lines)
    assert any(line.startswith("audiences.window.where.event.within_days") for line in lines)
    assert any(line.startswith("journeys.j.after") and "3d, 12h, 90s" in line for line in lines)
    assert any("must be traits.NAME, scores.NAME or trigger.PROPERTY" in line for line in lines)


def test_the_readme_and_the_guide_examples_are_valid_project_files():
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[3]
    connections = {
        name: {"kind": "destination", "spoke": "x"} for name in ("meta", "crm", "klaviyo")
    }
    connections["web"] = {"kind": "source", "write_keys": ["wk-123456"]}
    found = 0
    for doc in (root / "README.md", root / "docs" / "audiences.md"):
        for block in re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            data = yaml.safe_load(block)
            if not isinstance(data, dict) or not {"audiences", "journeys"} & set(data):
                continue
            validate({**data, "connections": connections})
            found += 1
    assert found >= 3
