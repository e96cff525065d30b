"""The data contract at intake: each Segment message is checked against the project's
contract under its source's policy before it reaches a profile.

``enforce`` violations are quarantined with the field and rule; ``warn`` violations pass
and are counted; unknown events and traits follow the source's policy, and a drop is
counted too (``spokehub contract report``), never silent.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

import orjson
from sqlalchemy import Connection

from ..datacontract import Checker, EffectiveContract, Verdict
from ..datacontract.store import record_violations
from .claims import InboxRow


class ContractScreen:
    """Screens inbox rows with a :class:`~spokehub.datacontract.Checker`."""

    def __init__(self, contract: EffectiveContract) -> None:
        self.checker = Checker(contract)

    def screen(self, row: InboxRow) -> tuple[InboxRow, Verdict | None]:
        """Return the row to process (traits dropped by policy removed) and the verdict.

        Rows that are not Segment messages, or not parseable (the validate stage will
        quarantine them), pass unchanged with no verdict.
        """
        if row.kind != "event":
            return row, None
        try:
            message = orjson.loads(row.body)
        except orjson.JSONDecodeError:
            return row, None
        if not isinstance(message, dict):
            return row, None
        verdict = self.checker.check_message(row.connection, message)
        if verdict.dropped_traits:
            for holder in (message, message.get("context")):
                traits = holder.get("traits") if isinstance(holder, dict) else None
                if isinstance(traits, dict):
                    for key in verdict.dropped_traits:
                        traits.pop(key, None)
            row = dataclasses.replace(row, body=orjson.dumps(message).decode())
        return row, verdict


def count(conn: Connection, verdicts: Iterable[tuple[str, Verdict]]) -> None:
    """Add the batch's violations to the per-source counters, in the batch's transaction."""
    by_source: dict[str, list[Verdict]] = defaultdict(list)
    for connection, verdict in verdicts:
        if verdict.violations or verdict.dropped_traits:
            by_source[connection].append(verdict)
    for connection, items in by_source.items():
        record_violations(conn, connection, items)
