"""Finding a bridged connector's executable, without the hub.

The hub's ``spokehub bridge install NAME`` puts each connector in its own virtual
environment under the bridge home, ``<home>/<NAME>/``; the bridge runs
``<home>/<NAME>/bin/<executable>``. The home is ``$SPOKEHUB_BRIDGE_HOME`` or
``.spokehub/bridges`` in the working directory (the project directory when the hub runs).
A connection may instead name the executable by path, for a connector installed another way.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from spokehub_contracts import ConfigError

#: Environment variable naming the folder bridged connectors are installed in.
HOME_ENV = "SPOKEHUB_BRIDGE_HOME"
DEFAULT_HOME = Path(".spokehub") / "bridges"


def bridge_home() -> Path:
    """The folder bridged connectors are installed in."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME)


def find_executable(connector: str | None, executable: str | None) -> str:
    """The path of the program to run.

    :param connector: the installed connector's name (``tap-jsonl``); its own environment's
        ``bin/`` is searched first.
    :param executable: a path (``/opt/taps/tap-x``), or a program name inside the
        connector's environment; defaults to ``connector``.
    :raises ConfigError: naming what was looked for and where, and how to install it.
    """
    program = executable or connector
    if not program:
        raise ConfigError("connector", "name the installed connector or its executable")
    if os.sep in program or (os.altsep and os.altsep in program):
        if os.access(program, os.X_OK) and Path(program).is_file():
            return program
        raise ConfigError("executable", f"{program} is not an executable file")
    looked: list[str] = []
    if connector:
        candidate = bridge_home() / connector / "bin" / program
        looked.append(str(candidate))
        if os.access(candidate, os.X_OK) and candidate.is_file():
            return str(candidate)
    found = shutil.which(program)
    if found:
        return found
    hint = f"; install it with `spokehub bridge install {connector}`" if connector else ""
    where = f"{', '.join(looked)} or " if looked else ""
    raise ConfigError(
        "executable" if executable else "connector",
        f"{program!r} was not found in {where}PATH{hint}",
    )
