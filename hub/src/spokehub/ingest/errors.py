"""The one error ingestion raises for a client mistake, carrying its HTTP answer."""

from __future__ import annotations


class IngestError(Exception):
    """A request the hub refuses; nothing of it was stored.

    :param status: the HTTP status to answer (always 4xx: a client mistake).
    :param code: a stable, machine-readable reason (``event_too_large``).
    :param message: what was wrong and where (``batch[3].userId: must be a string``),
        never the offending value.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")
