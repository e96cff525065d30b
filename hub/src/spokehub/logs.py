"""Structured logging with redaction: secrets and raw PII never reach a log line.

Every event passes :func:`redact_event` last before rendering: values under sensitive
keys are masked, ``SecretStr`` stays masked, and e-mail addresses, phone numbers and
bearer tokens inside any string are replaced. Console output on a terminal, JSON lines
otherwise.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from pydantic import BaseModel, SecretBytes, SecretStr

from spokehub_contracts import is_sensitive_key, redact

MASK = "***"


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return MASK
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, Mapping):
        return {
            k: MASK if is_sensitive_key(str(k)) else _scrub(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def redact_event(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask secrets and raw PII anywhere in the event."""
    return {k: MASK if is_sensitive_key(k) else _scrub(v) for k, v in event_dict.items()}


def configure_logging(json_output: bool | None = None, level: int = logging.INFO) -> None:
    """Set up structlog (and stdlib logging through it) for the CLI and the daemon."""
    if json_output is None:
        json_output = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through stdlib (uvicorn, alembic) get the same redaction.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_event,
                renderer,
            ],
            foreign_pre_chain=[structlog.processors.add_log_level],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Servers that configured their own handlers (uvicorn's default dictConfig) would print
    # unredacted lines; route them through the root handler instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)


def get_logger(name: str = "spokehub") -> Any:
    return structlog.get_logger(name)
