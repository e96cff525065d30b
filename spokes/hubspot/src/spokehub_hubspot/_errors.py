"""How HubSpot says what went wrong, read for the toolkit's client and the destination.

HubSpot's error body, for every API this spoke uses (all fields optional)::

    {"status": "error", "message": "...", "correlationId": "...",
     "category": "VALIDATION_ERROR", "subCategory": "...",
     "errors": [{"message": "...", "code": "PROPERTY_DOESNT_EXIST", "in": "...",
                 "context": {"propertyName": ["plan"]}}],
     "context": {...}, "links": {...}}

- 401 ``INVALID_AUTHENTICATION`` and 403 ``MISSING_SCOPES``: the token (the client's
  ``AuthError``);
- 400 ``VALIDATION_ERROR``: a batch HubSpot refused whole, one bad input being enough;
  read into :class:`HubSpotValidationError` so the destination can tell a missing
  property (a mapping to fix) from one bad input (to find and reject alone);
- 429 with ``"errorType": "RATE_LIMIT"`` and ``policyName`` ``TEN_SECONDLY_ROLLING`` (the
  burst limit, counted over a rolling ten seconds), ``SECONDLY`` (the search API's) or
  ``DAILY`` (reset at midnight in the account's time zone), without a ``Retry-After``;
- 207 Multi-Status: a batch partly done, its ``errors`` (each a ``StandardError`` whose
  ``context`` names the inputs by ``objectWriteTraceId``) beside the ``results``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from spokehub_contracts import MASK, PermanentError, ThrottleSignal, parse_retry_after, redact

if TYPE_CHECKING:
    import httpx

#: The burst limit, counted over a rolling ten seconds.
TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
#: The search API's own limit (requests per second).
SECONDLY = "SECONDLY"
#: The daily limit, reset at midnight in the account's time zone.
DAILY = "DAILY"
#: The window of the burst limit, stated on every rate-limited answer.
INTERVAL_HEADER = "X-HubSpot-RateLimit-Interval-Milliseconds"
#: What the burst limit's window is when no header states it.
BURST_WINDOW_SECONDS = 10.0
#: A property the batch names does not exist in the portal.
PROPERTY_DOESNT_EXIST = "PROPERTY_DOESNT_EXIST"

# Long enough to quote HubSpot's reason, short enough for one line.
_MESSAGE_CHARS = 200
_INVALID_VALUES = "Property values were not valid: "
_AT_WORD = re.compile(r"[^\s\"',;:\[\]{}()<>]*@[^\s\"',;:\[\]{}()<>]*")


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of an error's ``errors``."""

    message: str
    code: str = ""
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class HubSpotError:
    """An error body (or one ``StandardError`` of a 207's ``errors``). Messages are kept
    as HubSpot wrote them, which may quote a value that was sent (an e-mail address):
    use :meth:`describe` for anything that is logged or shown."""

    message: str = ""
    category: str = ""
    status: str = ""
    correlation_id: str = ""
    policy_name: str = ""
    error_type: str = ""
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)
    details: tuple[ErrorDetail, ...] = ()

    @classmethod
    def of(cls, body: Any) -> HubSpotError | None:
        """The error ``body`` (parsed JSON) holds, or ``None`` if it is none."""
        if not isinstance(body, Mapping):
            return None
        if not any(k in body for k in ("category", "message", "errorType", "policyName")):
            return None
        details = tuple(
            ErrorDetail(
                message=str(entry.get("message") or ""),
                code=str(entry.get("code") or entry.get("error") or ""),
                context=_context(entry.get("context")),
            )
            for entry in body.get("errors") or ()
            if isinstance(entry, Mapping)
        )
        return cls(
            message=str(body.get("message") or ""),
            category=str(body.get("category") or ""),
            status=str(body.get("status") or ""),
            correlation_id=str(body.get("correlationId") or ""),
            policy_name=str(body.get("policyName") or ""),
            error_type=str(body.get("errorType") or ""),
            context=_context(body.get("context")),
            details=details,
        )

    @classmethod
    def of_response(cls, response: httpx.Response) -> HubSpotError | None:
        try:
            return cls.of(response.json())
        except (ValueError, UnicodeDecodeError):
            return None

    def describe(self) -> str:
        """``VALIDATION_ERROR: <message>``, personal data masked, one short line."""
        # HubSpot quotes a refused value, which need not look like an address to redact()
        # (``ada@@example``): any word with an "@" goes too.
        message = _AT_WORD.sub(MASK, redact(" ".join(self.message.split())))
        if len(message) > _MESSAGE_CHARS:
            message = message[: _MESSAGE_CHARS - 1] + "…"
        kind = self.category or self.error_type
        return f"{kind}: {message}" if kind and message else kind or message

    def trace_ids(self) -> list[str]:
        """The ``objectWriteTraceId`` values this error names: the inputs it is about."""
        return list(self.context.get("objectWriteTraceId", ()))

    def missing_properties(self) -> set[str]:
        """Properties HubSpot says do not exist (``PROPERTY_DOESNT_EXIST``), from the
        error's ``errors`` or, failing that, the list its message carries."""
        found = {
            name
            for detail in self.details
            if detail.code == PROPERTY_DOESNT_EXIST
            for name in detail.context.get("propertyName", ())
        }
        for entry in self._invalid_values():
            if entry.get("error") == PROPERTY_DOESNT_EXIST and entry.get("name"):
                found.add(str(entry["name"]))
        return found

    def only_missing_properties(self) -> bool:
        """Whether every complaint is a property that does not exist: a mapping to fix,
        which no input can pass as it is."""
        codes = [d.code for d in self.details] or [
            str(e.get("error") or "") for e in self._invalid_values()
        ]
        return bool(codes) and all(code == PROPERTY_DOESNT_EXIST for code in codes)

    def _invalid_values(self) -> list[Mapping[str, Any]]:
        # "Property values were not valid: [{"isValid":false,"name":"plan",...}]"
        if not self.message.startswith(_INVALID_VALUES):
            return []
        try:
            entries = json.loads(self.message[len(_INVALID_VALUES) :])
        except ValueError:
            return []
        if not isinstance(entries, list):
            return []
        return [e for e in entries if isinstance(e, Mapping)]


