"""The webhook destination: each batch of changes as one signed JSON POST to a URL."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from spokehub_contracts import (
    AuthError,
    Capabilities,
    Change,
    CheckResult,
    CheckStatus,
    Delivered,
    Destination,
    Forget,
    Identifier,
    Outcome,
    PermanentError,
    Rejected,
    SpokeClient,
    SpokeError,
    Throttled,
    TransientError,
    parse_retry_after,
    redact,
    utcnow,
)

from ._config import WebhookConfig
from ._signing import ID_HEADER, message_id, signing_auth

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

#: The ``type`` of a batch of changes, and of the signed probe ``check()`` sends.
BATCH_TYPE = "spokehub.changes"
CHECK_TYPE = "spokehub.check"
# Long enough to quote a receiver's reason, short enough for one dead-letter line.
_REASON_CHARS = 200


class BatchData(BaseModel):
    """What a message carries: the connection that sent it and its changes, in order."""

    connection: str
    changes: list[Change]


class WebhookMessage(BaseModel):
    """The JSON body of every request, in the payload shape the Standard Webhooks spec
    recommends (``type``, ``timestamp``, ``data``)."""

    type: str
    timestamp: datetime
    data: BatchData


class WebhookDestination(Destination):
    """POSTs each batch of the hub's changes, as JSON, to one URL, signed with the
    Standard Webhooks scheme: for the tools that have no spoke of their own.

    One request per ``write()`` (at most 100 changes). A 2xx answer delivers the batch; a
    receiver may refuse single items by answering ``{"rejected": {"<item_id>": "<reason>"}}``
    with its 2xx. 429 and 5xx are retried, waiting as ``Retry-After`` says, and then left
    to the hub to schedule; 401 and 403 mean the receiver refused the signature, so the
    connection pauses; any other 4xx rejects every item of the batch with the receiver's
    reason.
    """

    name: ClassVar[str] = "webhook"
    Config: ClassVar[type[WebhookConfig]] = WebhookConfig
    description: ClassVar[str] = "signed JSON batches to any URL (Standard Webhooks)"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=(
            "upsert_person",
            "upsert_account",
            "upsert_membership",
            "event",
            "audience_entered",
            "audience_exited",
            "forget",
        ),
        batch_size=100,
        can_delete=True,
        # A receiver keeps what it likes; it is sent every change as it happened.
        upserts=False,
    )

    config: WebhookConfig

    def __init__(
        self,
        config: WebhookConfig,
        *,
        connection: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """:param clock: wall-clock seconds for ``webhook-timestamp`` (tests set it)."""
        super().__init__(config, connection=connection)
        self.client = SpokeClient.from_capabilities(
            self.capabilities,
            auth=signing_auth(config.secret, clock),
            throttle_signal=retry_after_on_5xx,
        )

    async def check(self) -> CheckResult:
        """POST a signed message with no changes (``type: spokehub.check``): tells a
        receiver that refuses the signature from one that cannot be reached."""
        try:
            await self._post(CHECK_TYPE, [], "msg_check_" + uuid.uuid4().hex)
        except AuthError as exc:
            message = (
                f"the receiver refused the signature ({exc.status_code}): check that it"
                " holds the same secret, and that this machine's clock is right"
            )
            return CheckResult(status=CheckStatus.AUTH_ERROR, message=message)
        except (TransientError, Throttled) as exc:
            return CheckResult(status=CheckStatus.UNREACHABLE, message=_said(exc))
        except PermanentError as exc:
            message = f"{_said(exc)}: check the url"
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message=message)
        return CheckResult(status=CheckStatus.OK, message="the receiver accepted a signed message")

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        """Send ``batch`` as one message and answer one outcome per item.

        :raises AuthError: the receiver answered 401 or 403 (the signature or the secret).
        :raises Throttled: still 429 (or 5xx with ``Retry-After``) after the retries.
        :raises TransientError: still 5xx, a timeout or no connection after the retries.
        """
        if not batch:
            return []
        msg_id = message_id(self.connection, (c.item_id for c in batch))
        try:
            response = await self._post(BATCH_TYPE, batch, msg_id)
        except PermanentError as exc:
            reason = _reason(_said(exc))
            log.info("webhook batch of %d rejected (status %s)", len(batch), exc.status_code)
            return [Rejected(item_id=c.item_id, reason=reason) for c in batch]
        refused = _refused_items(response)
        outcomes: list[Outcome] = []
        for change in batch:
            if change.item_id in refused:
                reason = _reason(f"the receiver refused it: {refused[change.item_id]}")
                outcomes.append(Rejected(item_id=change.item_id, reason=reason))
            else:
                outcomes.append(Delivered(item_id=change.item_id))
        return outcomes

    async def forget(self, identifiers: Sequence[Identifier]) -> Outcome:
        """Send the erasure as a message holding one ``forget`` change, for the receiver to
        erase the person; delivered when it answers 2xx."""
        change = Forget(item_id="forget-" + uuid.uuid4().hex, identifiers=tuple(identifiers))
        [outcome] = await self.write([change])
        return outcome.model_copy(update={"item_id": "forget"})

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _post(self, type_: str, changes: Sequence[Change], msg_id: str) -> httpx.Response:
        message = WebhookMessage(
            type=type_,
            timestamp=utcnow(),
            data=BatchData(connection=self.connection, changes=list(changes)),
        )
        return await self.client.post(
            self.config.url,
            content=message.model_dump_json(exclude_none=True).encode("utf-8"),
            headers={ID_HEADER: msg_id, "Content-Type": "application/json"},
        )


def retry_after_on_5xx(response: httpx.Response) -> float | None:
    """A 5xx that names a ``Retry-After`` is a receiver asking for a pause, like a 429:
    the client then waits as long as it says instead of its own backoff."""
    if response.status_code >= 500:
        return parse_retry_after(response.headers.get("Retry-After"))
    return None


def _refused_items(response: httpx.Response) -> dict[str, str]:
    """The items a 2xx answer refuses: ``{"rejected": {"<item_id>": "<reason>"}}``. Any
    other body (empty, text, other JSON) accepts the whole batch."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    rejected = body.get("rejected") if isinstance(body, dict) else None
    if not isinstance(rejected, dict):
        return {}
    return {str(k): str(v) for k, v in rejected.items()}


def _said(exc: SpokeError) -> str:
    """What the receiver said, without quoting the URL (some carry a token in the path)."""
    if exc.status_code is None:
        return "the receiver could not be reached (no connection, or no answer in time)"
    said = f"the receiver answered {exc.status_code}"
    return f"{said}: {exc.vendor_message}" if exc.vendor_message else said


def _reason(text: str) -> str:
    """A receiver's reason as an outcome keeps it: masked and on one short line."""
    text = redact(" ".join(text.split()))
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"
