"""The pipeline worker: inbox → validate → transform → resolve → profile → route → outbox.

Each batch is one transaction: the claimed inbox rows are marked processed (or
quarantined, or dropped by a transform) together with every profile update, timeline row,
quarantine row and outbox row they caused. A crash therefore leaves each inbox row either
fully processed or untouched, and a restarted worker simply claims it again.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from spokehub_contracts import (
    Event,
    PrivacyRequest,
    SourceRecord,
    SpokehubError,
    ValidationFailed,
    utcnow,
)

from ..activation import Activation
from ..config import Project
from ..datacontract import EffectiveContract, Verdict, load_contract
from ..datacontract.store import publish
from ..logs import get_logger
from ..privacy.requests import file_request
from ..privacy.settle import truncate_wal
from ..privacy.tombstones import SuppressionCheck, count_dropped
from ..registry import Registry
from ..store.driver_sql import chunks, cursor, json_text, marks, transaction, utc
from ..store.tables import quarantine
from .activation import ActivationHook
from .claims import InboxRow, claim
from .enrichment import Enrichment
from .identity_changes import IdentityChanges
from .outgoing import PersonUpsert, complete
from .profiles import EVENT_COLUMNS, Applied, apply_record, merged_consents, resolve
from .records import UNPARSED, to_record
from .routing import OUTBOX_COLUMNS, Router, consent_destinations
from .screening import ContractScreen, count
from .violations import RecordRejected, from_validation_error

log = get_logger("spokehub.pipeline")

#: The "source" a merge's own changes are routed from: no connection, so every
#: destination that takes them hears of them.
MERGE_SOURCE = "(merge)"

#: Errors of one record's data (not of the database): the record is quarantined.
_RECORD_ERRORS = (RecordRejected, ValidationError, SpokehubError, ValueError, TypeError, KeyError)
#: PostgreSQL SQLSTATEs worth retrying the whole batch for: deadlock, serialization.
_RETRY_STATES = frozenset({"40P01", "40001"})


#: Records of one batch set aside (quarantined) before it is applied with a savepoint
#: per record instead (see :meth:`Pipeline._claim_and_process`).
_MAX_SET_ASIDE = 3


class _RecordFailed(Exception):
    """A record's data failed while it was being applied without a savepoint: the batch
    (``batch``, the claimed row ids) is rolled back and goes round again without it."""

    def __init__(self, row_id: int, batch: list[int], reason: tuple[str, str, str]) -> None:
        super().__init__(reason[2])
        self.row_id = row_id
        self.batch = batch
        #: Stage, field and rule, as it is quarantined.
        self.reason = reason


class _Screened(NamedTuple):
    """A row as the contract screen left it, its verdict, and what preparing it gave: the
    record, the reason it was rejected, or ``None`` when a transform dropped it (or the
    verdict took it out before it was prepared)."""

    row: InboxRow
    verdict: Verdict | None
    outcome: SourceRecord | RecordRejected | None


@dataclass
class BatchStats:
    """What one or more batches did."""

    claimed: int = 0
    processed: int = 0
    quarantined: int = 0
    dropped: int = 0
    outbox: int = 0

    def add(self, other: BatchStats) -> None:
        self.claimed += other.claimed
        self.processed += other.processed
        self.quarantined += other.quarantined
        self.dropped += other.dropped
        self.outbox += other.outbox


def _live_contract(engine: Engine, project: Project) -> EffectiveContract:
    """The project's contract, published as the live one first: additive changes publish
    on their own, a breaking change stops the worker until it is published with
    ``spokehub contract publish --allow-breaking``."""
    contract = load_contract(project.contract, project.path)
    publish(engine, contract)
    return contract


class Pipeline:
    """Processes inbox rows in batches; safe to run in several processes at once."""

    def __init__(
        self,
        engine: Engine,
        project: Project,
        registry: Registry,
        *,
        batch_size: int = 200,
        worker_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.project = project
        self.batch_size = batch_size
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.router = Router(project, consent_destinations(project, registry))
        self.identity_changes = IdentityChanges(project, registry)
        self.enrichment = Enrichment(registry)
        self.rules = project.identity
        self.consent_categories = dict(project.consent.categories)
        self.transforms = [(n, r.cls()) for n, r in sorted(registry.transforms.items())]
        self.matchers = [(n, r.cls()) for n, r in sorted(registry.matchers.items())]
        self.screen = ContractScreen(_live_contract(engine, project))
        self.activation = ActivationHook(Activation(project))
        self.suppression = SuppressionCheck()
        self._dropped_suppressed = False
        # What screening and preparing each row of the current batch gave (both depend on
        # the row alone), so a batch that goes round again does that work once.
        self._screened: dict[int, _Screened] = {}

    # -- one batch --------------------------------------------------------------------

    def run_batch(self) -> BatchStats:
        """Claim and process one batch; returns what it did (``claimed == 0``: idle).

        A poisonous row is quarantined without costing its batch a transaction per row.
        A record whose data fails while it is applied names itself: the batch goes round
        again with that record quarantined (:meth:`_claim_and_process`). A batch that
        fails for any other reason but the database (a row no step names) is split in
        halves, each processed in a transaction of its own, until the rows that fail are
        alone (:meth:`_bisect`): one such row costs about ``2 log2(batch)`` smaller
        transactions.
        """
        # A batch allocates many small objects and frees them all at its end: the cyclic
        # collector walking them meanwhile finds nothing (a sixth of a batch's time); it
        # runs between batches instead.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for attempt in range(3):
                try:
                    return self._claim_and_process()
                except DBAPIError as exc:
                    if _sqlstate(exc) in _RETRY_STATES and attempt < 2:
                        continue
                    if isinstance(exc, OperationalError | InterfaceError):
                        raise
                    log.warning("batch failed; bisecting it", error=type(exc).__name__)
                    return self._bisect()
                except Exception as exc:
                    log.warning("batch failed; bisecting it", error=type(exc).__name__)
                    return self._bisect()
            raise AssertionError("unreachable")
        finally:
            self._screened.clear()
            if collecting:
                gc.enable()
            if self._dropped_suppressed:
                # The dropped records' rows were written to the log before the pipeline
                # saw them: let no copy of them outlive the batch (readers in the way:
                # the next batch tries again).
                self._dropped_suppressed = not truncate_wal(self.engine)

    def drain(self, max_batches: int | None = None) -> BatchStats:
        """Process batches until the inbox has nothing pending (or ``max_batches``)."""
        total = BatchStats()
        n = 0
        while max_batches is None or n < max_batches:
            stats = self.run_batch()
            total.add(stats)
            n += 1
            if stats.claimed == 0:
                break
        return total

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, idle: float = 0.25) -> None:
        """Process batches until ``stop`` is set; sleeps up to ``idle`` seconds (or until
        ``wake``) when the inbox is empty. A batch in progress always finishes."""
        log.info("pipeline started", worker=self.worker_id)
        while not stop.is_set():
            try:
                stats = await asyncio.to_thread(self.run_batch)
            except Exception as exc:  # the store is down: wait, never die
                log.error("pipeline batch failed", error=type(exc).__name__)
                stats = BatchStats()
                await _wait_any(stop, wake, 1.0)
                continue
            if stats.claimed == 0:
                wake.clear()
                await _wait_any(stop, wake, idle)
        log.info("pipeline stopped", worker=self.worker_id)

    # -- internals --------------------------------------------------------------------

    def _claim_and_process(self, ids: list[int] | None = None) -> BatchStats:
        """Claim a batch (or the pending rows of ``ids``) and process it in one
        transaction.

        Records are applied without a savepoint each (one costs about as much as the
        record's own writes). A record whose data fails half-way through its writes rolls
        the batch back, and the same rows go round again with that record set aside:
        quarantined with the reason it failed for, the others applied as before. A batch
        with more such records than :data:`_MAX_SET_ASIDE` goes round once more with a
        savepoint per record instead.
        """
        set_aside: dict[int, tuple[str, str, str]] = {}
        while True:
            careful = len(set_aside) >= _MAX_SET_ASIDE
            try:
                with transaction(self.engine) as conn:
                    rows = claim(conn, self.batch_size if ids is None else len(ids), ids=ids)
                    return self._process(conn, rows, careful=careful, set_aside=set_aside)
            except _RecordFailed as failed:
                set_aside[failed.row_id] = failed.reason
                ids = failed.batch

    def _bisect(self) -> BatchStats:
        """Process a batch that failed as a whole: halves in transactions of their own,
        a half that fails halved again, a row that fails alone quarantined."""
        with transaction(self.engine) as conn:
            ids = [row.id for row in claim(conn, self.batch_size)]
        total = BatchStats()
        # Depth first, the earlier half first: rows are processed in their inbox order.
        # The whole batch just failed: its halves come first.
        half = len(ids) // 2
        parts = [part for part in (ids[half:], ids[:half]) if part]
        while parts:
            part = parts.pop()
            try:
                total.add(self._claim_and_process(part))
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                if len(part) > 1:
                    half = len(part) // 2
                    parts += [part[half:], part[:half]]
                    continue
                with transaction(self.engine) as conn:
                    rows = claim(conn, 1, ids=part)
                    if rows:
                        rule = f"processing failed ({type(exc).__name__})"
                        q = [_quarantine_row(rows[0], "resolve", "(record)", rule)]
                        self._finish(conn, [], q, [], {rows[0].id: "quarantined"})
                        total.claimed += 1
                        total.quarantined += 1
        return total

    def _process(
        self,
        conn: Connection,
        rows: Sequence[InboxRow],
        *,
        careful: bool = True,
        set_aside: dict[int, tuple[str, str, str]] | None = None,
    ) -> BatchStats:
        """Process claimed ``rows`` in the caller's transaction. ``careful``: each record
        in a savepoint, a record that fails is quarantined; otherwise such a record
        raises :class:`_RecordFailed` and the caller rolls the batch back. Rows in
        ``set_aside`` are quarantined with the (stage, field, rule) given there."""
        stats = BatchStats(claimed=len(rows))
        if not rows:
            return stats
        statuses: dict[int, str] = {}
        quarantined: list[dict[str, Any]] = []
        prepared: list[tuple[InboxRow, SourceRecord]] = []
        verdicts = []
        for row in rows:
            if set_aside and row.id in set_aside:
                quarantined.append(_quarantine_row(row, *set_aside[row.id]))
                statuses[row.id] = "quarantined"
                continue
            row, verdict, outcome = self._screen_and_prepare(row)
            if verdict is not None:
                verdicts.append((row.connection, verdict))
                if verdict.action == "quarantine":
                    first = verdict.violations[0]
                    quarantined.append(
                        _quarantine_row(row, "contract", first.field, verdict.reason)
                    )
                    statuses[row.id] = "quarantined"
                    continue
                if verdict.action == "drop":
                    statuses[row.id] = "dropped"
                    continue
            if isinstance(outcome, RecordRejected):
                quarantined.append(_quarantine_row(row, outcome.stage, outcome.field, outcome.rule))
                statuses[row.id] = "quarantined"
                continue
            if outcome is None:
                statuses[row.id] = "dropped"
                continue
            prepared.append((row, outcome))
        prepared = self._privacy(conn, prepared, statuses)

        consent_changed: dict[str, set[str]] = {}
        contact_ids, absorbed = resolve(
            conn,
            self.rules,
            [(str(row.id), row.connection, rec) for row, rec in prepared],
            consent_changed,
        )
        now = utcnow()
        event_rows: list[tuple[Any, ...]] = []
        changed: list[tuple[str, SourceRecord]] = []
        # Each applied record's changes, routed once the batch is applied (an upsert of a
        # person is built then, from the profile as the batch left it).
        routable: list[tuple[list[Any], str, dict[str, Any] | None]] = []
        for row, record in prepared:
            apply = (
                conn,
                self.rules,
                str(row.id),
                row.connection,
                record,
                contact_ids.get(str(row.id)),
                row.received_at,
                self.consent_categories,
                self.router.kinds_from(row.connection),
            )
            try:
                if careful:
                    with conn.begin_nested():
                        applied = self._apply(apply, event_rows)
                else:
                    applied = self._apply(apply, event_rows)
            except _RECORD_ERRORS as exc:
                if not careful:
                    raise _RecordFailed(row.id, [r.id for r in rows], _describe(exc)) from exc
                stage, field, rule = _describe(exc)
                quarantined.append(_quarantine_row(row, stage, field, rule))
                statuses[row.id] = "quarantined"
                continue
            statuses[row.id] = "processed"
            contact_id = contact_ids.get(str(row.id))
            if contact_id is not None:
                changed.append((contact_id, record))
            if applied.event_row is not None:
                event_rows.append(applied.event_row)
            if applied.changes:
                integrations = record.data.integrations if isinstance(record.data, Event) else None
                routable.append((applied.changes, row.connection, integrations))
        outbox_rows = self._route(conn, routable)
        if absorbed:
            # Before the batch's own changes: a tool hears of the merge before anything
            # about the survivor that depends on it.
            outbox_rows[:0] = self.identity_changes.merged(
                conn, self.rules, absorbed, f"{rows[0].id}:identity"
            )
        if consent_changed:
            # The merged profile's decisions the tools that knew the survivor have not
            # heard: a denial the absorbed profile carried reaches them too.
            merged = merged_consents(conn, consent_changed, f"{rows[0].id}:merged-consent")
            outbox_rows.extend(self.router.outbox_rows(merged, MERGE_SOURCE))

        self._finish(conn, event_rows, quarantined, outbox_rows, statuses, now)
        # Audiences and journeys read the batch's profiles and events as just written.
        activated = self.activation.after_batch(conn, changed, absorbed)
        count(conn, verdicts)
        values = list(statuses.values())
        stats.processed = values.count("processed")
        stats.quarantined = values.count("quarantined")
        stats.dropped = values.count("dropped")
        stats.outbox = len(outbox_rows) + activated.outbox
        return stats

    def _route(
        self, conn: Connection, routable: list[tuple[list[Any], str, dict[str, Any] | None]]
    ) -> list[tuple[Any, ...]]:
        """The outbox rows of the batch's changes, in order: the upserts of people that
        some destination takes completed first, their profiles read at once."""
        wanted: list[PersonUpsert] = []
        for changes, source, integrations in routable:
            for change in changes:
                if isinstance(change, PersonUpsert) and self.router.targets_of(
                    change, source, integrations
                ):
                    wanted.append(change)
        built = complete(conn, self.rules, wanted) if wanted else {}
        rows: list[tuple[Any, ...]] = []
        for changes, source, integrations in routable:
            ready = [built.get(c.item_id) if isinstance(c, PersonUpsert) else c for c in changes]
            rows.extend(
                self.router.outbox_rows([c for c in ready if c is not None], source, integrations)
            )
        return rows

    def _apply(self, apply: tuple[Any, ...], pending: Sequence[tuple[Any, ...]]) -> Applied:
        """Apply one record, then run the enrichers it calls for on its profile."""
        applied = apply_record(*apply)
        conn, rules, item_prefix, _connection, record, contact_id = apply[:6]
        if self.enrichment and contact_id is not None:
            self.enrichment.after(conn, rules, contact_id, record, applied, item_prefix, pending)
        return applied

    def _privacy(
        self,
        conn: Connection,
        prepared: list[tuple[InboxRow, SourceRecord]],
        statuses: dict[int, str],
    ) -> list[tuple[InboxRow, SourceRecord]]:
        """File the privacy requests sources handed over (they name a person but are no
        data about them: nothing is resolved or stored), and drop the records that carry
        a suppressed identifier: counted against the tombstone, their inbox row deleted,
        nothing of them stored."""
        keep: list[tuple[InboxRow, SourceRecord]] = []
        for row, record in prepared:
            if isinstance(record.data, PrivacyRequest):
                if not record.identifiers:
                    raise RecordRejected(
                        "validate", "identifiers", "a privacy request names its subject"
                    )
                data = record.data
                file_request(
                    conn,
                    data.action,
                    record.identifiers,
                    source=row.connection,
                    requested_by=row.connection,
                    reference=data.reference,
                    reason=data.reason,
                    requested_at=data.requested_at,
                )
                statuses[row.id] = "processed"
            else:
                keep.append((row, record))
        found = self.suppression.suppressed(
            conn, ((i.type, i.value) for _, record in keep for i in record.identifiers)
        )
        if not found:
            return keep
        allowed: list[tuple[InboxRow, SourceRecord]] = []
        dropped: list[int] = []
        hits: list[str] = []
        for row, record in keep:
            caught = [found[k] for i in record.identifiers if (k := (i.type, i.value)) in found]
            if caught:
                dropped.append(row.id)
                hits.extend(caught)
                statuses[row.id] = "suppressed"
            else:
                allowed.append((row, record))
        count_dropped(conn, hits)
        self._dropped_suppressed = True
        cursor(conn).many("DELETE FROM inbox WHERE id = ?", [(i,) for i in dropped])
        return allowed

    def _screen_and_prepare(self, row: InboxRow) -> _Screened:
        # Once per row and batch, however often the batch goes round.
        screened = self._screened.get(row.id)
        if screened is None:
            row, verdict, parsed = self.screen.screen(row)
            outcome: SourceRecord | RecordRejected | None = None
            if verdict is None or verdict.action not in ("quarantine", "drop"):
                try:
                    outcome = self._prepare(row, parsed)
                except RecordRejected as rejected:
                    # Kept without its traceback and the error it replaced, whose frames
                    # would hold it in a cycle only the collector frees.
                    outcome = rejected.with_traceback(None)
                    outcome.__context__ = None
            screened = self._screened[row.id] = _Screened(row, verdict, outcome)
        return screened

    def _prepare(self, row: InboxRow, parsed: Any = None) -> SourceRecord | None:
        # ``None``: the screen could not read the body (or it is JSON's null): read again,
        # so that the rejection says why.
        record: SourceRecord | None = to_record(
            row.kind, row.body, row.received_at, UNPARSED if parsed is None else parsed
        )
        for name, transform in self.transforms:
            if record is None:
                return None
            try:
                record = transform.apply(record)
            except ValidationFailed as exc:
                raise RecordRejected("transform", exc.field, exc.rule) from None
            except Exception as exc:
                raise RecordRejected(
                    "transform", "(record)", f"transform {name!r} failed: {type(exc).__name__}"
                ) from None
        if record is not None and self.matchers:
            extra = list(record.identifiers)
            for name, matcher in self.matchers:
                try:
                    extra.extend(i for i in matcher.match(record) if i not in extra)
                except Exception as exc:
                    raise RecordRejected(
                        "transform", "(record)", f"matcher {name!r} failed: {type(exc).__name__}"
                    ) from None
            record = record.model_copy(update={"identifiers": tuple(extra)})
        return record

    def _finish(
        self,
        conn: Connection,
        event_rows: list[tuple[Any, ...]],
        quarantined: list[dict[str, Any]],
        outbox_rows: list[tuple[Any, ...]],
        statuses: dict[int, str],
        now: datetime | None = None,
    ) -> None:
        # The batch's rows as driver SQL: plain tuples, where the expression form would
        # compile and process every row's parameters (a tenth of a batch's time).
        now = now or utcnow()
        cur = cursor(conn)
        stamp = cur.driver.stamp
        at = stamp(now)
        if event_rows:
            cur.insert(
                "events",
                EVENT_COLUMNS,
                [
                    (
                        c,
                        source,
                        mid,
                        kind,
                        name,
                        json_text(props),
                        json_text(ctx),
                        stamp(utc(ts)),
                        stamp(utc(received)),
                    )
                    for c, source, mid, kind, name, props, ctx, ts, received in event_rows
                ],
            )
        if quarantined:
            # Rare: a record that failed its checks.
            for q in quarantined:
                q["created_at"] = now
            conn.execute(quarantine.insert(), quarantined)
        if outbox_rows:
            cur.insert(
                "outbox",
                (*OUTBOX_COLUMNS, "created_at", "due_at", "status"),
                [(*r, at, at) for r in outbox_rows],
                row="(?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            )
        if statuses:
            # One statement a status (nearly always just "processed") over its rows' ids.
            by_status: dict[str, list[int]] = {}
            for i, s in statuses.items():
                by_status.setdefault(s, []).append(i)
            for s, ids in by_status.items():
                for part in chunks(ids, cur.driver.max_params - 3):
                    cur.run(
                        "UPDATE inbox SET status = ?, processed_at = ?, claimed_by = ?"
                        f" WHERE id IN ({marks(len(part))})",
                        (s, at, self.worker_id, *part),
                    )


def _quarantine_row(row: InboxRow, stage: str, field: str, rule: str) -> dict[str, Any]:
    return {
        "inbox_id": row.id,
        "connection": row.connection,
        "kind": row.kind,
        "body": row.body,
        "stage": stage,
        "field": field[:256],
        "rule": rule,
    }


def _describe(exc: BaseException) -> tuple[str, str, str]:
    if isinstance(exc, RecordRejected):
        return exc.stage, exc.field, exc.rule
    if isinstance(exc, ValidationError):
        v = from_validation_error("contract", exc)
        return v.stage, v.field, v.rule
    if isinstance(exc, ValidationFailed):
        return "contract", exc.field, exc.rule
    # Other errors' messages may quote values; the type names the failure well enough.
    return "resolve", "(record)", f"profile update failed ({type(exc).__name__})"


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
