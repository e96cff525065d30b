"""The conformance suite as one class a vendor subclasses.

``SpokeConformance`` holds the whole contract as named tests; a subclass names the spoke,
an example config and the vendor's sandbox, and pytest collects the tests that apply to
that spoke, so the output reads as a checklist::

    class TestAcmeConformance(SpokeConformance):
        spoke = AcmeDestination
        config = {"api_key": "acme-test-key"}
        sandbox = AcmeSandbox

Every test builds what it needs (a fresh sandbox on a :class:`FakeClock`, the spoke's
toolkit client routed to it by :func:`intercept_clients`), so tests are independent and
fast: waits for ``Retry-After`` or a rate budget cost no wall time. A test that cannot
apply to this spoke (no rate limit declared, no sandbox) is skipped with the reason. The
module imports nothing of pytest: skips are ``unittest.SkipTest``, which pytest honours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import time
import unittest
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

from pydantic import SecretBytes, SecretStr, ValidationError

from .._errors import SpokeError, Throttled, TransientError
from .._records import (
    Change,
    Delivered,
    Forget,
    Rejected,
    RejectedRecord,
    RetryAfter,
    SourceRecord,
    StateCheckpoint,
)
from .._redact import MASK, redact
from .._schema import Identifier
from .._spoke import CheckResult, CheckStatus, Destination, Source, Stream
from ._checks import (
    _check_read_item,
    _secret_values,
    check_capabilities,
    check_config,
    check_destination,
)
from ._clock import FakeClock, intercept_clients
from ._examples import example_changes, personal_values
from ._sandbox import Sandbox
from ._transport import Fault

T = TypeVar("T")

#: Person-like record kinds: without an identifier the hub cannot tell whose they are.
_PERSON_KINDS = frozenset({"person", "consent", "membership", "score", "privacy_request"})
#: Loggers of the HTTP stack under the toolkit: their debug lines are not the spoke's.
_TRANSPORT_LOGGERS = ("httpx", "httpcore", "hpack", "asyncio")
#: Keys in record data that take the time of reading and so differ between two reads.
_READ_TIME_KEYS = ("recorded_at", "computed_at", "observed_at")
_CHECKPOINT_SAMPLE = 20

ReadItem = SourceRecord | StateCheckpoint | RejectedRecord


def _fail(message: str) -> NoReturn:
    raise AssertionError(message)


def _skip(reason: str) -> NoReturn:
    raise unittest.SkipTest(reason)


def _run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


@dataclass
class _Session:
    """One test's vendor: the sandbox (if any), its clock, and the config pointing at it."""

    sandbox: Sandbox | None
    clock: FakeClock
    config: dict[str, Any]


@dataclass
class _Read:
    """What one ``read()`` yielded, and how it ended."""

    items: list[ReadItem] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def checkpoints(self) -> list[tuple[int, StateCheckpoint]]:
        """Checkpoints with their position in :attr:`items`."""
        return [(n, i) for n, i in enumerate(self.items) if isinstance(i, StateCheckpoint)]

    @property
    def state(self) -> dict[str, Any] | None:
        found = self.checkpoints
        return found[-1][1].state if found else None

    def seen(self, end: int | None = None) -> list[tuple[str, ...]]:
        """Keys of the records and rejected rows among the first ``end`` items."""
        return [_key(i) for i in self.items[:end] if not isinstance(i, StateCheckpoint)]


def _key(item: SourceRecord | RejectedRecord) -> tuple[str, ...]:
    """What makes a record the same record in two reads: its id, else its data."""
    if isinstance(item, RejectedRecord):
        return (item.stream, "rejected", item.location, item.rule)
    if item.record_id:
        return (item.stream, item.kind, item.record_id)
    data = item.data.model_dump(mode="json")
    for name in _READ_TIME_KEYS:
        data.pop(name, None)
    return (item.stream, item.kind, json.dumps(data, sort_keys=True, default=str))


