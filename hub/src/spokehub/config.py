"""The project file, ``spokehub.yaml``: loading, ``${ENV}`` interpolation and validation.

Every problem is reported as one line, ``<yaml path>: <rule>``, and all problems are
reported at once. Spoke configs are validated against the spoke's own ``Config`` model,
so a typo in a connection is caught by ``spokehub config validate``, not at 3 a.m.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

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
from .audiences.definitions import (
    ActivationSettings,
    Audience,
    Journey,
    check_accepted,
    check_names_and_targets,
)
from .datacontract import parse_contract
from .identity.rules import IdentityRules
from .registry import Registry
from .tokens import ADMIN_TOKEN_NAME, SCOPES, Scope, TokenTable, token_digest, weak_credentials
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


class BackpressureSettings(_Strict):
    """When ingestion pauses: while more than ``max_pending`` inbox rows wait for the
    pipeline, or a SQLite store's disk has less than ``min_free_disk_mb`` free, ingestion
    and webhook requests are answered 503 with ``Retry-After: retry_after_seconds``
    (Segment and RudderStack clients wait and send again). ``null`` turns a limit off.
    The backlog is counted at most every ``check_interval_ms``, not per request."""

    max_pending: int | None = Field(
        default=100_000, ge=1, description="inbox rows waiting above which ingestion pauses"
    )
    min_free_disk_mb: int | None = Field(
        default=1024, ge=0, description="free space under which ingestion pauses (SQLite)"
    )
    retry_after_seconds: int = Field(default=5, ge=1, le=300)
    check_interval_ms: int = Field(default=250, ge=10, le=60_000)


class HttpSettings(_Strict):
    """How long the HTTP server waits for slow or idle clients, and how many it serves at
    once: a client that stalls is cut off instead of holding a connection (and memory)
    for ever."""

    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="most seconds from a request's first byte to its last header",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="most seconds to receive the body of an authenticated request",
    )
    unauthenticated_body_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="most seconds to receive a body that carries its own credential (analytics.js)",
    )
    keep_alive_seconds: int = Field(
        default=5, ge=1, description="an idle keep-alive connection is closed after this"
    )
    max_concurrency: int = Field(
        default=1000,
        ge=1,
        description="open connections (or requests in progress) beyond which requests get 503",
    )


class TokenSettings(_Strict):
    """A named API token: what it may do, and the token itself (``token: ${ENV}``, read
    from the environment) or its SHA-256 (``sha256:``, as ``spokehub tokens new`` prints
    it), exactly one of the two."""

    scopes: list[Scope] = Field(min_length=1, description=f"any of {', '.join(SCOPES)}")
    token: Annotated[Credential, AfterValidator(_not_placeholder)] | None = None
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token"
    )

    @model_validator(mode="after")
    def _one_secret(self) -> TokenSettings:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("set exactly one of 'token' and 'sha256'")
        return self

    def digest(self) -> str:
        if self.token is not None:
            return token_digest(self.token.get_secret_value())
        assert self.sha256 is not None
        return self.sha256


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=1, le=65535)
    admin_token: Annotated[Credential, AfterValidator(_not_placeholder)] | None = Field(
        default=None,
        description="the operator's bearer token, with every scope",
    )
    tokens: dict[Annotated[str, Field(pattern=_CONN_NAME)], TokenSettings] = Field(
        default_factory=dict,
        description="further bearer tokens by name, each with its scopes",
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
    sync_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "seconds a sync run's lease on its connection lasts unless renewed; a run whose "
            "process died is taken over this long after its last renewal"
        ),
    )
    auth_failures: AuthFailureSettings = Field(default_factory=AuthFailureSettings)
    backpressure: BackpressureSettings = Field(default_factory=BackpressureSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    cors_origins: list[Annotated[str, AfterValidator(_origin)]] = Field(
        default_factory=list,
        description="origins whose web pages may send events (analytics.js), or *",
    )


class RetentionSettings(_Strict):
    """How long the data path keeps what it has finished with; ``null`` keeps it for
    ever. The daemon prunes every ``interval_seconds``, ``batch_size`` rows per short
    transaction, pausing ``pause_ms`` between batches so ingestion is not held up.
    messageIds are kept for the de-duplication window (``server.dedup_window_hours``)."""

    inbox_hours: float | None = Field(
        default=168.0, gt=0, description="processed inbox rows (the raw records)"
    )
    outbox_hours: float | None = Field(
        default=168.0, gt=0, description="delivered and suppressed outbox rows (their payloads)"
    )
    dead_letter_days: float | None = Field(default=30.0, gt=0, description="dead letters")
    quarantine_days: float | None = Field(default=30.0, gt=0, description="quarantined records")
    interval_seconds: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=500, ge=1, le=100_000)
    pause_ms: int = Field(default=20, ge=0, le=10_000)


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
    purposes: list[ConsentPurpose] | None = Field(
        default=None,
        description=(
            "consent purposes every send to this destination serves (checked before each "
            "send); unset takes the spoke's suggestion, [] serves none"
        ),
    )

    @model_validator(mode="after")
    def _shape(self) -> Connection:
        if self.kind == "destination" and not self.spoke:
            raise ValueError("a destination needs 'spoke'")
        if self.kind == "destination" and self.write_keys:
            raise ValueError("write_keys belong to sources only")
        if self.kind == "source" and self.purposes is not None:
            raise ValueError("purposes belong to destinations only")
        return self


class ConsentSettings(_Strict):
    """How consent reaches the hub besides its own records.

    ``categories`` maps the consent categories of Segment's ``context.consent.
    categoryPreferences`` (``Advertising``, ``Analytics``, …, as a consent manager names
    them) to the hub's purposes. A call's preferences decide every mapped category: true
    grants, false or absent denies, so an empty object denies them all (as Segment reads
    it). Categories that are not mapped are ignored.
    """

    categories: dict[str, ConsentPurpose] = Field(default_factory=dict)


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
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    contract: dict[str, Any] | str | None = Field(
        default=None, description="the data contract, or the path of a contract file"
    )
    audiences: dict[str, Audience] = Field(default_factory=dict)
    journeys: dict[str, Journey] = Field(default_factory=dict)
    activation: ActivationSettings = Field(default_factory=ActivationSettings)

    # Filled by load(): each connection's config validated by its spoke's Config model.
    spoke_configs: dict[str, SpokeConfig] = Field(default_factory=dict, exclude=True)
    path: Path | None = Field(default=None, exclude=True)
    _write_key_table: WriteKeyTable | None = PrivateAttr(default=None)
    _token_table: TokenTable | None = PrivateAttr(default=None)

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

    @field_validator("server")
    @classmethod
    def _tokens_unique(cls, server: ServerSettings) -> ServerSettings:
        # One token under two names would make the audit trail name the wrong one.
        owner: dict[str, str] = {}
        if server.admin_token is not None:
            owner[token_digest(server.admin_token.get_secret_value())] = "admin_token"
        for name, settings in server.tokens.items():
            first = owner.setdefault(settings.digest(), f"tokens.{name}")
            if first != f"tokens.{name}":
                raise ValueError(f"tokens.{name} is the same token as {first}")
        return server

    def sources(self) -> dict[str, Connection]:
        return {n: c for n, c in self.connections.items() if c.kind == "source"}

    def destinations(self) -> dict[str, Connection]:
        return {n: c for n, c in self.connections.items() if c.kind == "destination"}

    def purposes_of(self, name: str, suggested: Sequence[str] = ()) -> tuple[str, ...]:
        """The consent purposes the destination connection ``name`` serves: its own
        ``purposes:`` when set, otherwise ``suggested`` (its spoke's
        ``Capabilities.purposes``)."""
        conn = self.connections.get(name)
        if conn is not None and conn.purposes is not None:
            return tuple(p.value for p in conn.purposes)
        return tuple(suggested)

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

    def token_table(self) -> TokenTable:
        """The API tokens: ``server.admin_token`` with every scope, and ``server.tokens``."""
        if self._token_table is None:
            entries: list[tuple[str, str, tuple[str, ...]]] = []
            if self.server.admin_token is not None:
                digest = token_digest(self.server.admin_token.get_secret_value())
                entries.append((ADMIN_TOKEN_NAME, digest, SCOPES))
            for name, settings in self.server.tokens.items():
                entries.append((name, settings.digest(), tuple(settings.scopes)))
            self._token_table = TokenTable(entries)
        return self._token_table

    def weak_credentials(self) -> list[str]:
        """What keeps this project's credentials off a non-loopback address (see
        :func:`spokehub.tokens.weak_credentials`), one line each."""
        tokens = [
            (f"server.tokens.{name}.token", s.token.get_secret_value())
            for name, s in self.server.tokens.items()
            if s.token is not None
        ]
        if self.server.admin_token is not None:
            tokens.insert(0, ("server.admin_token", self.server.admin_token.get_secret_value()))
        keys = [
            (f"connections.{name}.write_keys[{i}]", k.get_secret_value())
            for name, conn in self.sources().items()
            for i, k in enumerate(conn.write_keys)
        ]
        return weak_credentials(tokens, keys)


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

    unset: list[ConfigError] = []
    data = interpolate(raw, os.environ if env is None else env, "", unset)
    try:
        project = validate(data, registry)
    except ConfigErrors as exc:
        # A value missing its variable was validated as "": what that broke is not news.
        rest = [e for e in exc.errors if not any(_related(e.path, u.path) for u in unset)]
        raise ConfigErrors(_in_file_order(data, [*unset, *rest])) from None
    if unset:
        raise ConfigErrors(unset)
    project.path = path
    return project


def validate(data: dict[str, Any], registry: Registry | None = None) -> Project:
    """Validate an already-interpolated mapping; see :func:`load`.

    A section that breaks its model does not hide the others' problems: the connections
    and routes that are valid on their own are still checked against each other and
    against their spokes' ``Config`` models, and every problem is raised at once, in the
    order of the file.
    """
    errors: list[ConfigError] = []
    project: Project | None = None
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        errors.extend(pydantic_config_errors(exc, ""))
    if project is not None:
        connections, routes = project.connections, list(enumerate(project.routes))
    else:
        connections = _valid_entries(data.get("connections"), Connection)
        routes = sorted(_valid_entries(data.get("routes"), Route).items())
    named = data.get("connections")
    names = list(named) if isinstance(named, dict) else []
    errors.extend(_check_references(connections, routes, names))
    errors.extend(
        check_names_and_targets(
            project.audiences if project else _valid_entries(data.get("audiences"), Audience),
            project.journeys if project else _valid_entries(data.get("journeys"), Journey),
            {name: conn.kind for name, conn in connections.items()},
            set(names),
        )
    )
    spoke_configs: dict[str, SpokeConfig] = {}
    if registry is not None:
        errors.extend(_validate_spokes(connections, registry, spoke_configs))
        if project is not None:
            accepts = {
                name: registry.destinations[conn.spoke].cls.capabilities.record_kinds
                for name, conn in connections.items()
                if conn.kind == "destination" and conn.spoke in registry.destinations
            }
            errors.extend(check_accepted(project.audiences, project.journeys, accepts))
    contract = data.get("contract")
    if isinstance(contract, dict):
        try:
            parse_contract(contract)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
    if errors or project is None:
        raise ConfigErrors(_in_file_order(data, errors))
    project.spoke_configs = spoke_configs
    return project


_M = TypeVar("_M", bound=BaseModel)


def _valid_entries(section: Any, model: type[_M]) -> dict[Any, _M]:
    """The entries of a mapping or list section that are valid on their own, by key or
    index (the project's own validation reports what is wrong with the others)."""
    if isinstance(section, dict):
        items = list(section.items())
    elif isinstance(section, list):
        items = list(enumerate(section))
    else:
        return {}
    valid: dict[Any, _M] = {}
    for key, value in items:
        try:
            valid[key] = model.model_validate(value)
        except ValidationError:
            continue
    return valid


def _check_references(
    connections: Mapping[str, Connection], routes: list[tuple[int, Route]], names: list[str]
) -> list[ConfigError]:
    """Connection names, and the connections each route names.

    :param names: every connection name in the file; a route naming one that is there but
        invalid is not blamed for it (the connection's own problem is reported).
    """

    def missing(name: str, kind: str) -> bool:
        conn = connections.get(name)
        return name not in names if conn is None else conn.kind != kind

    errors: list[ConfigError] = []
    for i, route in routes:
        if missing(route.to, "destination"):
            errors.append(ConfigError(f"routes[{i}].to", f"no destination connection {route.to!r}"))
        for src in route.sources or []:
            if missing(src, "source"):
                errors.append(ConfigError(f"routes[{i}].from", f"no source connection {src!r}"))
    for name in names:
        if not re.match(_CONN_NAME, str(name)):
            errors.append(ConfigError(f"connections.{name}", f"name must match {_CONN_NAME}"))
    return errors


def _validate_spokes(
    connections: Mapping[str, Connection], registry: Registry, configs: dict[str, SpokeConfig]
) -> list[ConfigError]:
    """Check each connection's spoke is installed and its ``config`` satisfies the spoke's
    ``Config`` model; the validated configs go into ``configs``."""
    errors: list[ConfigError] = []
    for name, conn in connections.items():
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
            configs[name] = model.model_validate(conn.config)
        except ValidationError as exc:
            errors.extend(pydantic_config_errors(exc, f"connections.{name}.config"))
    return errors


_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _steps(path: str) -> list[str | int]:
    """``connections.crm.config.streams[0]`` as ``["connections", "crm", ..., 0]``."""
    return [int(index) if index else key for index, key in _STEP.findall(path)]


def _related(a: str, b: str) -> bool:
    """One path is the other or lies within it."""
    x, y = _steps(a), _steps(b)
    return x[: len(y)] == y or y[: len(x)] == x


def _in_file_order(data: Any, errors: list[ConfigError]) -> list[ConfigError]:
    """``errors`` in the order their paths appear in the file (a key the file lacks sorts
    after its siblings); problems at one place keep their order."""

    def position(error: ConfigError) -> list[int]:
        node, where = data, []
        for step in _steps(error.path):
            if isinstance(node, dict) and step in node:
                where.append(list(node).index(step))
                node = node[step]
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                where.append(step)
                node = node[step]
            else:
                where.append(len(node) if isinstance(node, dict | list) else 0)
                node = None
        return where

    return sorted(errors, key=position)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
