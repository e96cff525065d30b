"""The data contract at intake: every record is checked against the project's contract
under its source's policy before it reaches a profile, whichever way it came in.

A Segment message is checked as it is. A record pulled from a source or parsed from a
webhook (inbox kind ``record``) is checked as the message it amounts to: an event as
itself, a person's fields and attributes as an identify call's traits, an account's as a
group call's. Consents, scores and memberships have a fixed shape the schema checks.

``enforce`` violations are quarantined with the field and rule, and ``spokehub
quarantine replay`` sends them through again once the contract is fixed; ``warn``
violations pass and are counted; unknown events and traits follow the source's policy,
and a drop is counted too (``spokehub contract report``), never silent.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection

from ..datacontract import Checker, EffectiveContract, Verdict
from ..datacontract.store import record_violations
from .claims import InboxRow


class ContractScreen:
    """Screens inbox rows with a :class:`~spokehub.datacontract.Checker`."""

    def __init__(self, contract: EffectiveContract) -> None:
        self.checker = Checker(contract)

    def screen(self, row: InboxRow) -> tuple[InboxRow, Verdict | None, Any]:
        """Return the row to process (traits dropped by policy removed), the verdict, and
        the row's body as read (the JSON value the returned row's body holds; ``None``
        when it is not JSON), so that the next step does not read it again.

        Rows that are not Segment messages, or not parseable (the validate stage will
        quarantine them), pass unchanged with no verdict.
        """
        try:
            parsed = orjson.loads(row.body)
        except orjson.JSONDecodeError:
            return row, None, None
        if row.kind == "record":
            return self._screen_record(row, parsed)
        if row.kind != "event" or not isinstance(parsed, dict):
            return row, None, parsed
        verdict = self.checker.check_message(row.connection, parsed)
        if verdict.dropped_traits:
            _drop_traits(parsed, verdict.dropped_traits)
            row = dataclasses.replace(row, body=orjson.dumps(parsed).decode())
        return row, verdict, parsed

    def _screen_record(self, row: InboxRow, record: Any) -> tuple[InboxRow, Verdict | None, Any]:
        data = record.get("data") if isinstance(record, dict) else None
        if not isinstance(data, dict):
            return row, None, record
        kind = record.get("kind")
        if kind == "event":
            verdict = self.checker.check_message(row.connection, data)
            if verdict.dropped_traits:
                _drop_traits(data, verdict.dropped_traits)
                row = dataclasses.replace(row, body=orjson.dumps(record).decode())
            return row, verdict, record
        if kind not in _AS_CALL:
            return row, None, record
        attributes = data.get("attributes")
        attributes = attributes if isinstance(attributes, dict) else {}
        fields = {k: v for k, v in data.items() if k not in _NOT_TRAITS[kind] and v is not None}
        verdict = self.checker.check_message(
            row.connection, {"type": _AS_CALL[kind], "traits": {**fields, **attributes}}
        )
        if verdict.dropped_traits:
            for key in verdict.dropped_traits:
                if key in attributes:
                    attributes.pop(key)
                else:
                    data.pop(key, None)
            row = dataclasses.replace(row, body=orjson.dumps(record).decode())
        return row, verdict, record


#: The Segment call a pulled or pushed record of a kind amounts to, for the contract.
_AS_CALL = {"person": "identify", "account": "group"}
#: Fields of a record's data that are not traits.
_NOT_TRAITS = {
    "person": frozenset({"attributes"}),
    "account": frozenset({"attributes", "account_id"}),
}


def _drop_traits(message: dict[str, Any], keys: Iterable[str]) -> None:
    """Remove ``keys`` from a message's traits, top level and ``context.traits``."""
    for holder in (message, message.get("context")):
        traits = holder.get("traits") if isinstance(holder, dict) else None
        if isinstance(traits, dict):
            for key in keys:
                traits.pop(key, None)


def count(conn: Connection, verdicts: Iterable[tuple[str, Verdict]]) -> None:
    """Add the batch's violations to the per-source counters, in the batch's transaction."""
    by_source: dict[str, list[Verdict]] = defaultdict(list)
    for connection, verdict in verdicts:
        if verdict.violations or verdict.dropped_traits:
            by_source[connection].append(verdict)
    for connection, items in by_source.items():
        record_violations(conn, connection, items)
