"""How Klaviyo says what went wrong, read for the toolkit's client.

Klaviyo answers every failure with a JSON:API error document::

    {"errors": [{"id": "…", "status": 400, "code": "invalid", "title": "Invalid input.",
                 "detail": "Invalid email address",
                 "source": {"pointer": "/data/attributes/email"}}]}

401 (``not_authenticated``) and 403 (``permission_denied``) are the key; 429
(``throttled``) carries ``Retry-After``; the toolkit's client reads those three by status.
Any other 4xx is about the request itself: :func:`klaviyo_signal` raises it as
:class:`KlaviyoRefusal`, which keeps every error object so that the reason names the
field Klaviyo pointed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spokehub_contracts import PermanentError, redact

if TYPE_CHECKING:
    import httpx

# Long enough to quote Klaviyo's reason, short enough for one line.
_DETAIL_CHARS = 200
#: Statuses the toolkit's client classifies itself: the key, throttling, timeouts.
_CLIENT_STATUSES = frozenset({401, 403, 408, 429})


@dataclass(frozen=True)
class KlaviyoError:
    """One object of a JSON:API ``errors`` list."""

    status: int | None
    code: str
    title: str
    detail: str
    pointer: str | None
    id: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> KlaviyoError:
        source = raw.get("source")
        pointer = None
        if isinstance(source, Mapping):
            pointer = source.get("pointer") or source.get("parameter")
        try:
            status = int(raw["status"])
        except (KeyError, TypeError, ValueError):
            status = None
        return cls(
            status=status,
            code=str(raw.get("code") or ""),
            title=str(raw.get("title") or ""),
            detail=str(raw.get("detail") or ""),
            pointer=str(pointer) if pointer else None,
            id=str(raw["id"]) if raw.get("id") else None,
        )

    def describe(self) -> str:
        """``invalid at /data/attributes/email: Invalid email address``, masked and short."""
        text = redact(" ".join((self.detail or self.title).split()))
        if len(text) > _DETAIL_CHARS:
            text = text[: _DETAIL_CHARS - 1] + "…"
        where = f" at {self.pointer}" if self.pointer else ""
        head = f"{self.code or self.status or 'error'}{where}"
        return f"{head}: {text}" if text else head


def errors_of(body: Any) -> list[KlaviyoError]:
    """The error objects of a JSON:API error document; empty for anything else."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, list):
        return []
    return [KlaviyoError.from_json(e) for e in errors if isinstance(e, Mapping)]


class KlaviyoRefusal(PermanentError):
    """Klaviyo refused the request itself (400, 404, 409, …); :attr:`errors` holds its
    error objects."""

    def __init__(self, where: str, errors: list[KlaviyoError], *, status_code: int) -> None:
        reason = "; ".join(e.describe() for e in errors) or f"HTTP {status_code}"
        super().__init__(
            f"{where} answered {status_code}: {reason}",
            status_code=status_code,
            vendor_message=reason,
        )
        self.errors = errors


def klaviyo_signal(response: httpx.Response) -> float | None:
    """The toolkit client's ``throttle_signal`` for Klaviyo. It never states a wait of
    its own (429's ``Retry-After`` is read by the client); it raises a 4xx about the
    request as :class:`KlaviyoRefusal`, so the caller can say which field was wrong.

    :raises KlaviyoRefusal: a 4xx other than 401, 403, 408 and 429.
    """
    status = response.status_code
    if response.is_success or status >= 500 or status in _CLIENT_STATUSES or status < 400:
        return None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    errors = errors_of(body)
    request = response.request
    # The path names no person; the query is dropped.
    where = f"{request.method} {request.url.path}"
    raise KlaviyoRefusal(where, errors, status_code=status)
