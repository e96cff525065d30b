"""Standard Webhooks signing, on the sending side.

Every request carries three headers (https://www.standardwebhooks.com):

- ``webhook-id``: the message's id, the same on every retry of the same batch, so a
  receiver can drop a message it already processed;
- ``webhook-timestamp``: when this attempt was signed, in whole seconds since the epoch;
- ``webhook-signature``: ``v1,`` and the base64 of an HMAC-SHA256 over
  ``"{webhook-id}.{webhook-timestamp}.{body}"``, keyed with the bytes the base64 part of
  the ``whsec_`` secret decodes to.

The signature itself is computed by the ``standardwebhooks`` reference library.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from spokehub_contracts import AuthHook

if TYPE_CHECKING:
    import httpx

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def message_id(connection: str, item_ids: Iterable[str]) -> str:
    """The ``webhook-id`` of a batch: derived from the connection and its items, so that
    the hub sending the same batch again (after a throttle or an outage) sends the same id
    and the receiver can tell the repeat."""
    digest = hashlib.sha256(connection.encode("utf-8"))
    for item_id in item_ids:
        digest.update(b"\x00" + item_id.encode("utf-8"))
    return "msg_" + digest.hexdigest()[:32]


def sign(secret: SecretStr, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for ``body`` sent as ``msg_id`` at ``timestamp``."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    # Built per call: the key stays inside the SecretStr between requests.
    return Webhook(secret.get_secret_value()).sign(msg_id, moment, body.decode("utf-8"))


def signing_auth(secret: SecretStr, clock: Callable[[], float] = time.time) -> AuthHook:
    """An auth hook for the toolkit's client that signs each attempt when it is sent: the
    request carries its ``webhook-id``; the hook adds the timestamp and the signature, so
    a retry a minute later is signed at its own time."""

    def add_signature(request: httpx.Request) -> Mapping[str, str]:
        msg_id = request.headers.get(ID_HEADER)
        if not msg_id:
            raise ValueError(f"a webhook request needs its {ID_HEADER} header before signing")
        timestamp = math.floor(clock())
        return {
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, msg_id, timestamp, request.content),
        }

    return add_signature
