"""Conformance checks a vendor calls from their own tests.

Each check raises ``AssertionError`` with a message that says what the spoke must change,
and returns what it built so a test can go on asserting.
"""

from __future__ import annotations

import re
import typing
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, get_args

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from .._errors import SpokehubError, ValidationFailed
from .._normalize import check_identifier_type
from .._records import (
    ChangeKind,
    Delivered,
    Rejected,
    RejectedRecord,
    RetryAfter,
    SourceRecord,
    StateCheckpoint,
)
from .._redact import SECRET_KEY
from .._schema import RecordKind
from .._spoke import Capabilities, Destination, Source, SpokeConfig, Stream

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# Field names that mention a secret but hold none: where to fetch a token, which header
# carries a signature.
_NOT_A_SECRET = re.compile(r"(_url|_uri|_endpoint|_header|_name|_type|_field|_path)$")
_UNKNOWN_KEY = "spokehub_conformance_unknown_key"


def _fail(message: str) -> typing.NoReturn:
    raise AssertionError(message)


def _is_secret_type(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    return any(_is_secret_type(arg) for arg in get_args(annotation))


def _secret_values(model: BaseModel) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, SecretBytes):
            found.append(value.get_secret_value().decode("utf-8", "replace"))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)

    walk(model)
    # Very short values ("a", "1") would match by accident anywhere.
    return [value for value in found if len(value) >= 4]


def assert_no_secrets(config: BaseModel, *texts: object, where: str = "output") -> None:
    """Assert that no ``SecretStr`` value of ``config`` appears in any of ``texts``.

    Pass strings, exceptions or anything else with a ``str()``: log output
    (``caplog.text``), error messages, outcomes.
    """
    secrets = _secret_values(config)
    for text in texts:
        rendered = f"{text!s} {text!r}"
        for secret in secrets:
            if secret in rendered:
                _fail(f"a secret of the config appears in {where}: mask it or leave it out")


def _spoke_name(spoke_cls: type) -> str:
    return f"{spoke_cls.__module__}.{spoke_cls.__qualname__}"


def check_capabilities(spoke_cls: type[Source] | type[Destination]) -> Capabilities:
    """Assert the spoke declares a usable ``name`` and its ``capabilities``.

    Checks: a lowercase ``name``; a :class:`~spokehub_contracts.Capabilities` instance; the
    record kinds a source yields or the change kinds a destination accepts, all known; the
    identifier types, all valid; and every capability backed by the method it needs
    (``can_delete`` by ``forget``, ``webhooks`` by ``verify_webhook`` and ``parse_webhook``).
    """
    who = _spoke_name(spoke_cls)
    name = getattr(spoke_cls, "name", None)
    if not (isinstance(name, str) and _NAME.match(name)):
        _fail(f"{who}.name must be lowercase letters, digits, '_' or '-', got {name!r}")
    capabilities = getattr(spoke_cls, "capabilities", None)
    if not isinstance(capabilities, Capabilities):
        _fail(f"{who}.capabilities must be a spokehub_contracts.Capabilities instance")
    if issubclass(spoke_cls, Destination):
        known = set(get_args(ChangeKind))
        if not capabilities.record_kinds:
            _fail(f"{who}.capabilities.record_kinds must list the change kinds it accepts")
        if spoke_cls.write is Destination.write:
            _fail(f"{who} must implement write(batch)")
        if capabilities.can_delete and spoke_cls.forget is Destination.forget:
            _fail(f"{who} declares can_delete but does not implement forget(identifiers)")
    else:
        known = set(get_args(RecordKind))
        if spoke_cls.streams is Source.streams:
            _fail(f"{who} must implement streams()")
        if capabilities.webhooks and (
            spoke_cls.verify_webhook is Source.verify_webhook
            or spoke_cls.parse_webhook is Source.parse_webhook
        ):
            _fail(f"{who} declares webhooks but lacks verify_webhook() or parse_webhook()")
    unknown = sorted(set(capabilities.record_kinds) - known)
    if unknown:
        _fail(f"{who}.capabilities.record_kinds has unknown kinds {unknown}; use {sorted(known)}")
    for type_ in capabilities.identifier_types:
        try:
            check_identifier_type(type_)
        except ValidationFailed as exc:
            _fail(f"{who}.capabilities.identifier_types: {exc.rule}")
    return capabilities


def check_config(
    spoke_cls: type[Source] | type[Destination], config: Mapping[str, Any]
) -> SpokeConfig:
    """Assert the spoke's ``Config`` model takes ``config`` and keeps its secrets.

    Checks: ``Config`` is a :class:`~spokehub_contracts.SpokeConfig` subclass; it accepts
    ``config``; it refuses an unknown key (so typos surface when the project file is
    validated); fields named like credentials (``api_key``, ``token``, ``password``) are
    typed ``SecretStr``; and no secret shows in the model's ``str``, ``repr`` or JSON, nor in
    the validation error for a bad config.

    :returns: the validated config model.
    """
    who = _spoke_name(spoke_cls)
    model_cls = getattr(spoke_cls, "Config", None)
    if not (isinstance(model_cls, type) and issubclass(model_cls, SpokeConfig)):
        _fail(f"{who}.Config must be a pydantic model subclassing spokehub_contracts.SpokeConfig")
    for field, info in model_cls.model_fields.items():
        looks_secret = SECRET_KEY.search(field) and not _NOT_A_SECRET.search(field)
        if looks_secret and not _is_secret_type(info.annotation):
            _fail(f"{who}.Config.{field} holds a credential: type it SecretStr")
    try:
        model = model_cls.model_validate(dict(config))
    except ValidationError as exc:
        _fail(f"{who}.Config refused the test config: {exc}")
    try:
        model_cls.model_validate({**config, _UNKNOWN_KEY: "x"})
    except ValidationError as exc:
        if _UNKNOWN_KEY not in str(exc):
            _fail(f"{who}.Config must name the unknown key it refuses")
        assert_no_secrets(model, exc, where=f"{who}.Config's validation error")
    else:
        _fail(f"{who}.Config must refuse unknown keys (model_config extra='forbid')")
    assert_no_secrets(model, model, model.model_dump_json(), where=f"{who}.Config's str/repr/json")
    return model


