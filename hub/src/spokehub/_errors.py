"""Configuration errors: the exception that carries them all, and turning pydantic
validation errors into ``<yaml path>: <rule>`` lines."""

from __future__ import annotations

from pydantic import ValidationError

from spokehub_contracts import ConfigError


class ConfigErrors(Exception):
    """One or more configuration problems; ``errors`` holds them all."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def pydantic_config_errors(exc: ValidationError, prefix: str) -> list[ConfigError]:
    """One :class:`ConfigError` per pydantic error, located by YAML path, input left out."""
    out: list[ConfigError] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = prefix
        for part in err["loc"]:
            loc = f"{loc}[{part}]" if isinstance(part, int) else _join(loc, str(part))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "field required"
        out.append(ConfigError(loc or "(top level)", msg))
    return out
