"""A vendor's sandbox for one test, and its spoke run against it: what the tests of every
spoke with a sandbox need beside their own assertions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

from .._records import Change, Outcome, RejectedRecord, SourceRecord, StateCheckpoint
from .._spoke import Source, SpokeConfig
from ._clock import FakeClock, intercept_clients
from ._sandbox import Sandbox
from ._wire import SandboxRequest

SpokeT = TypeVar("SpokeT")
SandboxT = TypeVar("SandboxT", bound=Sandbox)
T = TypeVar("T")


@dataclass
class Read:
    """What one ``read()`` of a stream yielded, sorted by what it is."""

    records: list[SourceRecord] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    checkpoints: list[StateCheckpoint] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any] | None:
        """The last checkpoint's state: where the next read resumes."""
        return self.checkpoints[-1].state if self.checkpoints else None

    def of_kind(self, kind: str) -> list[SourceRecord]:
        return [r for r in self.records if r.kind == kind]


async def read_all(source: Source, stream: str, state: Mapping[str, Any] | None = None) -> Read:
    """Read ``stream`` from ``state`` to its end."""
    done = Read()
    async for item in source.read(stream, state):
        if isinstance(item, StateCheckpoint):
            done.checkpoints.append(item)
        elif isinstance(item, RejectedRecord):
            done.rejected.append(item)
        else:
            done.records.append(item)
    return done


class SpokeHarness(Generic[SpokeT, SandboxT]):
    """The sandbox of one test on its test clock, and how to run the spoke against it.

    A subclass names the spoke class (:attr:`spoke`), the connection name it runs under
    and what a config needs to reach the sandbox (:meth:`sandbox_config`)::

        class Acme(SpokeHarness[AcmeDestination, AcmeSandbox]):
            spoke = AcmeDestination
            connection = "crm"

            def sandbox_config(self) -> dict[str, Any]:
                return {"base_url": self.sandbox.url, "api_key": SANDBOX_API_KEY}

        @pytest.fixture
        def acme() -> Iterator[Acme]:
            clock = FakeClock()
            with Acme.serving(AcmeSandbox(clock=clock), clock) as harness:
                yield harness
    """

    spoke: ClassVar[type[Any]]
    connection: ClassVar[str]

    def __init__(self, sandbox: SandboxT, clock: FakeClock) -> None:
        self.sandbox = sandbox
        self.clock = clock

    @classmethod
    @contextmanager
    def serving(cls, sandbox: SandboxT, clock: FakeClock) -> Iterator[Self]:
        """``sandbox`` served for the block, every toolkit client of the block sent to it
        and kept on ``clock``."""
        with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
            yield cls(sandbox, clock)

    def sandbox_config(self) -> dict[str, Any]:
        """The config values that point the spoke at the sandbox with its credentials."""
        raise NotImplementedError

    def config(self, **overrides: Any) -> SpokeConfig:
        config: SpokeConfig = self.spoke.Config.model_validate(
            {**self.sandbox_config(), **overrides}
        )
        return config

    def run(self, use: Callable[[SpokeT], Awaitable[T]], **config: Any) -> T:
        """Build the spoke for this sandbox (``config`` over :meth:`config`'s values), run
        ``use`` on it and close it."""

        async def main() -> T:
            spoke = self.spoke(self.config(**config), connection=self.connection)
            try:
                return await use(spoke)
            finally:
                await spoke.aclose()

        return asyncio.run(main())

    def write(self, batch: Sequence[Change], **config: Any) -> list[Outcome]:
        """A destination's outcomes for ``batch``."""

        async def write(destination: Any) -> list[Outcome]:
            return list(await destination.write(batch))

        return self.run(write, **config)

    def read(self, stream: str, state: Mapping[str, Any] | None = None, **config: Any) -> Read:
        """A source's read of ``stream`` from ``state``."""
        return self.run(lambda source: read_all(source, stream, state), **config)

    def requests(self, suffix: str) -> list[SandboxRequest]:
        """The requests the sandbox took whose path ends with ``suffix``."""
        return [r for r in self.sandbox.requests if r.path.endswith(suffix)]

    def bodies(self, suffix: str) -> list[Any]:
        """Their JSON bodies."""
        return [json.loads(r.body) for r in self.requests(suffix)]