class HubSpotValidationError(PermanentError):
    """HubSpot refused a request with 400 ``VALIDATION_ERROR``: :attr:`error` says why."""

    def __init__(self, message: str, error: HubSpotError) -> None:
        self.error = error
        super().__init__(message, status_code=400, vendor_message=error.describe())

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.error), self.__dict__)


def batch_errors(body: Any) -> list[HubSpotError]:
    """The ``errors`` of a batch answer (a 207 Multi-Status)."""
    if not isinstance(body, Mapping):
        return []
    found = [HubSpotError.of(entry) for entry in body.get("errors") or ()]
    return [error for error in found if error is not None]


def seconds_to_midnight(zone: ZoneInfo, now: datetime) -> float:
    """Seconds from ``now`` to the next midnight in ``zone``, when HubSpot's daily limit
    resets."""
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    # In UTC: within one zone Python subtracts wall times, which a change of daylight
    # saving time in between would make an hour off.
    return max(1.0, (midnight.astimezone(UTC) - now.astimezone(UTC)).total_seconds())


def hubspot_signal(
    time_zone: str = "UTC", *, now: Callable[[], datetime] | None = None
) -> ThrottleSignal:
    """The toolkit client's ``throttle_signal`` for HubSpot, for an account in
    ``time_zone``. It answers how long a 429 asks to wait:

    - a ``Retry-After`` header, when there is one;
    - ``DAILY``: until midnight in the account's time zone;
    - ``SECONDLY``: a second;
    - ``TEN_SECONDLY_ROLLING`` (or a 429 of no known policy): the rolling window, as
      ``X-HubSpot-RateLimit-Interval-Milliseconds`` states it, ten seconds by default.

    A plain 429 without HubSpot's body is left to the client (``Retry-After``).

    :raises HubSpotValidationError: for a 400 ``VALIDATION_ERROR``, carrying the body.
    """
    zone = ZoneInfo(time_zone)
    clock = now or (lambda: datetime.now(UTC))

    def signal(response: httpx.Response) -> float | None:
        status = response.status_code
        if status == 429:
            error = HubSpotError.of_response(response)
            if error is None or not (error.policy_name or error.error_type == "RATE_LIMIT"):
                return None
            stated = parse_retry_after(response.headers.get("Retry-After"))
            if stated is not None:
                return stated
            if error.policy_name == DAILY:
                return seconds_to_midnight(zone, clock())
            if error.policy_name == SECONDLY:
                return 1.0
            return _interval(response)
        if status == 400:
            error = HubSpotError.of_response(response)
            if error is not None and error.category == "VALIDATION_ERROR":
                where = f"{response.request.method} {response.request.url.path}"
                raise HubSpotValidationError(
                    f"{where} answered 400: {error.describe()}", error
                ) from None
        return None

    return signal


def _interval(response: httpx.Response) -> float:
    try:
        milliseconds = float(response.headers.get(INTERVAL_HEADER, ""))
    except ValueError:
        return BURST_WINDOW_SECONDS
    return milliseconds / 1000 if milliseconds > 0 else BURST_WINDOW_SECONDS


def _context(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for key, items in value.items():
        if isinstance(items, list | tuple):
            out[str(key)] = [str(item) for item in items]
        elif items is not None:
            out[str(key)] = [str(items)]
    return out
