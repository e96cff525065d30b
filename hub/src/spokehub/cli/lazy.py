"""Commands whose modules are imported when they run, not when ``spokehub`` starts.

``spokehub --help`` lists every command from a table of names and help lines; the
module behind a command (and the store, pipeline or HTTP stack it imports) is loaded only
once click resolves that command, which keeps the CLI's start-up to Typer alone.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import MarkupMode, TyperCommand, TyperGroup


@dataclass(frozen=True)
class Deferred:
    """A command of the root group, found in a module of :mod:`spokehub.cli`.

    :param name: the command's name (``config``, ``serve``), which is also the name of its
        module in :mod:`spokehub.cli`; the module's Typer ``app`` holds the command.
    :param help: the line ``spokehub --help`` shows; the command's own help starts with it.
    :param group: a group of sub-commands (the module's ``app`` itself) rather than the one
        command of that name in the module's ``app``.
    """

    name: str
    help: str
    group: bool = True


class _Listed(TyperCommand):
    """What help lists for a deferred command until the command is resolved."""

    def __init__(self, entry: Deferred) -> None:
        super().__init__(name=entry.name, help=entry.help)
        self.entry = entry


def load(entry: Deferred, markup: MarkupMode) -> Any:
    """The click command of ``entry``, importing its module; its help (and its
    sub-commands') is formatted with the ``markup`` mode of the group it joins."""
    module = importlib.import_module(f"{__package__}.{entry.name}")
    group = typer.main.get_group(module.app)
    command = group if entry.group else group.commands[entry.name]
    command.name = entry.name
    _format_help_with(command, markup)
    return command


def _format_help_with(command: Any, markup: MarkupMode) -> None:
    command.rich_markup_mode = markup
    for sub in getattr(command, "commands", {}).values():
        _format_help_with(sub, markup)


class LazyGroup(TyperGroup):
    """A Typer group that also holds :attr:`deferred` commands, loaded on resolution."""

    deferred: ClassVar[tuple[Deferred, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for entry in self.deferred:
            self.commands[entry.name] = _Listed(entry)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Listed):
            entry = command.entry
            command = self.commands[entry.name] = load(entry, self.rich_markup_mode)
        return name, command, rest
