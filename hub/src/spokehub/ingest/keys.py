"""The keys ingestion gives a message: the partition key that keeps one person's
messages in order, and the digest it and pulled records' ``messageId`` are made of."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from spokehub_contracts import SEGMENT_SPEC

#: The prefix of a partition key, by the identity field it was taken from (stable: the
#: inbox holds keys made with it).
KEY_PREFIXES = {"userId": "u", "anonymousId": "a"}
#: The spec's identity fields in its order, each with the prefix of the key made from it.
IDENTITY_KEYS = tuple((name, KEY_PREFIXES[name] + ":") for name in SEGMENT_SPEC.identity)


def partition_key(msg: dict[str, Any]) -> str | None:
    """The key that keeps one person's messages in order across pipeline workers.

    The user ID when there is one, else the anonymous ID. Stored as a short digest, so the
    inbox index holds no identifier values.
    """
    for name, prefix in IDENTITY_KEYS:
        ident = msg.get(name)
        if ident is not None and ident != "":
            return digest(prefix + str(ident))
    return None


def digest(text: str) -> str:
    """A short, stable digest of ``text`` (not reversible to the identifier)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=10).hexdigest()


#: The same people send again and again; their partition keys are worth remembering.
cached_digest = functools.lru_cache(maxsize=65536)(digest)


def record_message_id(record: Any) -> str:
    """The ``messageId`` of a pulled or pushed record: its stream and a digest of its
    content. When it was observed is left out, so the same content read or delivered
    again is a duplicate, while a change to the record is a new message."""
    content = record.model_dump_json(exclude={"observed_at"})
    return f"{record.stream}:{digest(content)}"


def delivery_message_id(delivery_id: str) -> str:
    """The seen ``messageId`` a webhook delivery of the vendor's event ``delivery_id`` is
    kept as: beside the records' content keys, never equal to one."""
    return f"delivery:{digest(delivery_id)}"