async def check_destination(
    dest_cls: type[Destination],
    config: Mapping[str, Any],
    batch: Sequence[Any],
    *,
    connection: str = "conformance",
) -> list[Delivered | RetryAfter | Rejected]:
    """Run ``dest_cls`` on ``batch`` and assert it keeps the destination contract.

    Runs :func:`check_capabilities` and :func:`check_config`, then ``write(batch)`` on a
    fresh instance (closed afterwards), and asserts: the batch fits ``batch_size`` and the
    declared change kinds; ``write`` answers exactly one outcome per item, matched by
    ``item_id``; no outcome and no error raised by ``write`` carries a secret. Fake the
    vendor as usual around the call (respx, or a ``FaultInjectingTransport``).

    :returns: the outcomes, in the order ``write`` gave them.
    """
    who = _spoke_name(dest_cls)
    capabilities = check_capabilities(dest_cls)
    model = check_config(dest_cls, config)
    if len(batch) > capabilities.batch_size:
        _fail(f"the test batch has {len(batch)} items, more than batch_size")
    refused = sorted({c.kind for c in batch} - set(capabilities.record_kinds))
    if refused:
        _fail(f"the test batch has kinds {refused} that {who} does not declare")
    dest = dest_cls(model, connection=connection)
    try:
        outcomes = list(await dest.write(batch))
    except SpokehubError as exc:
        assert_no_secrets(model, exc, where=f"the error {who}.write() raised")
        raise
    finally:
        await dest.aclose()
    for outcome in outcomes:
        if not isinstance(outcome, Delivered | RetryAfter | Rejected):
            _fail(f"{who}.write() answered {type(outcome).__name__}; answer Outcome objects")
    expected = [c.item_id for c in batch]
    answered = [o.item_id for o in outcomes]
    if len(answered) != len(expected) or set(answered) != set(expected):
        missing = sorted(set(expected) - set(answered))
        extra = sorted(set(answered) - set(expected))
        _fail(
            f"{who}.write() must answer exactly one outcome per item: got {len(answered)}"
            f" for {len(expected)} items (missing {missing}, unexpected {extra})"
        )
    assert_no_secrets(model, *outcomes, where=f"an outcome of {who}.write()")
    return outcomes


async def check_source(
    source_cls: type[Source],
    config: Mapping[str, Any],
    *,
    stream: str | None = None,
    state: Mapping[str, Any] | None = None,
    max_items: int = 1000,
    connection: str = "conformance",
) -> list[SourceRecord | StateCheckpoint | RejectedRecord]:
    """Read one stream of ``source_cls`` and assert it keeps the source contract.

    Runs :func:`check_capabilities` and :func:`check_config`, lists ``streams()`` (unique
    names), then reads ``stream`` (default: the first) from ``state`` and asserts that
    ``read`` is an async generator of records, checkpoints and rejected rows of that
    stream, whose record kinds the source declares, and that each rejected row says where
    it was and which rule it broke.

    :returns: what ``read`` yielded, at most ``max_items`` items.
    """
    who = _spoke_name(source_cls)
    capabilities = check_capabilities(source_cls)
    model = check_config(source_cls, config)
    source = source_cls(model, connection=connection)
    items: list[SourceRecord | StateCheckpoint | RejectedRecord] = []
    try:
        streams = list(await source.streams())
        if not all(isinstance(s, Stream) for s in streams):
            _fail(f"{who}.streams() must answer Stream objects")
        names = [s.name for s in streams]
        if len(set(names)) != len(names):
            _fail(f"{who}.streams() names a stream twice: {names}")
        if stream is None:
            if not names:
                _fail(f"{who}.streams() offers no stream")
            stream = names[0]
        reader = source.read(stream, state)
        if not isinstance(reader, AsyncIterator):
            _fail(f"{who}.read() must be an async generator (async def with yield)")
        async for item in reader:
            _check_read_item(who, item, stream, capabilities.record_kinds)
            items.append(item)
            if len(items) >= max_items:
                break
    except SpokehubError as exc:
        assert_no_secrets(model, exc, where=f"the error {who} raised")
        raise
    finally:
        await source.aclose()
    return items


def _check_read_item(who: str, item: object, stream: str, kinds: Iterable[str]) -> None:
    if not isinstance(item, SourceRecord | StateCheckpoint | RejectedRecord):
        _fail(
            f"{who}.read() yielded {type(item).__name__}; yield SourceRecord, StateCheckpoint"
            " or RejectedRecord"
        )
    if item.stream != stream:
        _fail(f"{who}.read({stream!r}) yielded an item of stream {item.stream!r}")
    if isinstance(item, RejectedRecord) and not (item.rule.strip() and item.location.strip()):
        _fail(
            f"{who}.read({stream!r}) yielded a RejectedRecord without its location or rule:"
            " say where the row was and which rule it broke"
        )
    declared = set(kinds)
    if isinstance(item, SourceRecord) and declared and item.kind not in declared:
        _fail(f"{who}.read() yielded a {item.kind!r} record, not in capabilities.record_kinds")
