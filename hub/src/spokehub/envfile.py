"""The project's ``.env`` file: ``NAME=value`` lines beside the project file.

``${NAME}`` in the project file is read from the process environment first and from
``.env`` second, as docker compose does, so a secret (the admin token ``spokehub init``
generates) lives outside the project file, which is usually committed, and a deployment
overrides it with a real environment variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from spokehub_contracts import ConfigError

from ._errors import ConfigErrors

ENV_FILE = ".env"
_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    """The variables ``path`` sets: ``NAME=value`` per line, ``#`` comments, blank lines,
    an optional ``export``, and values optionally in matching single or double quotes.

    :raises ConfigErrors: naming ``<file>:<line>`` of each line that is not an
        assignment (never the line itself, which may hold a secret).
    """
    values: dict[str, str] = {}
    errors: list[ConfigError] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            errors.append(ConfigError(f"{path}:{number}", "expected NAME=value"))
            continue
        name, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    if errors:
        raise ConfigErrors(errors)
    return values


def project_environment(
    config_path: Path, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What ``${NAME}`` in the project file at ``config_path`` reads: the ``.env`` file
    beside it (when there is one) under the process environment, which wins."""
    env_file = config_path.parent / ENV_FILE
    values = read_env_file(env_file) if env_file.is_file() else {}
    values.update(os.environ if environ is None else environ)
    return values
