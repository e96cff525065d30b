"""The ``identity:`` section of the project file: typed rules, validated with the project."""

from __future__ import annotations

import pytest

from spokehub._errors import ConfigErrors
from spokehub.config import validate
from spokehub.identity import IdentityRules


def test_the_project_holds_the_rules_typed():
    project = validate({"identity": {"limits": {"email": 2}, "never_merge_on": []}})
    assert isinstance(project.identity, IdentityRules)
    assert project.identity.limit_for("email") == 2
    assert project.identity.limit_for("user_id") == 5  # listed limits replace the defaults
    assert validate({}).identity == IdentityRules()


def test_every_broken_rule_names_its_yaml_path():
    with pytest.raises(ConfigErrors) as caught:
        validate(
            {
                "identity": {
                    "limits": {"user_id": 0},
                    "priority": ["email", "email"],
                    "blocked_values": ["("],
                    "surprise": True,
                }
            }
        )
    where = sorted(e.path for e in caught.value.errors)
    assert where == [
        "identity.blocked_values",
        "identity.limits",
        "identity.priority",
        "identity.surprise",
    ]
