"""What every command shares: the project and registry, loaded on first use, the
consoles and :func:`fail`.

A command module imports this when its command runs; ``spokehub --help`` never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from .._errors import ConfigErrors
from ..clock import OffsetClock
from ..config import Project, load
from ..envfile import project_environment
from ..logs import configure_logging
from ..registry import Registry, RegistryError
from .options import Options

out = Console()
err = Console(stderr=True)

_STATE = "spokehub.cli.state"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: the user's input)."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@dataclass
class CliState:
    """The project and registry of one invocation, each loaded when a command first asks.

    Logging is configured before the first spoke is imported, so anything a spoke or the
    hub logs goes through the redacting processors.
    """

    options: Options
    _registry: Registry | None = None
    _project: Project | None = None
    _logging: bool = False

    @property
    def config_path(self) -> Path:
        return self.options.config_path

    @property
    def log_format(self) -> str | None:
        return self.options.log_format

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self.start_logging()
            try:
                self._registry = Registry.load()
            except RegistryError as exc:
                fail(str(exc))
        return self._registry

    @property
    def project(self) -> Project:
        """The validated project file; every problem in it printed, exit 2."""
        if self._project is None:
            try:
                env = project_environment(self.config_path)
                self._project = load(self.config_path, self.registry, env=env)
            except ConfigErrors as exc:
                for problem in exc.errors:
                    err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None
            try:
                # Every process of a hub reads it; a bad value stops each at once.
                OffsetClock.from_env()
            except ValueError as exc:
                fail(str(exc))
        return self._project

    @property
    def store_url(self) -> str:
        return self.project.store.url

    def start_logging(self) -> None:
        """Configure logging for this invocation (once)."""
        if not self._logging:
            fmt = self.log_format
            configure_logging(json_output=None if fmt is None else fmt == "json")
            self._logging = True


def state(ctx: typer.Context) -> CliState:
    """The invocation's :class:`CliState`, made from the root command's options."""
    st = ctx.meta.get(_STATE)
    if st is None:
        options = ctx.find_root().obj
        if not isinstance(options, Options):
            fail("no project options: run the command through 'spokehub'")
        st = ctx.meta[_STATE] = CliState(options)
    assert isinstance(st, CliState)
    return st
