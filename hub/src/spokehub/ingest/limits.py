"""Size limits and de-duplication settings of the ingestion API."""

from __future__ import annotations

from dataclasses import dataclass

from spokehub_contracts import SEGMENT_SPEC

#: The Segment message spec's limits (Segment's own): 32 KB per call, 500 KB per request.
MAX_EVENT_BYTES = SEGMENT_SPEC.max_message_bytes
MAX_BATCH_BYTES = SEGMENT_SPEC.max_request_bytes
DEFAULT_DEDUP_WINDOW = 24 * 3600.0


@dataclass(frozen=True)
class IngestSettings:
    """How much ingestion accepts and how long a ``messageId`` counts as seen.

    :param max_event_bytes: most bytes one message may take, serialized.
    :param max_batch_bytes: most bytes one request body may take, after decompression;
        it also caps how far a gzip body is inflated, so a gzip bomb costs nothing.
    :param dedup_window: seconds within which a repeated ``messageId`` from the same
        source is acknowledged but not stored again.
    """

    max_event_bytes: int = MAX_EVENT_BYTES
    max_batch_bytes: int = MAX_BATCH_BYTES
    dedup_window: float = DEFAULT_DEDUP_WINDOW