def _shown(keys: Sequence[tuple[str, ...]], limit: int = 5) -> str:
    """A few keys for a message: ids as they are, data masked."""
    shown = [redact(k[-1])[:60] for k in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(shown) + more


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _in_the_future(value: Any) -> Any:
    """``value`` with every number and ISO time moved far ahead; others unchanged."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value + 10**12
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        later = moment.replace(year=moment.year + 100).isoformat()
        return later.replace("+00:00", "Z") if value.endswith("Z") else later
    if isinstance(value, Mapping):
        return {k: _in_the_future(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_the_future(v) for v in value]
    return value


class _LogCapture(logging.Handler):
    """Every log record of the spoke's run, at every level, but the HTTP stack's own."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] not in _TRANSPORT_LOGGERS:
            self.records.append(record)

    def lines(self) -> Iterator[tuple[str, str]]:
        for record in self.records:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" {record.exc_info[1]!r}"
            yield record.name, text


@contextmanager
def _capture_logs() -> Iterator[_LogCapture]:
    capture = _LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


class SpokeConformance:
    """The conformance suite: subclass it in your tests as ``Test<Something>`` and set
    :attr:`spoke`, :attr:`config` and, for a spoke that talks to a vendor, :attr:`sandbox`.

    The tests that apply to the spoke's kind are collected (sources: streams, reads,
    resumption, webhooks when declared; destinations: outcomes, batch size, rate limit,
    faults, ``forget``), with the config, ``check()`` and log hygiene for both. Override
    the hooks (:meth:`make_sandbox`, :meth:`example_batch`, :meth:`future_state`) where
    the defaults do not fit your vendor.
    """

    #: The spoke class under test.
    spoke: ClassVar[type[Source] | type[Destination]]
    #: A config that works against the sandbox (its credentials are the sandbox's).
    config: ClassVar[Mapping[str, Any]] = {}
    #: The vendor's sandbox; started afresh for every test that needs it.
    sandbox: ClassVar[type[Sandbox] | None] = None
    #: The config field that takes the vendor's API root; pointed at the sandbox.
    base_url_field: ClassVar[str] = "base_url"
    #: The config field holding the secret webhooks are signed with.
    webhook_secret_field: ClassVar[str] = "webhook_secret"
    #: The config's JSON schema as the last release published it, relative to the test
    #: module's folder; ``SPOKEHUB_UPDATE_SCHEMA=1 pytest`` writes the current one there.
    config_schema_file: ClassVar[str | None] = None
    #: Identifiers ``forget()`` is called with.
    forget_identifiers: ClassVar[Sequence[Identifier]] = (
        Identifier(type="email", value="person1@example.com"),
    )
    #: Most records one read of a stream may yield in the suite.
    max_records: ClassVar[int] = 1000
    #: How many records a resumed read may repeat from before its checkpoint (0 when a
    #: checkpoint is exact; a time-window cursor that re-reads its boundary needs more).
    resume_duplicates: ClassVar[int] = 0

    _HIDDEN: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spoke = cls.__dict__.get("spoke")
        if spoke is None:
            return
        # Tests of another kind of spoke are left out of the checklist, not skipped.
        hidden: list[str] = []
        if not issubclass(spoke, Source):
            hidden += ["test_source_", "test_webhook_"]
        elif not spoke.capabilities.webhooks:
            hidden.append("test_webhook_")
        if not issubclass(spoke, Destination):
            hidden.append("test_destination_")
        for name in dir(cls):
            if name.startswith(tuple(hidden)):
                setattr(cls, name, None)

    # -- hooks -------------------------------------------------------------------------

    def make_sandbox(self, clock: FakeClock) -> Sandbox | None:
        """The sandbox for one test, on ``clock``; ``None`` when the spoke has no vendor."""
        return self.sandbox(clock=clock) if self.sandbox is not None else None

    def example_batch(self) -> list[Change]:
        """The changes the destination tests write: by default one of every declared
        kind, about made-up people."""
        caps = self.spoke.capabilities
        count = min(caps.batch_size, max(3, len(caps.record_kinds)))
        return example_changes(caps.record_kinds, count, caps.identifier_types)

    def future_state(self, stream: str, state: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """A state from the future for ``stream``, given the last state of a full read:
        by default every number and ISO time in it moved far ahead. ``None`` skips the
        test (say why in your override's docstring)."""
        moved = _in_the_future(state)
        return None if moved == state else moved

    # -- machinery ---------------------------------------------------------------------

    @property
    def _who(self) -> str:
        return self.spoke.__name__

    @contextmanager
    def _vendor(self) -> Iterator[_Session]:
        clock = FakeClock()
        config = dict(self.config)
        sandbox = self.make_sandbox(clock)
        if sandbox is None:
            yield _Session(None, clock, config)
            return
        # A client that bypasses the toolkit meets an injected timeout over the socket:
        # hold it briefly, then answer 504, rather than for the sandbox's full hold.
        sandbox.faults.timeout_seconds = min(sandbox.faults.timeout_seconds, 0.5)
        transport = sandbox.transport(sleep=clock.sleep)
        with sandbox, intercept_clients(transport, clock=clock):
            if self.base_url_field in self.spoke.Config.model_fields:
                config[self.base_url_field] = sandbox.url
            yield _Session(sandbox, clock, config)

    def _needs_sandbox(self, session: _Session, what: str) -> Sandbox:
        if session.sandbox is None:
            _skip(f"no vendor sandbox ({what} happen at a vendor): set `sandbox` if there is one")
        return session.sandbox

    def _build(self, config: Mapping[str, Any]) -> Any:
        model = self.spoke.Config.model_validate(dict(config))
        return self.spoke(model, connection="conformance")

    async def _with_spoke(self, config: Mapping[str, Any], use: Callable[[Any], Awaitable[T]]) -> T:
        spoke = self._build(config)
        try:
            return await use(spoke)
        finally:
            await spoke.aclose()

    def _secret_fields(self) -> list[str]:
        model = self.spoke.Config.model_validate(dict(self.config))
        return [
            name
            for name in type(model).model_fields
            if isinstance(getattr(model, name), SecretStr | SecretBytes)
        ]

    # -- sources: reading --------------------------------------------------------------

    async def _read(
        self,
        config: Mapping[str, Any],
        stream: str,
        state: Mapping[str, Any] | None,
        *,
        stop_after: int | None = None,
    ) -> _Read:
        """Read ``stream`` from ``state`` with a fresh spoke; stop (as a crash would) after
        ``stop_after`` records. Errors are kept, not raised."""
        result = _Read()
        spoke = self._build(config)
        reader: AsyncIterator[ReadItem] | None = None
        records = 0
        try:
            reader = spoke.read(stream, state)
            if not isinstance(reader, AsyncIterator):
                _fail(f"{self._who}.read() must be an async generator (async def with yield)")
            async for item in reader:
                _check_read_item(self._who, item, stream, self.spoke.capabilities.record_kinds)
                result.items.append(item)
                if not isinstance(item, StateCheckpoint):
                    records += 1
                if stop_after is not None and records >= stop_after:
                    break
                if records > self.max_records:
                    _fail(
                        f"{self._who}.read({stream!r}) yielded more than max_records="
                        f"{self.max_records} records from the sandbox: raise max_records or"
                        " give the sandbox less data"
                    )
        except AssertionError:
            raise
        except Exception as exc:
            result.error = exc
        finally:
            aclose = getattr(reader, "aclose", None)
            if aclose is not None:
                await aclose()
            await spoke.aclose()
        return result

    def _streams(self, config: Mapping[str, Any]) -> list[Stream]:
        streams = _run(self._with_spoke(config, lambda s: s.streams()))
        return list(streams)

    def _read_through(
        self, session: _Session, stream: str, state: Mapping[str, Any] | None
    ) -> _Read:
        """A read of ``stream`` from ``state`` that must end without an error."""
        done = _run(self._read(session.config, stream, state))
        if done.error is not None:
            self._raise_read_error(stream, done.error)
        return done

    def _full_read(self, session: _Session, stream: str) -> _Read:
        full = self._read_through(session, stream, None)
        if not full.seen():
            _fail(
                f"{self._who}.read({stream!r}) yielded no records from the example config:"
                " the suite needs data to read (seed the sandbox)"
            )
        if not full.checkpoints:
            _fail(
                f"{self._who}.read({stream!r}) yielded no StateCheckpoint: yield one after"
                " each page so that a stopped run resumes where it was"
            )
        return full

    def _raise_read_error(self, stream: str, error: BaseException) -> NoReturn:
        if isinstance(error, SpokeError):
            _fail(f"{self._who}.read({stream!r}) failed against the sandbox: {error}")
        _fail(
            f"{self._who}.read({stream!r}) crashed with {type(error).__name__}: {error}; let"
            " only the contract's errors (TransientError, Throttled, AuthError,"
            " PermanentError) out of read()"
        )

    def _assert_no_gap(
        self,
        stream: str,
        full: _Read,
        before: Sequence[tuple[str, ...]],
        after: _Read,
        how: str,
        hint: str = "",
    ) -> None:
        """Records read ``before`` a resumption and ``after`` it hold every record of the
        ``full`` read, repeating at most ``resume_duplicates`` of them."""
        expected = set(full.seen())
        got = set(before) | set(after.seen())
        lost = [k for k in full.seen() if k not in got]
        if lost:
            _fail(
                f"{self._who}.read({stream!r}) lost {len(lost)} record(s) {how}: "
                f"{_shown(lost)}. "
                + (
                    hint
                    or "A checkpoint's state must point at the first record not yet yielded"
                    " (the vendor's next cursor or the newest time seen), never past a page"
                    " that was not read"
                )
            )
        repeated = [k for k in after.seen() if k in set(before)]
        if len(repeated) > self.resume_duplicates:
            _fail(
                f"{self._who}.read({stream!r}) repeated {len(repeated)} record(s) {how}, more"
                f" than resume_duplicates={self.resume_duplicates}: {_shown(repeated)}. "
                + (
                    hint
                    or "Records yielded before a checkpoint are committed with it; resume"
                    " after them"
                )
            )
        unknown = set(after.seen()) - expected - set(before)
        if unknown and not self.resume_duplicates:
            _fail(
                f"{self._who}.read({stream!r}) yielded {len(unknown)} record(s) {how} that a"
                f" full read does not: {_shown(sorted(unknown))}"
            )

    # -- config ------------------------------------------------------------------------

    def test_config_accepts_the_example(self) -> None:
        try:
            self.spoke.Config.model_validate(dict(self.config))
        except ValidationError as exc:
            _fail(f"{self._who}.Config refuses the example config: {exc}")

    def test_config_keeps_secrets_and_refuses_unknown_keys(self) -> None:
        check_config(self.spoke, self.config)

    def test_config_schema_exports(self) -> None:
        schema = self.spoke.Config.model_json_schema()
        json.dumps(schema)
        properties = schema.get("properties", {})
        for name in self._secret_fields():
            if not _shown_as_secret(properties.get(name, {})):
                _fail(f"{self._who}.Config.{name} must show as a secret in the JSON schema")

    def test_config_error_names_the_field(self) -> None:
        model_cls = self.spoke.Config
        required = [n for n, f in model_cls.model_fields.items() if f.is_required()]
        broken = dict(self.config)
        if required:
            target = required[0]
            broken.pop(target, None)
        elif model_cls.model_fields:
            target = next(iter(model_cls.model_fields))
            broken[target] = {"not": ["a", "valid", "value"]}
        else:
            _skip(f"{self._who}.Config has no field to get wrong")
        try:
            model_cls.model_validate(broken)
        except ValidationError as exc:
            if target not in str(exc):
                _fail(f"{self._who}.Config's error for a bad {target!r} does not name it: {exc}")
            return
        except Exception as exc:
            _fail(
                f"{self._who}.Config crashed with {type(exc).__name__} on a bad {target!r}:"
                " raise ValueError in validators so pydantic names the field"
            )
        if required:
            _fail(f"{self._who}.Config accepted a config without its required {target!r}")

    def test_config_schema_is_backward_compatible(self) -> None:
        if self.config_schema_file is None:
            _skip(
                "no stored schema: set config_schema_file to guard compatibility with the"
                " configs users already wrote"
            )
        module = sys.modules[type(self).__module__]
        stored = Path(module.__file__ or ".").parent / self.config_schema_file
        current = self.spoke.Config.model_json_schema()
        if _update_requested():
            stored.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
            return
        if not stored.exists():
            _fail(
                f"no stored config schema at {stored.name}: write it with"
                " SPOKEHUB_UPDATE_SCHEMA=1 pytest, and keep it with each release"
            )
        problems = schema_breaks(json.loads(stored.read_text()), current)
        if problems:
            _fail(
                f"{self._who}.Config is not backward compatible with {stored.name}: "
                + "; ".join(problems)
                + ". Keep old keys (deprecated), give new fields defaults; after a major"
                " release, store the new schema with SPOKEHUB_UPDATE_SCHEMA=1 pytest"
            )

    def test_capabilities_are_declared(self) -> None:
        check_capabilities(self.spoke)

    # -- check() -----------------------------------------------------------------------

    def _check(self, config: Mapping[str, Any], situation: str) -> CheckResult:
        try:
            result = _run(self._with_spoke(config, lambda s: s.check()))
        except Exception as exc:
            _fail(
                f"{self._who}.check() raised {type(exc).__name__} {situation}: check() must"
                " answer a CheckResult, never raise (AuthError -> AUTH_ERROR, TransientError"
                " -> UNREACHABLE)"
            )
        if not isinstance(result, CheckResult):
            _fail(f"{self._who}.check() answered {type(result).__name__}, not a CheckResult")
        return result

    def test_check_passes_with_the_example_config(self) -> None:
        with self._vendor() as session:
            result = self._check(session.config, "with the example config")
        if result.status is not CheckStatus.OK:
            _fail(f"{self._who}.check() answered {result.status} for the example config")

    def test_check_tells_bad_credentials(self) -> None:
        secrets = [f for f in self._secret_fields() if f != self.webhook_secret_field]
        if not secrets:
            _skip("the config holds no credential")
        with self._vendor() as session:
            self._needs_sandbox(session, "a credential check")
            wrong = dict(session.config)
            for name in secrets:
                wrong[name] = f"wrong-{name}-0000"
            result = self._check(wrong, "for wrong credentials")
        if result.status is not CheckStatus.AUTH_ERROR:
            _fail(
                f"{self._who}.check() answered {result.status} for credentials the vendor"
                " refuses: answer CheckStatus.AUTH_ERROR (the toolkit raises AuthError on"
                " 401/403)"
            )
        wrong_model = self.spoke.Config.model_validate(wrong)
        if any(secret in result.message for secret in _secret_values(wrong_model)):
            _fail(f"{self._who}.check()'s message quotes the credential: leave it out")

    def test_check_tells_an_unreachable_vendor(self) -> None:
        with self._vendor() as session:
            sandbox = self._needs_sandbox(session, "an outage")
            sandbox.add_faults(*[Fault.connect_error()] * 50)
            config = dict(session.config)
            if self.base_url_field in config:
                config[self.base_url_field] = f"http://127.0.0.1:{_closed_port()}"
            result = self._check(config, "when the vendor cannot be reached")
        if result.status is not CheckStatus.UNREACHABLE:
            _fail(
                f"{self._who}.check() answered {result.status} when the vendor cannot be"
                " reached: answer CheckStatus.UNREACHABLE (the toolkit raises TransientError)"
            )

    # -- sources -----------------------------------------------------------------------

    def test_source_offers_streams(self) -> None:
        with self._vendor() as session:
            streams = self._streams(session.config)
        if not streams:
            _fail(f"{self._who}.streams() offers no stream for the example config")
        if not all(isinstance(s, Stream) for s in streams):
            _fail(f"{self._who}.streams() must answer Stream objects")
        names = [s.name for s in streams]
        if len(set(names)) != len(names):
            _fail(f"{self._who}.streams() names a stream twice: {names}")
        declared = set(self.spoke.capabilities.record_kinds)
        for stream in streams:
            if declared and stream.kind not in declared:
                _fail(
                    f"{self._who} stream {stream.name!r} yields {stream.kind!r}, which"
                    " capabilities.record_kinds does not declare"
                )

    def test_source_reads_valid_records_and_advances_state(self) -> None:
        caps = self.spoke.capabilities
        with self._vendor() as session:
            for stream in self._streams(session.config):
                full = self._full_read(session, stream.name)
                for item in full.items:
                    self._check_item(stream.name, item, caps.identifier_types)
                again = _run(self._read(session.config, stream.name, full.state))
                if again.error is not None:
                    self._raise_read_error(stream.name, again.error)
                repeated = [k for k in again.seen() if k in set(full.seen())]
                if len(repeated) > self.resume_duplicates:
                    _fail(
                        f"{self._who}.read({stream.name!r}) from its own last state read"
                        f" {len(repeated)} record(s) again: the last checkpoint must cover"
                        " every record yielded before it"
                    )

    def _check_item(self, stream: str, item: ReadItem, identifier_types: Sequence[str]) -> None:
        if isinstance(item, StateCheckpoint):
            try:
                json.dumps(item.state)
            except (TypeError, ValueError) as exc:
                _fail(
                    f"{self._who}.read({stream!r}) yielded a state that is not JSON ({exc}):"
                    " the hub stores states as JSON"
                )
        elif isinstance(item, RejectedRecord):
            if not item.rule.strip() or not item.location.strip():
                _fail(
                    f"{self._who}.read({stream!r}) yielded a RejectedRecord without its"
                    " location or rule: say where the row was and which rule it broke"
                )
        else:
            if item.kind in _PERSON_KINDS and not item.identifiers:
                _fail(
                    f"{self._who}.read({stream!r}) yielded a {item.kind} record without"
                    " identifiers: add the vendor's id (e.g. acme:contact_id) or an e-mail"
                )
            declared = set(identifier_types)
            undeclared = {i.type for i in item.identifiers} - declared
            if declared and undeclared:
                _fail(
                    f"{self._who}.read({stream!r}) yielded identifier types"
                    f" {sorted(undeclared)} not in capabilities.identifier_types"
                )

    def test_source_resumes_from_every_checkpoint(self) -> None:
        with self._vendor() as session:
            for stream in self._streams(session.config):
                full = self._full_read(session, stream.name)
                checkpoints = full.checkpoints
                step = max(1, len(checkpoints) // _CHECKPOINT_SAMPLE)
                for number, (position, checkpoint) in enumerate(checkpoints, start=1):
                    if (number - 1) % step and number != len(checkpoints):
                        continue
                    resumed = self._read_through(session, stream.name, checkpoint.state)
                    self._assert_no_gap(
                        stream.name,
                        full,
                        full.seen(position),
                        resumed,
                        f"when resumed from checkpoint {number} of {len(checkpoints)}",
                    )

    def test_source_gives_nothing_for_a_state_from_the_future(self) -> None:
        with self._vendor() as session:
            for stream in self._streams(session.config):
                full = self._full_read(session, stream.name)
                assert full.state is not None
                future = self.future_state(stream.name, full.state)
                if future is None:
                    _skip(
                        f"{type(self).__name__}.future_state() gives no state from the future"
                        f" for {stream.name!r}"
                    )
                later = _run(self._read(session.config, stream.name, future))
                if later.error is not None:
                    self._raise_read_error(stream.name, later.error)
                if later.seen():
                    _fail(
                        f"{self._who}.read({stream.name!r}) from a state in the future yielded"
                        f" {len(later.seen())} record(s): nothing is newer than the future"
                    )
                for item in later.items:
                    self._check_item(stream.name, item, ())

    def test_source_resumes_after_a_crash(self) -> None:
        with self._vendor() as session:
            for stream in self._streams(session.config):
                full = self._full_read(session, stream.name)
                count = len(full.seen())
                for crash_after in sorted({1, count // 2, count - 1} - {0}):
                    stopped = _run(
                        self._read(session.config, stream.name, None, stop_after=crash_after)
                    )
                    # Records after the last checkpoint were never committed: they are lost
                    # with the process, and the resumed run must read them again.
                    committed = stopped.checkpoints
                    state = committed[-1][1].state if committed else None
                    before = stopped.seen(committed[-1][0]) if committed else []
                    resumed = self._read_through(session, stream.name, state)
                    self._assert_no_gap(
                        stream.name,
                        full,
                        before,
                        resumed,
                        f"when the run died after {crash_after} record(s) and resumed",
                    )

    def _read_with_pages_altered(self, kind: str) -> None:
        with self._vendor() as session:
            sandbox = self._needs_sandbox(session, "altering pages")
            for stream in self._streams(session.config):
                full = self._full_read(session, stream.name)
                sandbox.alter_page(kind, call=2)
                altered_before = sandbox.altered_pages
                altered = _run(self._read(session.config, stream.name, None))
                if sandbox.altered_pages == altered_before:
                    _skip(
                        f"the sandbox served no altered page for {stream.name!r}: page its"
                        " list routes with Sandbox.paginate() (or the stream has one page)"
                    )
                if altered.error is not None:
                    self._raise_read_error(stream.name, altered.error)
                how = {
                    "duplicate": "when the vendor served a page twice",
                    "reorder": "when the vendor served a page in another order",
                }[kind]
                lost = [k for k in full.seen() if k not in set(altered.seen())]
                if lost:
                    _fail(
                        f"{self._who}.read({stream.name!r}) lost {len(lost)} record(s) {how}:"
                        f" {_shown(lost)}. Follow the vendor's own next cursor or offset"
                        " instead of counting pages, and dedupe by record_id"
                    )
                for position, checkpoint in altered.checkpoints:
                    resumed = self._read_through(session, stream.name, checkpoint.state)
                    self._assert_no_gap(
                        stream.name,
                        full,
                        altered.seen(position),
                        resumed,
                        f"resuming from a checkpoint taken {how}",
                        "Save the newest position seen on the page (the largest time or id),"
                        " not the last item's",
                    )

    def test_source_absorbs_a_page_served_twice(self) -> None:
        self._read_with_pages_altered("duplicate")

    def test_source_absorbs_reordered_pages(self) -> None:
        self._read_with_pages_altered("reorder")

    def test_source_survives_throttling_and_outages(self) -> None:
        faults = {
            "a 429 with Retry-After": Fault.throttle(retry_after=7),
            "the vendor's own throttle": Fault.vendor_throttle(7),
            "a 500": Fault.error(500),
            "a timeout": Fault.timeout(),
        }
        for what, fault in faults.items():
            with self._vendor() as session:
                sandbox = self._needs_sandbox(session, "injected faults")
                for stream in self._streams(session.config):
                    full = self._full_read(session, stream.name)
                    sandbox.add_faults(Fault.passthrough(), fault)
                    faulted = _run(self._read(session.config, stream.name, None))
                    if faulted.error is not None and not isinstance(faulted.error, SpokeError):
                        _fail(
                            f"{self._who}.read({stream.name!r}) crashed with"
                            f" {type(faulted.error).__name__} on {what}: use the toolkit's"
                            " SpokeClient, which retries it or raises a contract error"
                        )
                    done = faulted.checkpoints
                    before = faulted.seen(done[-1][0]) if done else []
                    if faulted.error is None:
                        before, rest = faulted.seen(), _Read()
                    else:
                        state = done[-1][1].state if done else None
                        rest = _run(self._read(session.config, stream.name, state))
                    self._assert_no_gap(stream.name, full, before, rest, f"after {what}")

    # -- webhooks ----------------------------------------------------------------------

    def _webhook_secret(self) -> str:
        value = self.config.get(self.webhook_secret_field)
        if value is None:
            _fail(
                f"the example config has no {self.webhook_secret_field!r}: set"
                " webhook_secret_field to the config field webhooks are signed with"
            )
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def _verify(self, request: Any, situation: str) -> bool:
        async def verify(spoke: Any) -> bool:
            return bool(await spoke.verify_webhook(request))

        try:
            return _run(self._with_spoke(self.config, verify))
        except Exception as exc:
            _fail(
                f"{self._who}.verify_webhook() raised {type(exc).__name__} for {situation}:"
                " answer False for a request it cannot verify"
            )

    def _webhook_sandbox(self) -> Sandbox:
        sandbox = self.make_sandbox(FakeClock())
        if sandbox is None:
            _skip("no sandbox: the suite needs the sandbox to sign the vendor's webhooks")
        return sandbox

    def test_webhook_signed_by_the_vendor_is_accepted(self) -> None:
        request = self._webhook_sandbox().webhook_request(self._webhook_secret())
        if not self._verify(request, "a correctly signed request"):
            _fail(f"{self._who}.verify_webhook() refused a request the vendor signed")

        async def parse(spoke: Any) -> Sequence[Any]:
            return list(await spoke.parse_webhook(request))

        records = _run(self._with_spoke(self.config, parse))
        if not records:
            _fail(f"{self._who}.parse_webhook() made no record of the vendor's example webhook")
        for record in records:
            if not isinstance(record, SourceRecord):
                _fail(f"{self._who}.parse_webhook() must answer SourceRecord objects")
            self._check_item(record.stream, record, self.spoke.capabilities.identifier_types)

    def test_webhook_with_a_tampered_body_is_rejected(self) -> None:
        signed = self._webhook_sandbox().webhook_request(self._webhook_secret())
        body = signed.body[:-1] + (b" " if signed.body[-1:] != b" " else b"\n")
        tampered = signed.model_copy(update={"body": body})
        if self._verify(tampered, "a tampered body"):
            _fail(
                f"{self._who}.verify_webhook() accepted a body changed after signing: compute"
                " the signature over the raw body and compare with hmac.compare_digest"
            )

    def test_webhook_signed_with_another_secret_is_rejected(self) -> None:
        request = self._webhook_sandbox().webhook_request("another-secret-" + "0" * 16)
        if self._verify(request, "another secret"):
            _fail(f"{self._who}.verify_webhook() accepted a request signed with another secret")

    def test_webhook_without_a_signature_is_rejected(self) -> None:
        sandbox = self._webhook_sandbox()
        signed = sandbox.webhook_request(self._webhook_secret())
        signature = sandbox.sign_webhook(signed.body, self._webhook_secret(), 0)
        headers = {k: v for k, v in signed.headers.items() if k not in signature}
        unsigned = signed.model_copy(update={"headers": headers})
        if self._verify(unsigned, "an unsigned request"):
            _fail(
                f"{self._who}.verify_webhook() accepted a request without a signature: refuse"
                f" it when the signature header ({', '.join(signature)}) is missing"
            )

    def test_webhook_with_a_stale_timestamp_is_rejected(self) -> None:
        sandbox = self._webhook_sandbox()
        if not sandbox.webhook_timestamped:
            _skip("the vendor's webhook signature carries no timestamp")
        stale = sandbox.webhook_request(self._webhook_secret(), timestamp=int(time.time()) - 3600)
        if self._verify(stale, "a request signed an hour ago"):
            _fail(
                f"{self._who}.verify_webhook() accepted a request signed an hour ago: refuse"
                " timestamps more than five minutes off, so a captured request cannot be"
                " replayed"
            )

    # -- destinations ------------------------------------------------------------------

    async def _attempt_write(
        self, config: Mapping[str, Any], batch: Sequence[Change]
    ) -> tuple[list[Any] | None, BaseException | None]:
        spoke = self._build(config)
        try:
            return list(await spoke.write(batch)), None
        except Exception as exc:
            return None, exc
        finally:
            await spoke.aclose()

    def _assert_outcomes(self, batch: Sequence[Change], outcomes: Sequence[Any], how: str) -> None:
        for outcome in outcomes:
            if not isinstance(outcome, Delivered | RetryAfter | Rejected):
                _fail(f"{self._who}.write() answered {type(outcome).__name__} {how}")
        expected = [c.item_id for c in batch]
        answered = [o.item_id for o in outcomes]
        if sorted(answered) != sorted(expected):
            missing = sorted(set(expected) - set(answered))
            extra = sorted(set(answered) - set(expected))
            _fail(
                f"{self._who}.write() must answer exactly one outcome per item {how}: got"
                f" {len(answered)} for {len(expected)} items (missing {missing[:5]},"
                f" unexpected {extra[:5]})"
            )

    def _fault_write(self, fault: Fault, what: str, expect_wait: float | None) -> None:
        with self._vendor() as session:
            sandbox = self._needs_sandbox(session, what)
            batch = self.example_batch()
            sandbox.add_faults(fault)
            outcomes, error = _run(self._attempt_write(session.config, batch))
            how = f"on {what}"
            if error is not None:
                self._judge_error(error, what, expect_wait)
            else:
                assert outcomes is not None
                self._assert_outcomes(batch, outcomes, how)
                self._judge_outcomes(outcomes, what, expect_wait)
            if expect_wait is not None:
                self._judge_retry_wait(sandbox, what, expect_wait)

    def _judge_error(self, error: BaseException, what: str, wait: float | None) -> None:
        if wait is not None:
            if not isinstance(error, Throttled):
                _fail(
                    f"{self._who}.write() raised {type(error).__name__} on {what}: raise"
                    f" Throttled(retry_after={wait:g}) so the hub waits as the vendor asked"
                    " (the toolkit's SpokeClient does), or answer RetryAfter outcomes"
                )
            if error.retry_after + 1e-6 < wait:
                _fail(
                    f"{self._who}.write() raised Throttled(retry_after={error.retry_after:g})"
                    f" on {what} that asked for {wait:g}s: pass the vendor's wait on"
                )
            return
        if not isinstance(error, TransientError | Throttled | SpokeError):
            _fail(
                f"{self._who}.write() crashed with {type(error).__name__} on {what}: raise"
                " TransientError for a failure that may pass, so the hub retries the batch"
                " (the toolkit's SpokeClient does for 5xx and timeouts)"
            )
        if not isinstance(error, TransientError | Throttled):
            _fail(
                f"{self._who}.write() raised {type(error).__name__} on {what}, which may"
                " pass: raise TransientError so the hub retries instead of dead-lettering"
            )

    def _judge_outcomes(self, outcomes: Sequence[Any], what: str, wait: float | None) -> None:
        rejected = [o for o in outcomes if isinstance(o, Rejected)]
        if rejected:
            _fail(
                f"{self._who}.write() rejected {len(rejected)} item(s) for good on {what}:"
                " a failure that may pass is retried (RetryAfter or an error), never"
                " dead-lettered"
            )
        if wait is not None:
            early = [o for o in outcomes if isinstance(o, RetryAfter) and o.seconds + 1e-6 < wait]
            if early:
                _fail(
                    f"{self._who}.write() answered RetryAfter({early[0].seconds:g}s) on {what}"
                    f" that asked for {wait:g}s: wait as long as the vendor says"
                )

    def _judge_retry_wait(self, sandbox: Sandbox, what: str, wait: float) -> None:
        log = sandbox.requests
        for number, request in enumerate(log):
            if request.status == 429 and number + 1 < len(log):
                waited = log[number + 1].at - request.at
                if waited + 1e-6 < wait:
                    _fail(
                        f"{self._who} sent its next request {waited:g}s after {what} that"
                        f" asked for {wait:g}s: honour the wait (the toolkit's SpokeClient"
                        " reads Retry-After; pass throttle_signal for a vendor's own shape)"
                    )

    def test_destination_answers_one_outcome_per_item(self) -> None:
        with self._vendor() as session:
            _run(check_destination(self.spoke, session.config, self.example_batch()))  # type: ignore[arg-type]

    def test_destination_keeps_to_the_vendors_batch_size(self) -> None:
        with self._vendor() as session:
            sandbox = self._needs_sandbox(session, "the vendor's batch limit")
            if sandbox.max_batch is None:
                _skip("the sandbox declares no max_batch (the vendor's most items a request)")
            caps = self.spoke.capabilities
            kinds = [k for k in caps.record_kinds if k != "forget"] or list(caps.record_kinds)
            batch = example_changes(kinds, caps.batch_size, caps.identifier_types)
            outcomes, error = _run(self._attempt_write(session.config, batch))
            counted = [r for r in sandbox.requests if r.items is not None]
            biggest = max((r.items or 0 for r in counted), default=0)
            if biggest > sandbox.max_batch:
                _fail(
                    f"{self._who} sent {biggest} items in one request, but the vendor takes at"
                    f" most {sandbox.max_batch}: declare capabilities.batch_size="
                    f"{sandbox.max_batch} or split the batch in write()"
                )
            if error is not None:
                _fail(f"{self._who}.write() of a full batch ({len(batch)} items) raised {error!r}")
            if not counted:
                _skip("the sandbox's batch route does not count items with check_batch()")
            assert outcomes is not None
            self._assert_outcomes(batch, outcomes, f"for a full batch of {len(batch)}")

    def test_destination_keeps_to_its_rate_limit(self) -> None:
        limit = self.spoke.capabilities.rate_limit
        if limit is None:
            _skip("no rate_limit declared: declare the vendor's budget if it has one")
        with self._vendor() as session:
            sandbox = self._needs_sandbox(session, "a rate limit")
            template = self.example_batch()[0]
            total = min(2 * limit.requests + 1, 301)
            queue = [template.model_copy(update={"item_id": f"rate-{n}"}) for n in range(total)]

            async def drain(spoke: Any) -> None:
                async def worker() -> None:
                    while queue:
                        await spoke.write([queue.pop()])

                await asyncio.gather(*(worker() for _ in range(4)))

            try:
                _run(self._with_spoke(session.config, drain))
            except Exception as exc:
                _fail(f"{self._who}.write() failed while pacing {total} requests: {exc!r}")
            busiest = sandbox.max_in_window(limit.per_seconds)
            if busiest > limit.requests:
                _fail(
                    f"{busiest} requests reached the vendor within {limit.per_seconds:g}s,"
                    f" more than the declared {limit.requests}: build one SpokeClient per"
                    " spoke with the declared rate_limit (SpokeClient.from_capabilities"
                    " does) and send every request through it"
                )
            if sandbox.rate_rejections:
                _fail(
                    f"the vendor answered {sandbox.rate_rejections} request(s) over its own"
                    " budget: the declared rate_limit is above the vendor's"
                )

    def test_destination_waits_out_429_with_retry_after(self) -> None:
        self._fault_write(Fault.throttle(retry_after=7), "a 429 with Retry-After: 7", 7.0)

    def test_destination_waits_out_the_vendors_throttle(self) -> None:
        if self.sandbox is not None and self.sandbox.throttle_response is Sandbox.throttle_response:
            _skip("the sandbox answers throttling as a plain 429 (tested above)")
        self._fault_write(Fault.vendor_throttle(7), "the vendor's throttle answer (7s)", 7.0)

    def test_destination_survives_server_errors(self) -> None:
        self._fault_write(Fault.error(503), "a 503", None)

    def test_destination_survives_timeouts(self) -> None:
        self._fault_write(Fault.timeout(), "a timeout", None)

    def test_destination_survives_malformed_json(self) -> None:
        self._fault_write(Fault.malformed_json(), "a 200 whose body is not JSON", None)

    def test_destination_answers_partial_failures_per_item(self) -> None:
        with self._vendor() as session:
            sandbox = self._needs_sandbox(session, "partial failures")
            batch = [c for c in self.example_batch() if not isinstance(c, Forget)]
            sandbox.add_faults(Fault.partial())
            outcomes, error = _run(self._attempt_write(session.config, batch))
            refused = sum(r.refused or 0 for r in sandbox.requests)
            if not any(r.refused is not None for r in sandbox.requests):
                _skip("the sandbox's batch route does not call partial_failures()")
            if error is not None:
                _fail(
                    f"{self._who}.write() raised {type(error).__name__} when the vendor refused"
                    f" {refused} of the items: answer one outcome per item instead"
                )
            assert outcomes is not None
            self._assert_outcomes(batch, outcomes, "when the vendor refused some items")
            failed = [o for o in outcomes if not isinstance(o, Delivered)]
            if len(failed) < refused:
                _fail(
                    f"{self._who}.write() answered Delivered for items the vendor refused"
                    f" ({refused} refused, {len(failed)} not delivered): read the vendor's"
                    " per-item results and answer Rejected or RetryAfter for those"
                )

    def test_destination_forgets(self) -> None:
        if not self.spoke.capabilities.can_delete:
            _skip("can_delete is not declared: the hub records the erasure as not supported")
        with self._vendor() as session:

            async def forget(spoke: Any) -> Any:
                return await spoke.forget(list(self.forget_identifiers))

            try:
                outcome = _run(self._with_spoke(session.config, forget))
            except SpokeError:
                raise
            except Exception as exc:
                _fail(f"{self._who}.forget() crashed with {type(exc).__name__}: {exc}")
            if not isinstance(outcome, Delivered | RetryAfter | Rejected):
                _fail(f"{self._who}.forget() answered {type(outcome).__name__}, not an Outcome")
            if session.sandbox is not None and not session.sandbox.requests:
                _fail(f"{self._who}.forget() sent nothing to the vendor")

    # -- hygiene -----------------------------------------------------------------------

    def test_logs_hold_no_secret_or_raw_personal_data(self) -> None:
        personal: set[str] = set()
        with _capture_logs() as capture, self._vendor() as session:
            _run(self._with_spoke(session.config, lambda s: s.check()))
            if issubclass(self.spoke, Destination):
                batch = self.example_batch()
                personal |= personal_values(batch)
                if session.sandbox is not None:
                    session.sandbox.add_faults(Fault.error(500), Fault.throttle(retry_after=1))
                _run(self._attempt_write(session.config, batch))
                if self.spoke.capabilities.can_delete:
                    with suppress(Exception):  # other tests judge failures
                        _run(self._with_spoke(session.config, self._forget))
            else:
                for stream in self._streams(session.config):
                    read = _run(self._read(session.config, stream.name, None))
                    personal |= _personal_in(read.items)
                if self.spoke.capabilities.webhooks and session.sandbox is not None:
                    request = session.sandbox.webhook_request(self._webhook_secret())
                    with suppress(Exception):  # other tests judge failures
                        _run(self._with_spoke(session.config, lambda s: s.verify_webhook(request)))
                        records = _run(
                            self._with_spoke(session.config, lambda s: s.parse_webhook(request))
                        )
                        personal |= _personal_in(records)
        secrets = _secret_values(self.spoke.Config.model_validate(dict(session.config)))
        for logger_name, line in capture.lines():
            for secret in secrets:
                if secret in line:
                    _fail(
                        f"a log line of {logger_name!r} holds a secret of the config: mask it"
                        f" or leave it out ({_masked(line, secrets, personal)!r})"
                    )
            for value in personal:
                if value in line:
                    _fail(
                        f"a log line of {logger_name!r} holds raw personal data (an e-mail"
                        " address or phone number of the test data): log counts and ids,"
                        f" or run it through redact() ({_masked(line, secrets, personal)!r})"
                    )

    async def _forget(self, spoke: Any) -> Any:
        return await spoke.forget(list(self.forget_identifiers))


def _personal_in(items: Sequence[Any]) -> set[str]:
    found: set[str] = set()
    for item in items:
        if isinstance(item, SourceRecord):
            found.update(i.value for i in item.identifiers if i.type in ("email", "phone"))
            for name in ("email", "phone"):
                value = getattr(item.data, name, None)
                if isinstance(value, str) and value:
                    found.add(value)
    return {value for value in found if len(value) >= 6}


def _masked(line: str, secrets: Sequence[str], personal: set[str]) -> str:
    for value in sorted({*secrets, *personal}, key=len, reverse=True):
        line = line.replace(value, MASK)
    return line[:200]


def _shown_as_secret(schema: Mapping[str, Any]) -> bool:
    """A property's schema marks it secret, itself or in every non-null alternative."""
    if schema.get("writeOnly") or schema.get("format") == "password":
        return True
    options = [o for o in schema.get("anyOf", ()) if o.get("type") != "null"]
    return bool(options) and all(_shown_as_secret(o) for o in options)


def _update_requested() -> bool:
    return os.environ.get("SPOKEHUB_UPDATE_SCHEMA", "") not in ("", "0")


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    if "type" in schema:
        kind = schema["type"]
        return set(kind) if isinstance(kind, list) else {kind}
    if "anyOf" in schema:
        found: set[str] = set()
        for option in schema["anyOf"]:
            option_types = _types(option)
            if option_types is None:
                return None
            found |= option_types
        return found
    return None


def schema_breaks(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What in ``new`` would refuse a config that ``old`` accepted: a key removed, a new
    required key, a type narrowed, an allowed value dropped."""
    problems: list[str] = []
    old_props = old.get("properties", {})
    new_props = new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"key {name!r} was removed")
    newly_required = set(new.get("required", ())) - set(old.get("required", ()))
    for name in sorted(newly_required):
        problems.append(f"key {name!r} is now required")
    for name, was in old_props.items():
        now = new_props.get(name)
        if now is None:
            continue
        old_types, new_types = _types(was), _types(now)
        if old_types is not None and new_types is not None and not old_types <= new_types:
            problems.append(f"key {name!r} no longer takes {sorted(old_types - new_types)}")
        if "enum" in was and "enum" in now:
            dropped = [v for v in was["enum"] if v not in now["enum"]]
            if dropped:
                problems.append(f"key {name!r} no longer takes {dropped}")
    return problems
