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
    key = read_env_file(env_file)["WEBSITE_WRITE_KEY"]
    assert len(token) >= 32 and len(key) >= 32
    project_text = (tmp_path / "spokehub.yaml").read_text()
    assert token not in project_text and key not in project_text
    assert "website-dev-key" not in project_text
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 0, result.output

    # Running init again keeps the token; another project gets another one.
    assert runner.invoke(app, ["init", "--force"]).exit_code == 0
    assert read_env_file(env_file)["SPOKEHUB_ADMIN_TOKEN"] == token
    assert read_env_file(env_file)["WEBSITE_WRITE_KEY"] == key
    other = tmp_path / "other"
    assert runner.invoke(app, ["init", str(other)]).exit_code == 0
    assert read_env_file(other / ".env")["SPOKEHUB_ADMIN_TOKEN"] != token
    assert read_env_file(other / ".env")["WEBSITE_WRITE_KEY"] != key


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


# --- Tokens with scopes, and what serve refuses on a reachable address ----------------


def serve_cli(tmp_path: Path, server: str, host: str | None = None, key: str = "wk-0123"):
    (tmp_path / "spokehub.yaml").write_text(
        f"version: 1\nstore:\n  url: sqlite:///{tmp_path}/hub.db\nserver:\n{server}"
        f"connections:\n  web:\n    kind: source\n    write_keys: [{key}]\n"
    )
    args = ["--config", str(tmp_path / "spokehub.yaml"), "serve", "--port", "1"]
    return CliRunner().invoke(app, [*args, *(["--host", host] if host else [])])


STRONG = "s" * 32


@pytest.mark.parametrize(
    ("server", "key", "why"),
    [
        ("  admin_token: short-but-set\n", "wk-0123", "server.admin_token is shorter than 32"),
        (f"  admin_token: {STRONG}\n", "website-dev-key", "write_keys[0] is a write key known"),
        (
            f"  admin_token: {STRONG}\n  tokens:\n    bi:\n      scopes: [profiles:read]\n"
            "      token: admin\n",
            "wk-0123",
            "server.tokens.bi.token is a token known to be a default",
        ),
    ],
)
def test_serve_refuses_a_reachable_address_with_a_weak_credential(tmp_path, server, key, why):
    result = serve_cli(tmp_path, server, host="0.0.0.0", key=key)
    assert result.exit_code == 2, result.output
    assert "refusing to serve on 0.0.0.0" in result.output and why in result.output
    for secret in ("short-but-set", "website-dev-key", STRONG):
        assert secret not in result.output
    assert not (tmp_path / "hub.db").exists()  # refused before anything was opened


def test_a_reachable_address_with_strong_credentials_or_a_loopback_one_is_not_refused():
    from spokehub.tokens import is_loopback, weak_credentials

    assert weak_credentials([("t", STRONG)], [("k", "wk-short")]) == []
    assert weak_credentials([("t", "change-me")], []) == ["t is a token known to be a default"]
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]", "localhost", "127.8.0.1")] == [
        True
    ] * 5
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "hub.example.com")] == [False] * 4


def test_a_token_is_configured_by_its_hash_or_from_the_environment_never_both(tmp_path):
    from spokehub.tokens import token_digest

    project = validate(
        {
            "server": {
                "tokens": {
                    "bi": {"scopes": ["profiles:read"], "sha256": token_digest("t-bi")},
                    "dpo": {"scopes": ["privacy", "profiles:read"], "token": "t-dpo"},
                }
            }
        }
    )
    table = project.token_table()
    assert table.grant("t-bi").scopes == {"profiles:read"}
    assert table.grant("t-dpo").name == "dpo"
    assert table.grant("t-nobody") is None and table.grant("") is None
    for bad in (
        {"scopes": ["profiles:read"]},
        {"scopes": ["profiles:read"], "token": "a", "sha256": token_digest("a")},
        {"scopes": [], "token": "a"},
        {"scopes": ["root"], "token": "a"},
    ):
        with pytest.raises(ConfigErrors) as caught:
            validate({"server": {"tokens": {"x": bad}}})
        assert "server.tokens.x" in str(caught.value)
    with pytest.raises(ConfigErrors) as caught:
        validate(
            {
                "server": {
                    "admin_token": "same",
                    "tokens": {"x": {"scopes": ["admin"], "token": "same"}},
                }
            }
        )
    assert "tokens.x is the same token as admin_token" in str(caught.value)
    assert "same'" not in str(caught.value)


def test_tokens_new_prints_the_token_once_and_its_hash_for_the_project_file(tmp_path):
    from spokehub.tokens import token_digest

    result = CliRunner().invoke(app, ["tokens", "new", "bi", "-s", "profiles:read"])
    assert result.exit_code == 0, result.output
    token = result.output.split("token (shown once; give it to its user): ")[1].split()[0]
    assert len(token) >= 32
    assert f"sha256: {token_digest(token)}" in result.output
    assert "scopes: [profiles:read]" in result.output
    bad = CliRunner().invoke(app, ["tokens", "new", "bi", "-s", "root"])
    assert bad.exit_code == 2 and "unknown root" in bad.output
