"""Ingestion: Segment-compatible request parsing, limits, and durable inbox writes."""

from .body import decode, parse_json, read_capped
from .errors import IngestError
from .fast import read_batch
from .inbox import (
    InboxWrite,
    prune_message_ids,
    write_delivery,
    write_messages,
    write_messages_in,
)
from .keys import partition_key, record_message_id
from .limits import MAX_BATCH_BYTES, MAX_EVENT_BYTES, IngestSettings
from .messages import (
    BATCH_KINDS,
    CALL_TYPES,
    REQUIRED_BY_TYPE,
    Accepted,
    check_message,
    check_messages,
    split_messages,
    write_key_in_body,
)

__all__ = [
    "BATCH_KINDS",
    "CALL_TYPES",
    "MAX_BATCH_BYTES",
    "MAX_EVENT_BYTES",
    "REQUIRED_BY_TYPE",
    "Accepted",
    "InboxWrite",
    "IngestError",
    "IngestSettings",
    "check_message",
    "check_messages",
    "decode",
    "parse_json",
    "partition_key",
    "prune_message_ids",
    "read_batch",
    "read_capped",
    "record_message_id",
    "split_messages",
    "write_delivery",
    "write_key_in_body",
    "write_messages",
    "write_messages_in",
]
