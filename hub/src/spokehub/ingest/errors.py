"""The one error ingestion raises for a request it refuses, carrying its HTTP answer."""

from __future__ import annotations

from collections.abc import Mapping


class IngestError(Exception):
    """A request the hub refuses; nothing of it was stored.

    :param status: the HTTP status to answer: 4xx for a client mistake, 503 when the hub
        asks the client to send again later (shutting down, backlog full).
    :param code: a stable, machine-readable reason (``event_too_large``).
    :param message: what was wrong and where (``batch[3].userId: must be a string``),
        never the offending value.
    :param headers: extra headers of the answer (``Retry-After``).
    """

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {message}")
