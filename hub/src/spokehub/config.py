"""The project file, ``spokehub.yaml``: loading, ``${ENV}`` interpolation and validation.

Every problem is reported as one line, ``<yaml path>: <rule>``, and all problems are
reported at once. Spoke configs are validated against the spoke's own ``Config`` model,
so a typo in a connection is caught by ``spokehub config validate``, not at 3 a.m.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from spokehub_contracts import ConfigError, ConsentPurpose, SpokeConfig

from . import DEFAULT_FILE
from ._errors import ConfigErrors, pydantic_config_errors
from .identity.rules import IdentityRules
from .registry import Registry
from .write_keys import WriteKeyTable

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_CONN_NAME = r"^[a-z][a-z0-9_-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Tokens that ship in examples and starters: known to everyone, so they protect nothing.
PLACEHOLDER_TOKENS = frozenset({"change-me"})


def _not_blank(secret: SecretStr) -> SecretStr:
    # An empty credential would match an empty presented one: refuse it where it is set.
    if not secret.get_secret_value().strip():
        raise ValueError("must not be empty or whitespace")
    return secret


def _not_placeholder(secret: SecretStr) -> SecretStr:
    if secret.get_secret_value().strip() in PLACEHOLDER_TOKENS:
        raise ValueError(
            "is the starter's placeholder token; set a secret of your own "
            "(spokehub init writes one to .env as SPOKEHUB_ADMIN_TOKEN)"
        )
    return secret


#: A credential from the project file: never empty or whitespace.
Credential = Annotated[SecretStr, AfterValidator(_not_blank)]


class StoreSettings(_Strict):
    url: str = "sqlite:///spokehub.db"


_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


def _origin(origin: str) -> str:
    if origin != "*" and not _ORIGIN.match(origin):
        raise ValueError("an origin is scheme://host[:port], without a path, or *")
    return origin


class AuthFailureSettings(_Strict):
    """How many failed authentications a client address may make: ``burst`` at once,
    then ``per_minute`` (a token bucket); beyond that its requests are answered 429
    with ``Retry-After`` without being checked."""

    burst: int = Field(default=20, ge=1)
    per_minute: float = Field(default=10.0, gt=0)


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=1, le=65535)
    admin_token: Annotated[Credential, AfterValidator(_not_placeholder)] | None = Field(
        default=None,
        description="Bearer token of the profile and delivery APIs; unset turns them off",
    )
    dedup_window_hours: float = Field(
        default=24.0,
        gt=0,
        description=(
            "hours within which a repeated messageId from the same source is acknowledged "
            "but not stored again"
        ),
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description=(
            "addresses or networks of reverse proxies whose X-Forwarded-For names the client"
        ),
    )
    auth_failures: AuthFailureSettings = Field(default_factory=AuthFailureSettings)
    cors_origins: list[Annotated[str, AfterValidator(_origin)]] = Field(
        default_factory=list,
        description="origins whose web pages may send events (analytics.js), or *",
    )


class Connection(_Strict):
    """A configured instance of a spoke.

    ``kind: source`` connections bring data in (pulled on ``schedule``, pushed through
    webhooks, or sent by clients using one of ``write_keys``); ``spoke`` may be left out
    for a source that only receives events through the HTTP API. ``kind: destination``
    connections receive what the routes send them.
    """

    kind: Literal["source", "destination"]
    spoke: str | None = None
    write_keys: list[Credential] = Field(default_factory=list)
    schedule: float | None = Field(default=None, gt=0, description="pull every N seconds")
    config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shape(self) -> Connection:
        if self.kind == "destination" and not self.spoke:
            raise ValueError("a destination needs 'spoke'")
        if self.kind == "destination" and self.write_keys:
            raise ValueError("write_keys belong to sources only")
        return self


class Route(_Strict):
    """What goes where: changes of the given kinds (and events of the given names) from
    the given sources to one destination, with an optional field mapping."""

    name: str | None = None
    to: str
    sources: list[str] | None = Field(default=None, alias="from")
    kinds: list[str] = Field(
        default_factory=lambda: ["upsert_person", "upsert_account", "upsert_membership", "event"]
    )
    events: list[str] | None = None
    mapping: dict[str, str] = Field(default_factory=dict)
    purpose: ConsentPurpose | None = Field(
        default=None, description="consent purpose these sends serve; checked before each send"
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Project(_Strict):
    """The validated project file."""

    version: Literal[1] = 1
    store: StoreSettings = Field(default_factory=StoreSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    connections: dict[str, Connection] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    identity: IdentityRules = Field(default_factory=IdentityRules)
    contract: dict[str, Any] | str | None = Field(
        default=None, description="the data contract, or the path of a contract file"
    )

    # Filled by load(): each connection's config validated by its spoke's Config model.
    spoke_configs: dict[str, SpokeConfig] = Field(default_factory=dict, exclude=True)
    path: Path | None = Field(default=None, exclude=True)
    _write_key_table: WriteKeyTable | None = PrivateAttr(default=None)

    @field_validator("connections")
    @classmethod
    def _write_keys_unique(cls, connections: dict[str, Connection]) -> dict[str, Connection]:
        # A key shared by two sources would file one source's events under the other.
        owner: dict[str, str] = {}
        for name, conn in connections.items():
            for i, key in enumerate(conn.write_keys):
                first = owner.setdefault(key.get_secret_value(), name)
                if first != name:
                    raise ValueError(
                        f"{name}.write_keys[{i}] is also a write key of {first}; "
                        "each key must name one source"
                    )
        return connections

    def sources(self) -> dict[str, Connection]:
        return {n: c for n, c in self.connections.items() if c.kind == "source"}

    def destinations(self) -> dict[str, Connection]:
        return {n: c for n, c in self.connections.items() if c.kind == "destination"}

    def source_for_write_key(self, key: str) -> str | None:
        """The source ``key`` is a write key of, or ``None``, found with the same work
        whether or not the key exists (see :mod:`spokehub.write_keys`)."""
        if self._write_key_table is None:
            self._write_key_table = WriteKeyTable(
                (name, k.get_secret_value())
                for name, conn in self.sources().items()
                for k in conn.write_keys
            )
        return self._write_key_table.source(key)


def interpolate(value: Any, env: Mapping[str, str], path: str, errors: list[ConfigError]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, _join(path, str(k)), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        errors.append(ConfigError(path, f"environment variable {name} is not set"))
        return ""

    return _ENV.sub(sub, value)


def load(
    path: str | Path = DEFAULT_FILE,
    registry: Registry | None = None,
    env: Mapping[str, str] | None = None,
) -> Project:
    """Read, interpolate and validate a project file.

    :param registry: when given, each connection's spoke must be installed and its
        ``config`` must satisfy the spoke's ``Config`` model.
    :raises ConfigErrors: listing every problem, each with its YAML path.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigErrors(
            [ConfigError(str(path), "file not found (run 'spokehub init')")]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigErrors([ConfigError(where, f"invalid YAML: {problem}")]) from None
    if not isinstance(raw, dict):
        raise ConfigErrors([ConfigError(str(path), "the file must hold a mapping")])

    errors: list[ConfigError] = []
    data = interpolate(raw, os.environ if env is None else env, "", errors)
    if errors:
        raise ConfigErrors(errors)
    project = validate(data, registry)
    project.path = path
    return project


def validate(data: dict[str, Any], registry: Registry | None = None) -> Project:
    """Validate an already-interpolated mapping; see :func:`load`."""
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors(pydantic_config_errors(exc, "")) from None
    errors: list[ConfigError] = []
    for i, route in enumerate(project.routes):
        if route.to not in project.destinations():
            errors.append(ConfigError(f"routes[{i}].to", f"no destination connection {route.to!r}"))
        for src in route.sources or []:
            if src not in project.sources():
                errors.append(ConfigError(f"routes[{i}].from", f"no source connection {src!r}"))
    for name in project.connections:
        if not re.match(_CONN_NAME, name):
            errors.append(ConfigError(f"connections.{name}", f"name must match {_CONN_NAME}"))
    if registry is not None:
        errors.extend(_validate_spokes(project, registry))
    if isinstance(project.contract, dict):
        from .datacontract import parse_contract

        try:
            parse_contract(project.contract)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
    if errors:
        raise ConfigErrors(errors)
    return project


def _validate_spokes(project: Project, registry: Registry) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for name, conn in project.connections.items():
        if conn.spoke is None:
            if conn.config:
                errors.append(ConfigError(f"connections.{name}.config", "needs 'spoke'"))
            continue
        table = registry.sources if conn.kind == "source" else registry.destinations
        if conn.spoke not in table:
            known = ", ".join(sorted(table)) or "none installed"
            errors.append(
                ConfigError(
                    f"connections.{name}.spoke",
                    f"unknown {conn.kind} spoke {conn.spoke!r} (installed: {known})",
                )
            )
            continue
        model = table[conn.spoke].cls.Config
        try:
            project.spoke_configs[name] = model.model_validate(conn.config)
        except ValidationError as exc:
            errors.extend(pydantic_config_errors(exc, f"connections.{name}.config"))
    return errors


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
