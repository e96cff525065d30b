"""How the Graph API says what went wrong, read for the toolkit's client.

Graph answers most failures with HTTP 400 and an error object, whatever their cause::

    {"error": {"message": "...", "type": "OAuthException", "code": 80003,
               "error_subcode": 2446079, "fbtrace_id": "..."}}

so the status alone does not tell throttling from a bad token from a bad request; the
``code`` does:

- throttling: 4 (app), 17 (user), 32 (page), 613 (this call), and the business-use-case
  codes 80000-80014 (80003 for custom audiences). How long to wait is in the
  ``X-Business-Use-Case-Usage`` header, ``estimated_time_to_regain_access``, in minutes;
- a token that is invalid, expired or revoked: 190 (and 102, a session key); a missing
  permission: 10 and 200-299;
- a failure that may pass: 1 and 2, or ``"is_transient": true``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spokehub_contracts import AuthError, TransientError, redact

if TYPE_CHECKING:
    import httpx

#: Graph's throttling codes: application, user, page and per-call limits, and the
#: business-use-case limits (80003 is custom audiences').
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
#: An access token Graph does not accept (invalid, expired, revoked) or a session key.
TOKEN_CODES = frozenset({102, 190})
#: The token lacks a permission (``ads_management`` on the ad account).
PERMISSION_CODES = frozenset({10, *range(200, 300)})
#: Graph's own "try again" codes.
TRANSIENT_CODES = frozenset({1, 2})
#: The header that states the business-use-case usage and the wait.
BUC_HEADER = "X-Business-Use-Case-Usage"
#: The wait when Graph throttles without stating one (app, user and page limits count
#: over a rolling hour and name no time).
DEFAULT_THROTTLE_SECONDS = 300.0

# Long enough to quote Graph's reason, short enough for one line.
_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class GraphError:
    """The ``error`` object of a Graph API answer."""

    code: int | None
    subcode: int | None
    message: str
    type: str
    is_transient: bool
    fbtrace_id: str | None

    @classmethod
    def of(cls, response: httpx.Response) -> GraphError | None:
        """The error ``response`` carries, or ``None`` if its body is no Graph error."""
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            return None
        error = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(error, Mapping):
            return None
        return cls(
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            message=str(error.get("message") or ""),
            type=str(error.get("type") or ""),
            is_transient=bool(error.get("is_transient")),
            fbtrace_id=str(error["fbtrace_id"]) if error.get("fbtrace_id") else None,
        )

    def describe(self) -> str:
        """``Graph error 190/463: <message>``, masked and short."""
        code = f"{self.code}/{self.subcode}" if self.subcode else f"{self.code}"
        message = redact(" ".join(self.message.split()))
        if len(message) > _MESSAGE_CHARS:
            message = message[: _MESSAGE_CHARS - 1] + "…"
        return f"Graph error {code}: {message}" if message else f"Graph error {code}"


def regain_access_seconds(response: httpx.Response) -> float | None:
    """The wait the ``X-Business-Use-Case-Usage`` header states (the longest of its
    ``estimated_time_to_regain_access`` minutes, as seconds), or ``None`` when it states
    none or is missing or unreadable."""
    raw = response.headers.get(BUC_HEADER)
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = [
            float(entry.get("estimated_time_to_regain_access") or 0)
            for entries in usage.values()
            for entry in entries
        ]
    except (ValueError, AttributeError, TypeError):
        return None
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


def graph_signal(response: httpx.Response) -> float | None:
    """The toolkit client's ``throttle_signal`` for Graph: the seconds to wait when Graph
    throttles (its stated wait, else :data:`DEFAULT_THROTTLE_SECONDS`), and on a success
    that states a wait, that wait (the client then holds its next requests back).

    Graph answers a bad token or a missing permission with HTTP 400, which the client
    would take for a bad request; this reads the code and raises what it means instead:

    :raises AuthError: codes 190 and 102 (the token), 10 and 200-299 (a permission).
    :raises TransientError: codes 1 and 2, or an error marked ``is_transient``.
    """
    stated = regain_access_seconds(response)
    if response.is_success:
        return stated
    error = GraphError.of(response)
    if error is None or error.code is None:
        return None
    if error.code in THROTTLE_CODES:
        return stated or DEFAULT_THROTTLE_SECONDS
    where = _where(response)
    status = response.status_code
    if error.code in TOKEN_CODES:
        raise AuthError(
            f"{where} answered {status}: {error.describe()}; the access token is invalid,"
            " expired or revoked: issue a new one",
            status_code=status,
            vendor_message=error.describe(),
        )
    if error.code in PERMISSION_CODES:
        raise AuthError(
            f"{where} answered {status}: {error.describe()}; give the token's user the"
            " ads_management permission on the ad account",
            status_code=status,
            vendor_message=error.describe(),
        )
    if error.code in TRANSIENT_CODES or error.is_transient:
        raise TransientError(
            f"{where} answered {status}: {error.describe()}",
            status_code=status,
            vendor_message=error.describe(),
        )
    return None


def _where(response: httpx.Response) -> str:
    # The path names audiences and the ad account, never a person; the query is dropped.
    request = response.request
    return f"{request.method} {request.url.path}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
