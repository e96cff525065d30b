"""The error taxonomy shared by the hub and every spoke.

A spoke raises these (usually through the toolkit's HTTP client, which classifies
responses for it); the hub decides what to do from the class alone: pause a lane on
``AuthError``, wait on ``Throttled``, back off on ``TransientError`` and dead-letter on
``PermanentError``. Messages say what went wrong and what to do, and never carry a
secret or raw personal data.
"""

from __future__ import annotations

from typing import Any


class SpokehubError(Exception):
    """Base class of every error spokehub raises on purpose."""


class ConfigError(SpokehubError):
    """A configuration value is missing or wrong.

    :param path: where the value lives, as a dotted YAML path (``connections.crm.config.token``).
    :param rule: what the value must satisfy.
    """

    def __init__(self, path: str, rule: str) -> None:
        self.path = path
        self.rule = rule
        super().__init__(f"{path}: {rule}" if path else rule)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the parts, not the formatted message, so errors survive pickling
        # (process pools, pytest-xdist).
        return (type(self), (self.path, self.rule), self.__dict__)


class SpokeError(SpokehubError):
    """Something went wrong talking to a vendor.

    :param message: what happened, already free of secrets and raw personal data.
    :param status_code: the vendor's HTTP status, when there was a response.
    :param vendor_message: the vendor's own explanation, redacted and truncated.
    """

    def __init__(
        self, message: str = "", *, status_code: int | None = None, vendor_message: str = ""
    ) -> None:
        self.status_code = status_code
        self.vendor_message = vendor_message
        super().__init__(message)


class AuthError(SpokeError):
    """The vendor refused the credentials (HTTP 401/403): retrying will not help."""


class Throttled(SpokeError):
    """The vendor asked us to slow down; try again after ``retry_after`` seconds."""

    def __init__(
        self,
        message: str = "throttled by the vendor",
        retry_after: float = 1.0,
        *,
        status_code: int | None = None,
        vendor_message: str = "",
    ) -> None:
        self.message = message
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(
            f"{message} (retry after {self.retry_after:g}s)",
            status_code=status_code,
            vendor_message=vendor_message,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.retry_after), self.__dict__)


class TransientError(SpokeError):
    """A failure that may pass: 5xx, timeout, connection refused."""


class PermanentError(SpokeError):
    """The vendor rejected the request for a reason that a retry will not change."""


class ValidationFailed(SpokehubError):
    """A record broke the data contract.

    :param field: dotted path of the offending field (``properties.plan``).
    :param rule: the rule it broke, in words (``required``, ``must be one of gold, silver``).
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.rule), self.__dict__)
