"""The ``spokehub`` command, run in process through its console-script entry point."""

from __future__ import annotations

from pathlib import Path

from spokehub import __version__
from spokehub.testing.dists import make_fake_distribution


def test_version_from_a_real_process(run_cli_process):
    # The one test of `python -m spokehub` as a process: it starts, prints and exits 0.
    result = run_cli_process("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_init_validate_upgrade_check(run_cli, tmp_path: Path):
    assert run_cli("init").returncode == 0
    assert (tmp_path / "spokehub.yaml").exists()
    assert run_cli("init").returncode == 2  # refuses to overwrite
    validated = run_cli("config", "validate")
    assert validated.returncode == 0, validated.stderr
    assert "2 source(s), 1 destination(s)" in validated.stdout
    upgraded = run_cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "revision" in upgraded.stdout
    assert (tmp_path / "spokehub.db").exists()
    checked = run_cli("check", "webshop_files")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok" in checked.stdout


def test_spokes_lists_files_with_capabilities(run_cli):
    result = run_cli("spokes")
    assert result.returncode == 0, result.stderr
    assert "files" in result.stdout
    assert "spokehub-files" in result.stdout
    assert "incremental" in result.stdout


def test_spokes_shows_merges_and_the_ids_a_destination_answers(run_cli):
    result = run_cli("spokes")
    assert result.returncode == 0, result.stderr
    # A row wraps inside its cell: read the table's words, not its lines.
    words = " ".join(result.stdout.replace("│", " ").split())
    assert "can-delete merges ids-back=hubspot:contact_id" in words


def test_spokes_shows_the_purposes_a_destination_suggests(run_cli):
    result = run_cli("spokes")
    assert result.returncode == 0, result.stderr
    words = "".join(result.stdout.replace("│", " ").split())
    for purpose in ("purposes=email_marketing", "purposes=ads_personalization"):
        assert purpose in words


def test_broken_third_party_spoke_is_named_and_cli_keeps_working(run_cli, tmp_path: Path):
    site = tmp_path / "site"
    make_fake_distribution(
        site, "spokehub-broken", "broken", "spokehub_broken", "raise ImportError('boom')\n"
    )
    result = run_cli("spokes", extra_path=site)
    assert result.returncode == 0, result.stderr
    assert "files" in result.stdout
    assert "spokehub-broken" in result.stderr
    assert "boom" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_spokes_claiming_one_name_is_a_clear_error(run_cli, tmp_path: Path):
    site = tmp_path / "site"
    code = """
        from spokehub_contracts import Source, hookimpl

        class Impostor(Source):
            name = "files"

        @hookimpl
        def register_sources(register):
            register(Impostor)
    """
    make_fake_distribution(site, "spokehub-impostor", "impostor", "spokehub_impostor", code)
    result = run_cli("spokes", extra_path=site)
    assert result.returncode == 2
    assert "'files' is registered by both" in result.stderr
    assert "spokehub-impostor" in result.stderr
    assert "Traceback" not in result.stderr


CONFIG_TEMPLATE = """\
version: 1
store: {{url: "sqlite:///x.db"}}
connections:
  shop:
    kind: source
    spoke: files
    config:
      streams: [{{name: customers, path: data.csv, kind: person, identifiers: {{email: email}}}}]
      {extra}
  crm:
    kind: destination
    spoke: {dest_spoke}
    config: {{path: "${{OUT_PATH}}"}}
"""


def _write(tmp_path: Path, **kw: str) -> None:
    values = {"extra": "", "dest_spoke": "files"} | kw
    (tmp_path / "spokehub.yaml").write_text(CONFIG_TEMPLATE.format(**values))


def test_missing_env_var_names_yaml_path(run_cli, tmp_path: Path):
    _write(tmp_path)
    result = run_cli("config", "validate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: connections.crm.config.path: environment variable OUT_PATH is not set"]


def test_unknown_spoke_names_yaml_path(run_cli, tmp_path: Path):
    _write(tmp_path, dest_spoke="hubspott")
    result = run_cli("config", "validate", env={"OUT_PATH": "o.jsonl", "SPOKEHUB_PLUGINS": "files"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: connections.crm.spoke: unknown destination spoke 'hubspott' (installed: files)"
    ]


def test_wrong_field_type_names_yaml_path(run_cli, tmp_path: Path):
    (tmp_path / "spokehub.yaml").write_text("version: 1\nserver: {port: not-a-number}\n")
    result = run_cli("config", "validate")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: server.port: ")
    assert "integer" in line


def test_invalid_yaml_names_the_line(run_cli, tmp_path: Path):
    (tmp_path / "spokehub.yaml").write_text("version: 1\nconnections: [unclosed\n")
    result = run_cli("config", "validate")
    assert result.returncode == 2
    assert "spokehub.yaml:" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_on_postgresql(run_cli, tmp_path: Path, pg_schema_url: str):
    (tmp_path / "spokehub.yaml").write_text(f"version: 1\nstore: {{url: '{pg_schema_url}'}}\n")
    first = run_cli("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "revision" in first.stdout
    again = run_cli("db", "upgrade")  # idempotent
    assert again.returncode == 0 and again.stdout == first.stdout


def test_db_upgrade_reports_an_unreachable_store(run_cli, tmp_path: Path):
    (tmp_path / "spokehub.yaml").write_text(
        "version: 1\nstore: {url: 'postgresql://postgres@127.0.0.1:1/none'}\n"
    )
    result = run_cli("db", "upgrade")
    assert result.returncode == 2
    assert "cannot migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_pipeline_workers_need_postgresql(run_cli, tmp_path: Path):
    (tmp_path / "spokehub.yaml").write_text(
        f"version: 1\nstore: {{url: 'sqlite:///{tmp_path / 'hub.db'}'}}\n"
    )
    result = run_cli("serve", "--pipeline-workers", "2", env={"SPOKEHUB_PLUGINS": "none"})
    assert result.returncode != 0
    assert "--pipeline-workers 2 needs a PostgreSQL store" in result.stderr
