"""Configuration is checked up front; the package registers itself and depends on no hub."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pydantic import ValidationError

import spokehub_files
from spokehub_contracts import Destination, Source, hookspecs
from spokehub_files import (
    FilesDestination,
    FilesDestinationConfig,
    FilesSource,
    FilesSourceConfig,
    StreamConfig,
)

PACKAGE = Path(spokehub_files.__file__).parent


def stream(**overrides: Any) -> dict[str, Any]:
    return {"name": "s", "path": "data.csv", "kind": "event", **overrides}


@pytest.mark.parametrize(
    ("path", "expected"),
    [("a.csv", "csv"), ("A.CSV", "csv"), ("d/*.jsonl", "jsonl"), ("x.ndjson", "jsonl")],
)
def test_format_is_inferred_from_the_extension(path: str, expected: str) -> None:
    assert StreamConfig.model_validate(stream(path=path)).file_format == expected


def test_format_must_be_given_when_the_extension_says_nothing() -> None:
    with pytest.raises(ValidationError, match="set format to csv or jsonl"):
        StreamConfig.model_validate(stream(path="data/*"))
    config = StreamConfig.model_validate(stream(path="data/*", format="jsonl"))
    assert config.file_format == "jsonl"
    assert StreamConfig.model_validate(stream(path="a.csv", format="jsonl")).file_format == "jsonl"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mapping": {"dob": "birth_day"}}, "mapping.dob: 'birth_day' is not a field of person"),
        ({"mapping": {"c": "address.town"}}, "'address.town' is not an address field"),
        ({"mapping": {"c": "first_name.x"}}, "only address and attributes have nested fields"),
        ({"mapping": {"c": "attributes."}}, "only address and attributes have nested fields"),
        ({"constants": {"colour": "red"}}, "constants: 'colour' is not a field of person"),
        ({"identifiers": {"id": "customer_id"}}, "identifiers.id: unknown identifier type"),
        ({"kind": "profile"}, "kind"),
        ({"format": "xml"}, "format"),
        ({"delimiter": ";;"}, "delimiter: must be exactly one character"),
        ({"name": ""}, "name: must not be empty"),
        ({"mapings": {}}, "Extra inputs are not permitted"),
    ],
)
def test_config_mistakes_are_refused_with_the_field_named(
    overrides: dict[str, Any], message: str
) -> None:
    base = stream(kind="person", identifiers={"email": "email"})
    with pytest.raises(ValidationError, match=message):
        StreamConfig.model_validate({**base, **overrides})


def test_accepted_targets() -> None:
    config = StreamConfig.model_validate(
        stream(
            mapping={
                "a": "properties.order.total",
                "b": "context.ip",
                "c": "userId",
                "d": "message_id",
            },
            constants={"type": "track"},
        )
    )
    assert config.mapping["a"] == "properties.order.total"


@pytest.mark.parametrize("kind", ["person", "membership", "consent", "score"])
def test_streams_about_people_need_an_identifier_column(kind: str) -> None:
    with pytest.raises(ValidationError, match=f"a {kind} stream needs at least one identifier"):
        StreamConfig.model_validate(stream(kind=kind))


def test_stream_names_are_unique_and_there_is_at_least_one() -> None:
    with pytest.raises(ValidationError, match="stream name 's' is used twice"):
        FilesSourceConfig(streams=[stream(), stream(path="other.csv")])
    with pytest.raises(ValidationError, match="at least one stream"):
        FilesSourceConfig(streams=[])
    with pytest.raises(ValidationError, match="checkpoint_every: must be a positive"):
        FilesSourceConfig(streams=[stream()], checkpoint_every=0)
    with pytest.raises(ValidationError, match=r"streams\.0\n.*'nope' is not a field of event"):
        FilesSourceConfig(streams=[stream(mapping={"a": "nope"})])
    assert FilesSourceConfig(streams=[stream()]).checkpoint_every == 500


def test_destination_config() -> None:
    assert FilesDestinationConfig(path="out/crm.jsonl").path == "out/crm.jsonl"
    with pytest.raises(ValidationError, match="path: must not be empty"):
        FilesDestinationConfig(path="")


def test_declared_capabilities() -> None:
    assert FilesSource.name == FilesDestination.name == "files"
    assert FilesSource.Config is FilesSourceConfig
    assert FilesDestination.Config is FilesDestinationConfig
    assert set(FilesSource.capabilities.record_kinds) == {
        "person",
        "account",
        "membership",
        "consent",
        "event",
        "score",
    }
    assert FilesSource.capabilities.incremental
    caps = FilesDestination.capabilities
    assert set(caps.record_kinds) == {
        "upsert_person",
        "upsert_account",
        "upsert_membership",
        "event",
        "audience_entered",
        "audience_exited",
        "forget",
        "merge",
        "consent",
    }
    assert caps.batch_size == 500
    assert caps.can_delete
    assert caps.merges


def test_hooks_match_the_specifications() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(spokehub_files)
    pm.check_pending()  # every hookimpl of the package has a spec
    sources: list[type[Source]] = []
    destinations: list[type[Destination]] = []
    pm.hook.register_sources(register=sources.append)
    pm.hook.register_destinations(register=destinations.append)
    assert (sources, destinations) == ([FilesSource], [FilesDestination])


def test_entry_point_names_the_package() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="spokehub")}
    assert found.get("files") == "spokehub_files"


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(spokehub_files).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("spokehub_files")
    }
    assert spokehub_files.__all__ == sorted(spokehub_files.__all__)
    assert set(spokehub_files.__all__) == public


def test_imports_only_the_contracts_and_the_standard_library() -> None:
    allowed = {"spokehub_contracts", *sys.stdlib_module_names}
    for module in PACKAGE.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            assert set(roots) <= allowed, f"{module.name} imports {roots}"
