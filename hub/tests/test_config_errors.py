"""Every problem of a project file at once: one line each, ``<yaml path>: <rule>``, in the
order of the file, including the spokes' own config models, and never a secret value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spokehub.config import ConfigErrors, load
from spokehub.registry import Registry

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_invalid_example() -> tuple[str, list[str]]:
    """The README's invalid project file and the lines it says ``config validate`` prints."""
    text = README.read_text(encoding="utf-8")
    found = re.search(
        r"```yaml\n(?P<file>[^`]*)```\s*```console\n\$ spokehub config validate\n(?P<out>[^`]*)```",
        text,
        re.DOTALL,
    )
    assert found, "the README's invalid config example is missing"
    return found["file"], found["out"].splitlines()


def test_the_readme_example_reports_both_problems(run_cli, tmp_path):
    project, printed = readme_invalid_example()
    assert len(printed) == 2
    (tmp_path / "spokehub.yaml").write_text(project)
    result = run_cli("config", "validate", env={"SPOKEHUB_PLUGINS": "files"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == printed


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(allow=["files"])


def problems(tmp_path: Path, registry: Registry, text: str, **env: str) -> list[str]:
    path = tmp_path / "spokehub.yaml"
    path.write_text(text)
    with pytest.raises(ConfigErrors) as caught:
        load(path, registry, env=env)
    return [str(e) for e in caught.value.errors]


def test_each_section_and_each_spoke_config_is_checked_despite_the_others(tmp_path, registry):
    text = """\
version: 1
server: {port: eighty}
connections:
  shop:
    kind: source
    spoke: files
    config:
      streams: [{name: customers, path: c.csv, kind: person, identifiers: {email: email}}]
      checkpoint_evry: 10
  crm:
    kind: destination
    spoke: hubspott
  ads:
    kind: destination
    spoke: files
    config: {path: out.jsonl, colour: blue}
  broken:
    spoke: files
routes:
  - {to: warehouse}
  - {to: broken, from: [shop]}
  - {to: ads, from: [nowhere], kinds: upsert_person}
identity:
  limits: {email: many}
"""
    assert problems(tmp_path, registry, text) == [
        "server.port: Input should be a valid integer, unable to parse string as an integer",
        "connections.shop.config.checkpoint_evry: unknown field",
        "connections.crm.spoke: unknown destination spoke 'hubspott' (installed: files)",
        "connections.ads.config.colour: unknown field",
        "connections.broken.kind: field required",
        "routes[0].to: no destination connection 'warehouse'",
        "routes[2].kinds: Input should be a valid list",
        "identity.limits.email: Input should be a valid integer, unable to parse string as an "
        "integer",
    ]


def test_a_valid_file_with_one_bad_spoke_config_names_only_that(tmp_path, registry):
    text = """\
connections:
  crm: {kind: destination, spoke: files, config: {path: a.jsonl}}
  ads: {kind: destination, spoke: files, config: {}}
"""
    assert problems(tmp_path, registry, text) == ["connections.ads.config.path: field required"]


def test_an_unset_variable_is_reported_with_the_rest_but_not_what_it_broke(tmp_path, registry):
    text = """\
server: {port: eighty}
connections:
  crm: {kind: destination, spoke: files, config: {path: "${OUT_PATH}"}}
"""
    assert problems(tmp_path, registry, text) == [
        "server.port: Input should be a valid integer, unable to parse string as an integer",
        "connections.crm.config.path: environment variable OUT_PATH is not set",
    ]


def test_no_secret_value_reaches_an_error(tmp_path, registry):
    secret = "s3cret-token-value-9f2"
    text = """\
server:
  admin_token: {value: "${TOKEN}"}
connections:
  web: {kind: source, write_keys: [["${TOKEN}"]]}
  crm: {kind: destination, spoke: files, config: {path: out.jsonl, token: "${TOKEN}"}}
  ads: {kind: destination, spoke: files, config: {path: ["${TOKEN}"]}}
"""
    found = problems(tmp_path, registry, text, TOKEN=secret)
    assert [line.split(":")[0] for line in found] == [
        "server.admin_token",
        "connections.web.write_keys[0]",
        "connections.crm.config.token",
        "connections.ads.config.path",
    ]
    assert not any(secret in line for line in found)
