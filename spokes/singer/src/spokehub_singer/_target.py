"""A Singer target as a destination.

Each ``write()`` runs the target once: the hub writes SCHEMA, RECORD and, last, a STATE
naming the batch to its stdin and closes it. A Singer target emits the last STATE it
received once everything before it is stored, so that STATE coming back on stdout is
the acknowledgement: every item of the batch is delivered. A target that exits without
echoing it has stored nothing the hub can count on, and the batch is tried again.

Streams: ``persons`` (key ``contact_id``: the profile's traits, identifiers, scores and
consents), ``accounts`` (key ``account_id``) and ``events`` (key ``messageId``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from spokehub_contracts import (
    Capabilities,
    Change,
    CheckResult,
    CheckStatus,
    ConfigError,
    Delivered,
    Destination,
    Outcome,
    RetryAfter,
    TrackEvent,
    UpsertAccount,
    UpsertPerson,
)

from ._config import SingerTargetConfig
from ._process import messages, private_files

_OPEN = {"type": "object", "additionalProperties": True}
#: The streams the hub writes, with their key property.
STREAMS = {"persons": "contact_id", "accounts": "account_id", "events": "messageId"}


def _row(change: Change) -> tuple[str, dict[str, Any]]:
    identifiers = [{"type": i.type, "value": i.value} for i in change.identifiers]
    if isinstance(change, UpsertPerson):
        row = change.person.model_dump(mode="json", exclude_none=True)
        # A tool keys people by e-mail or phone: give the row the identifier's form
        # where the traits hold none.
        for identifier in change.identifiers:
            if identifier.type in ("email", "phone"):
                row.setdefault(identifier.type, identifier.value)
        row.update(
            contact_id=change.contact_id,
            identifiers=identifiers,
            scores=change.scores,
            consents=change.consents,
        )
        return "persons", row
    if isinstance(change, UpsertAccount):
        row = change.account.model_dump(mode="json", exclude_none=True)
        row["identifiers"] = identifiers
        return "accounts", row
    assert isinstance(change, TrackEvent)
    row = change.event.model_dump(mode="json", by_alias=True, exclude_none=True)
    row.setdefault("messageId", change.item_id)
    row.update(contact_id=change.contact_id, identifiers=identifiers)
    return "events", row


def _schema(stream: str) -> dict[str, Any]:
    key = STREAMS[stream]
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {**_OPEN, "properties": {key: {"type": ["string", "null"]}}},
        "key_properties": [key],
    }


class SingerTarget(Destination):
    """Any Singer target, run in its own virtual environment, as a destination."""

    name: ClassVar[str] = "singer_target"
    Config: ClassVar[type[SingerTargetConfig]] = SingerTargetConfig
    description: ClassVar[str] = "any Singer target as a destination (its STATE echo is the ack)"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("upsert_person", "upsert_account", "event"), batch_size=500
    )

    config: SingerTargetConfig

    @property
    def _what(self) -> str:
        return f"target {self.config.label}"

    async def check(self) -> CheckResult:
        """OK when the target's executable is installed (a target has no dry run)."""
        try:
            program = self.config.program()
        except ConfigError as exc:
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message=str(exc))
        return CheckResult(status=CheckStatus.OK, message=f"{self._what} at {program}")

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        """Send ``batch`` through one run of the target.

        :raises ConnectorExited: the target failed (it said why on stderr, in the log).
        :raises ConnectorHung: it was silent past ``timeout_seconds``.
        """
        if not batch:
            return []
        marker = {"spokehub_batch": uuid.uuid4().hex, "items": len(batch)}
        lines: list[str] = []
        announced: set[str] = set()
        for change in batch:
            stream, row = _row(change)
            if stream not in announced:
                announced.add(stream)
                lines.append(json.dumps(_schema(stream)))
            lines.append(json.dumps({"type": "RECORD", "stream": stream, "record": row}))
        lines.append(json.dumps({"type": "STATE", "value": marker}))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        acknowledged = False
        with private_files({"config": self.config.connector_config()}) as paths:
            async for message in messages(
                [self.config.program(), "--config", paths["config"]],
                what=self._what,
                timeout=self.config.timeout_seconds,
                mask=self.config.masker(),
                stdin=data,
            ):
                # Targets print the state value itself; some wrap it as a STATE message.
                value = message.get("value") if message.get("type") == "STATE" else message
                acknowledged = acknowledged or value == marker
        if acknowledged:
            return [Delivered(item_id=c.item_id) for c in batch]
        reason = f"{self._what} exited without echoing the batch's STATE: nothing acknowledged"
        return [RetryAfter(item_id=c.item_id, seconds=30.0, reason=reason) for c in batch]
