"""The options of the root command, as every sub-command finds them in ``ctx.obj``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Options:
    """``spokehub [--config FILE] [--log-format FORMAT] COMMAND``.

    :param config_path: the project file.
    :param log_format: ``console`` or ``json``; ``None`` picks console on a terminal.
    """

    config_path: Path
    log_format: str | None = None
