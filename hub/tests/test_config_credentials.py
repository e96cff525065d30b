"""Credentials in the project file: an empty, blank or placeholder admin token and an
empty write key are configuration errors named by YAML path, never by value; the
starter's token comes from a generated ``.env`` beside the project file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spokehub.cli import app
from spokehub.config import ConfigErrors, validate
from spokehub.envfile import project_environment, read_env_file

SERVER_ONLY = "version: 1\nserver:\n  admin_token: {token}\n"


def validate_cli(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    (tmp_path / "spokehub.yaml").write_text(text)
    return CliRunner().invoke(
        app, ["--config", str(tmp_path / "spokehub.yaml"), "config", "validate"], env=env
    )


@pytest.fixture(autouse=True)
def _no_token_in_environment(monkeypatch):
    monkeypatch.delenv("SPOKEHUB_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("WEBSITE_WRITE_KEY", raising=False)
    monkeypatch.setenv("SPOKEHUB_PLUGINS", "files")


def test_an_empty_admin_token_from_the_environment_is_refused(tmp_path):
    # What the outside test found: the variable set but empty defeats the fallback.
    result = validate_cli(
        tmp_path,
        SERVER_ONLY.format(token="${SPOKEHUB_ADMIN_TOKEN:-change-me}"),
        env={"SPOKEHUB_ADMIN_TOKEN": ""},
    )
    assert result.exit_code == 2
    assert "server.admin_token: Value error, must not be empty or whitespace" in result.output


@pytest.mark.parametrize("token", ['""', '"   "', '"\\t"'])
def test_an_empty_or_blank_admin_token_in_the_file_is_refused(tmp_path, token):
    result = validate_cli(tmp_path, SERVER_ONLY.format(token=token))
    assert result.exit_code == 2
    assert "server.admin_token" in result.output


def test_the_default_admin_token_is_refused_without_being_echoed(tmp_path):
    result = validate_cli(tmp_path, SERVER_ONLY.format(token="${SPOKEHUB_ADMIN_TOKEN:-change-me}"))
    assert result.exit_code == 2
    assert "server.admin_token" in result.output
    assert "placeholder" in result.output
    assert "change-me" not in result.output


def test_a_real_admin_token_validates(tmp_path):
    result = validate_cli(tmp_path, SERVER_ONLY.format(token="s3cret-Token-Value"))
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output


def test_an_empty_write_key_is_refused_by_its_yaml_path(tmp_path):
    text = (
        "version: 1\nconnections:\n  web:\n    kind: source\n"
        '    write_keys: ["wk-a-key-to-keep-quiet", "${WEB_KEY:-}", "  "]\n'
    )
    result = validate_cli(tmp_path, text)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: connections.web.write_keys[1]: Value error, must not be empty or whitespace",
        "error: connections.web.write_keys[2]: Value error, must not be empty or whitespace",
    ]
    assert "wk-a-key-to-keep-quiet" not in result.output


def test_a_write_key_shared_by_two_sources_is_refused():
    with pytest.raises(ConfigErrors) as caught:
        validate(
            {
                "connections": {
                    "web": {"kind": "source", "write_keys": ["wk-shared"]},
                    "app": {"kind": "source", "write_keys": ["wk-own", "wk-shared"]},
                }
            }
        )
    (error,) = caught.value.errors
    assert str(error) == (
        "connections: Value error, app.write_keys[1] is also a write key of web; "
        "each key must name one source"
    )


def test_the_starter_validates_with_a_generated_token(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    token = read_env_file(env_file)["SPOKEHUB_ADMIN_TOKEN"]
    assert len(token) >= 32
    assert token not in (tmp_path / "spokehub.yaml").read_text()
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 0, result.output

    # Running init again keeps the token; another project gets another one.
    assert runner.invoke(app, ["init", "--force"]).exit_code == 0
    assert read_env_file(env_file)["SPOKEHUB_ADMIN_TOKEN"] == token
    other = tmp_path / "other"
    assert runner.invoke(app, ["init", str(other)]).exit_code == 0
    assert read_env_file(other / ".env")["SPOKEHUB_ADMIN_TOKEN"] != token


def test_init_adds_the_token_to_an_existing_env_file(tmp_path):
    (tmp_path / ".env").write_text("OTHER=kept")
    assert CliRunner().invoke(app, ["init", str(tmp_path)]).exit_code == 0
    values = read_env_file(tmp_path / ".env")
    assert values["OTHER"] == "kept"
    assert values["SPOKEHUB_ADMIN_TOKEN"]


def test_the_environment_wins_over_the_env_file(tmp_path):
    (tmp_path / ".env").write_text("# comment\n\nexport A=from-file\nB = 'quoted value'\nC=\"x\"\n")
    env = project_environment(tmp_path / "spokehub.yaml", {"A": "from-env"})
    assert env["A"] == "from-env"
    assert env["B"] == "quoted value"
    assert env["C"] == "x"
    assert project_environment(tmp_path / "nowhere" / "spokehub.yaml", {}) == {}


def test_a_broken_env_file_names_the_line_not_its_content(tmp_path):
    (tmp_path / ".env").write_text("GOOD=1\nsecret-without-a-name\n")
    result = validate_cli(tmp_path, SERVER_ONLY.format(token="fine-token"))
    assert result.exit_code == 2
    assert f"{tmp_path / '.env'}:2: expected NAME=value" in result.output.replace("\n", "")
    assert "secret-without-a-name" not in result.output
