"""Delivery lanes: one async worker per destination connection.

A lane claims due outbox rows up to the destination's batch size, drops what consent
forbids for the purposes the send serves (recording it ``suppressed`` with the purpose),
applies the route's field mapping, coalesces upserts, calls ``write()`` at the
destination's pace and records every item's outcome. Lanes share nothing but the store:
a slow, failing, throttled or paused destination holds back only its own lane, and
ingestion never waits on delivery. All store work runs in worker threads so that one
lane's transaction never blocks another lane's I/O.

:func:`run_lanes` is what ``spokehub serve`` starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine

from spokehub.store.driver_sql import utcnow
from spokehub_contracts import (
    AuthError,
    Change,
    CheckStatus,
    Delivered,
    Destination,
    Forget,
    Throttled,
    UpsertPerson,
)

from ..config import Project, Route
from ..http_runtime import prepare_vendor_http
from ..logs import get_logger
from ..registry import Registry
from . import state as lane_state
from .backoff import next_delay
from .claim import Claimed, claim, release, renew
from .coalesce import coalesce
from .consent import UNGATED_KINDS, ConsentReader, denied_purpose, read_consents, reason_for
from .holdings import Delivery
from .mapping import apply_mapping
from .pacing import Pacer, wait_or_stop
from .record import SUPERSEDED, CallLog, Result, finish
from .send import Answer, Sender, summary
from .settings import DeliverySettings
from .verdicts import dead, judge
from .writeback import WriteBack, write_back

log = get_logger("spokehub.delivery")

_CHANGE: TypeAdapter[Change] = TypeAdapter(Change)
_HEARTBEAT_SECONDS = 5.0
_PAUSE_REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class RouteRule:
    """What a route adds at send time: its field mapping and consent purpose."""

    mapping: Mapping[str, str]
    purpose: str | None


def route_rules(project: Project, destination: str) -> dict[str, RouteRule]:
    """The routes to ``destination`` by every key an outbox row may name them with: the
    route's ``name``, its index in the project file (``"0"``) or ``routes[0]``."""
    rules: dict[str, RouteRule] = {}
    for index, route in enumerate(project.routes):
        if route.to != destination:
            continue
        rule = _rule(route)
        for key in (str(index), f"routes[{index}]", route.name):
            if key:
                rules[key] = rule
    return rules


def _rule(route: Route) -> RouteRule:
    purpose = route.purpose.value if route.purpose is not None else None
    return RouteRule(mapping=dict(route.mapping), purpose=purpose)


class Lane:
    """The worker of one destination connection."""

    def __init__(
        self,
        engine: Engine,
        connection: str,
        spoke: Destination,
        *,
        routes: Mapping[str, RouteRule] | None = None,
        settings: DeliverySettings | None = None,
        consent_reader: ConsentReader = read_consents,
        rng: random.Random | None = None,
        purposes: Sequence[str] | None = None,
    ) -> None:
        self.engine = engine
        self.connection = connection
        self.spoke = spoke
        self.routes = dict(routes or {})
        caps = type(spoke).capabilities
        #: What every send serves unless its route names a purpose of its own.
        self.purposes = tuple(caps.purposes if purposes is None else purposes)
        self.settings = settings or DeliverySettings()
        self.consent_reader = consent_reader
        self.rng = rng or random.Random()
        self.batch_size = caps.batch_size
        self.accepts = frozenset(caps.record_kinds)
        self.can_delete = caps.can_delete
        self.coalesces = caps.upserts
        self.external_id_type = caps.external_id_type
        self.pacer = Pacer(caps.rate_limit)
        self.paused = False
        self._failures = 0
        self._slots = asyncio.Semaphore(max(1, self.settings.concurrency))
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then let in-flight calls finish (up to the
        shutdown grace) and hand back whatever is still unsent."""
        loop = asyncio.get_running_loop()
        next_beat = next_refresh = 0.0
        next_probe = loop.time()
        try:
            while not stop.is_set():
                now = loop.time()
                if now >= next_beat:
                    await asyncio.to_thread(lane_state.heartbeat, self.engine, self.connection)
                    next_beat = now + _HEARTBEAT_SECONDS
                if now >= next_refresh:
                    current = await asyncio.to_thread(
                        lane_state.is_paused, self.engine, self.connection
                    )
                    self.paused = current.paused
                    next_refresh = now + _PAUSE_REFRESH_SECONDS
                if self.paused:
                    if now >= next_probe:
                        next_probe = now + self.settings.auth_probe_seconds
                        await self._probe()
                        continue
                    await wait_or_stop(stop, _PAUSE_REFRESH_SECONDS)
                    continue
                held = self.pacer.held_for()
                if held > 0:
                    # Throttled or failing: claim nothing until the hold ends, so rows do not
                    # age under a lease while waiting.
                    await wait_or_stop(stop, held)
                    continue
                claimed = await self._claim_slot()
                if claimed is None:
                    await wait_or_stop(stop, self.settings.idle_poll_seconds)
                    continue
                task = asyncio.create_task(self._work(claimed, stop))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                if len(claimed) < self.batch_size:
                    await wait_or_stop(stop, self.settings.idle_poll_seconds)
        finally:
            await self._drain()

    async def run_once(self) -> int:
        """Deliver what is due now, batch after batch, and return how many rows were
        handled. Stops when nothing is due or the lane is paused."""
        handled = 0
        self.paused = (
            await asyncio.to_thread(lane_state.is_paused, self.engine, self.connection)
        ).paused
        while not self.paused:
            claimed = await asyncio.to_thread(
                claim, self.engine, self.connection, self.batch_size, self.settings.lease_seconds
            )
            if not claimed:
                break
            await self.process(claimed)
            handled += len(claimed)
        return handled

    async def _claim_slot(self) -> list[Claimed] | None:
        if self._slots.locked():
            # Every worker is busy (each claims its own next batch): look again shortly.
            return None
        await self._slots.acquire()
        try:
            claimed = await asyncio.to_thread(
                claim, self.engine, self.connection, self.batch_size, self.settings.lease_seconds
            )
        except Exception as exc:  # the store is briefly unavailable: try again shortly
            self._slots.release()
            log.warning("delivery.claim_failed", connection=self.connection, error=summary(exc))
            return None
        if not claimed:
            self._slots.release()
            return None
        return claimed

    async def _work(self, claimed: list[Claimed], stop: asyncio.Event) -> None:
        """One worker: deliver ``claimed``, then batch after batch for as long as a full
        queue lasts, each next batch claimed in the transaction that records the last, so
        that ``concurrency`` workers keep the destination's budget busy between them."""
        try:
            batch = claimed
            while batch:
                batch = await self.process(batch, stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not kill the lane; the lease brings rows back
            log.error("delivery.batch_failed", connection=self.connection, error=summary(exc))
        finally:
            self._slots.release()

    async def _drain(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.settings.shutdown_grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _probe(self) -> None:
        """Ask the destination whether the credentials work again; resume if so."""
        try:
            result = await self.spoke.check()
        except Exception:
            return
        if result.status is CheckStatus.OK:
            await asyncio.to_thread(lane_state.resume, self.engine, self.connection)
            self.paused = False
            log.info("delivery.lane_resumed", connection=self.connection)

    # -- one batch ---------------------------------------------------------------------

    async def process(
        self, claimed: Sequence[Claimed], stop: asyncio.Event | None = None
    ) -> list[Claimed]:
        """Take one claimed batch to the end: every row gets a recorded outcome, or goes
        back to the queue unchanged if the lane pauses or stops.

        With ``stop`` (a running lane), a full batch is followed by the next one: it is
        claimed in the transaction that records this one, and returned."""
        unsent = [row.id for row in claimed]
        try:
            async with self._keep_lease(unsent):
                results, to_release, calls, lane_error, found, delivered = await self._deliver(
                    claimed
                )
            more = (
                stop is not None
                and not stop.is_set()
                and not self.paused
                and len(claimed) >= self.batch_size
                and self.pacer.held_for() <= 0
            )
            job = asyncio.ensure_future(
                asyncio.to_thread(
                    finish,
                    self.engine,
                    self.connection,
                    results,
                    calls,
                    lane_error,
                    to_release,
                    claim_next=self.batch_size if more else 0,
                    lease_seconds=self.settings.lease_seconds,
                    write_backs=found,
                    delivered=delivered,
                )
            )
            try:
                return await asyncio.shield(job)
            except asyncio.CancelledError:
                # The transaction goes on in its thread: whatever it claimed goes back.
                with contextlib.suppress(Exception):
                    got = await job
                    await asyncio.to_thread(release, self.engine, [r.id for r in got])
                raise
        except BaseException:
            # Stopping mid-call or a bug: the vendor may or may not have the batch, so
            # send it again rather than lose it (rows already recorded are not in flight
            # any more and are left alone).
            await asyncio.to_thread(release, self.engine, unsent)
            raise

    @contextlib.asynccontextmanager
    async def _keep_lease(self, ids: list[int]) -> AsyncIterator[None]:
        async def renew_forever() -> None:
            interval = max(0.05, self.settings.lease_seconds / 3)
            while True:
                await asyncio.sleep(interval)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(renew, self.engine, ids, self.settings.lease_seconds)

        keeper = asyncio.create_task(renew_forever())
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _deliver(
        self, claimed: Sequence[Claimed]
    ) -> tuple[list[Result], list[int], list[CallLog], str | None, list[WriteBack], list[Delivery]]:
        """Send one batch; answer each row's new state, the rows to hand back unsent, the
        calls made, the lane's error, the vendor ids to write back to the hub, and the
        changes delivered (for the record of which contacts the destination holds)."""
        now = utcnow()
        results: list[Result] = []
        to_release: list[int] = []

        # One pass over the batch: parse, hold back a repeated item id, and note whose
        # consent decides something (only items that serve a purpose can be held back).
        parsed: list[tuple[Claimed, Change, RouteRule | None, tuple[str, ...]]] = []
        seen_items: set[str] = set()
        asking: set[str] = set()
        routes = self.routes
        validate = _CHANGE.validate_json
        for row in claimed:
            try:
                change = validate(row.item)
            except ValidationError as exc:
                first = exc.errors(include_url=False, include_input=False)[0]
                where = ".".join(str(p) for p in first["loc"]) or "(top level)"
                results.append(
                    dead(row, now, f"stored change is invalid at {where}: {first['msg']}")
                )
                continue
            if change.item_id in seen_items:
                # Outcomes are matched by item id: a second row with the same id waits for
                # the next batch.
                to_release.append(row.id)
                continue
            seen_items.add(change.item_id)
            rule = routes.get(row.route or "") if routes else None
            purpose = row.purpose or (rule.purpose if rule else None)
            purposes = (purpose,) if purpose else self.purposes
            if purposes and row.contact_id and row.kind not in UNGATED_KINDS:
                asking.add(row.contact_id)
            parsed.append((row, change, rule, purposes))

        decisions: Mapping[str, Mapping[str, bool]] = {}
        if asking:
            decisions = await asyncio.to_thread(self.consent_reader, self.engine, sorted(asking))
        writes: list[tuple[int, str | None, Change]] = []
        forgets: list[tuple[Claimed, Change]] = []
        for row, change, rule, purposes in parsed:
            denied = (
                denied_purpose(row.kind, purposes, decisions.get(row.contact_id or ""))
                if decisions
                else None
            )
            if denied:
                results.append(
                    Result(
                        row.id,
                        "suppressed",
                        row.attempts,
                        finished_at=now,
                        error=reason_for(denied),
                        purpose=denied,
                    )
                )
            elif not self.accepts or change.kind in self.accepts:
                mapped = apply_mapping(change, rule.mapping) if rule else change
                writes.append((row.id, row.route, mapped))
            elif isinstance(change, Forget) and self.can_delete:
                forgets.append((row, change))
            else:
                refused = f"destination {self.connection!r} does not accept {change.kind!r} changes"
                results.append(dead(row, now, refused))

        superseded: dict[int, int] = {}
        if self.coalesces:
            writes, superseded = coalesce(writes)

        sender = Sender(self.pacer, self.settings.write_timeout)
        rows = {row.id: row for row in claimed}
        # ``(row, answer)`` for every row sent, in batch order.
        answered: list[tuple[Claimed, Answer | None]] = []
        sent: dict[int, Change] = {}
        if writes:
            got = await sender.send([c for _, _, c in writes], self.spoke.write)
            answered += [(rows[row_id], got.get(c.item_id)) for row_id, _, c in writes]
            sent.update((row_id, c) for row_id, _, c in writes)
        for row, change in forgets:
            got = await sender.send([change], self._forget)
            answered.append((row, got.get(change.item_id)))
            sent[row.id] = change

        now = utcnow()
        by_row: dict[int, Result] = {}
        retry, rng = self.settings.retry, self.rng
        for row, answer in answered:
            verdict = judge(row, answer, retry, now, rng)
            if verdict is None:
                to_release.append(row.id)
            else:
                by_row[row.id] = verdict
        for old, survivor in superseded.items():
            mirrored = _mirror(rows[old], by_row.get(survivor), survivor)
            if mirrored is None:
                to_release.append(old)
            else:
                by_row[old] = mirrored
        results.extend(by_row.values())
        delivered = [
            Delivery(sent[r.id], r.external_id)
            for r in by_row.values()
            if r.status == "delivered" and r.id in sent
        ]
        lane_error = await self._lane_effects([answer for _, answer in answered])
        found = self._write_backs(answered, {row_id: c for row_id, _, c in writes})
        return results, to_release, sender.calls, lane_error, found, delivered

    def _write_backs(
        self, answered: Sequence[tuple[Claimed, Answer | None]], sent: Mapping[int, Change]
    ) -> list[WriteBack]:
        """The vendor ids a destination that declares their identifier type answered for
        the people it upserted."""
        id_type = self.external_id_type
        if id_type is None:
            return []
        found = []
        now = utcnow()
        for row, answer in answered:
            change = sent.get(row.id)
            if (
                isinstance(answer, Delivered)
                and answer.external_id
                and isinstance(change, UpsertPerson)
            ):
                w = write_back(change, answer.external_id, id_type, now)
                if w is not None:
                    found.append(w)
        return found

    async def _forget(self, items: Sequence[Change]) -> list[Any]:
        outcome = await self.spoke.forget(items[0].identifiers)
        return [outcome.model_copy(update={"item_id": items[0].item_id})]

    async def _lane_effects(self, answers: Any) -> str | None:
        """Pause on an auth failure, hold back on throttling or repeated failures."""
        failures = [a for a in answers if isinstance(a, BaseException)]
        auth = next((a for a in failures if isinstance(a, AuthError)), None)
        if auth is not None:
            reason = f"paused: the destination refused the credentials ({summary(auth)})"
            await asyncio.to_thread(lane_state.pause, self.engine, self.connection, reason)
            self.paused = True
            log.warning("delivery.lane_paused", connection=self.connection, reason=reason)
            return reason
        throttled = [a for a in failures if isinstance(a, Throttled)]
        if throttled:
            wait = max(t.retry_after for t in throttled)
            self.pacer.hold(wait)
            return summary(throttled[0])
        if failures:
            self._failures += 1
            if self._failures >= 2:
                hold = next_delay(self.settings.retry, self._failures - 1, rng=self.rng)
                self.pacer.hold(min(hold, self.settings.max_lane_backoff))
            return summary(failures[0])
        self._failures = 0
        return None


def _mirror(row: Claimed, survivor: Result | None, survivor_id: int) -> Result | None:
    """A superseded row shares its survivor's fate: delivered (noted as superseded), due
    again with it, or dead with its reason."""
    if survivor is None:
        return None
    if survivor.status == "delivered":
        return Result(
            row.id,
            "delivered",
            row.attempts + 1,
            finished_at=survivor.finished_at,
            error=f"{SUPERSEDED} {survivor_id}",
        )
    return Result(
        row.id,
        survivor.status,
        max(row.attempts, survivor.attempts),
        due_at=survivor.due_at,
        finished_at=survivor.finished_at,
        error=survivor.error,
    )


# -- the daemon's entry point -------------------------------------------------------------


def build_lanes(
    engine: Engine,
    project: Project,
    registry: Registry,
    *,
    settings: DeliverySettings | None = None,
    consent_reader: ConsentReader = read_consents,
    only: str | None = None,
) -> list[Lane]:
    """One lane per destination connection whose spoke is installed (others are logged
    and skipped: their rows wait in the outbox)."""
    prepare_vendor_http()
    lanes: list[Lane] = []
    for name, conn in sorted(project.destinations().items()):
        if only is not None and name != only:
            continue
        registered = registry.destinations.get(conn.spoke or "")
        if registered is None:
            log.error("delivery.spoke_missing", connection=name, spoke=conn.spoke)
            continue
        cls = registered.cls
        config = project.spoke_configs.get(name)
        if config is None:
            config = cls.Config.model_validate(conn.config)
        spoke = cls(config, connection=name)
        lanes.append(
            Lane(
                engine,
                name,
                spoke,
                routes=route_rules(project, name),
                settings=settings,
                consent_reader=consent_reader,
                purposes=project.purposes_of(name, cls.capabilities.purposes),
            )
        )
    return lanes


async def run_lanes(
    engine: Engine,
    project: Project,
    registry: Registry,
    stop: asyncio.Event,
    *,
    settings: DeliverySettings | None = None,
    consent_reader: ConsentReader = read_consents,
    only: str | None = None,
) -> None:
    """Run one lane per destination connection (or only ``only``) until ``stop`` is set.

    Lanes are independent tasks: one that crashes is logged and restarted after a pause
    without touching the others. Returns once every lane has stopped and every spoke is
    closed.
    """
    lanes = build_lanes(
        engine, project, registry, settings=settings, consent_reader=consent_reader, only=only
    )
    try:
        await asyncio.gather(*(_supervise(lane, stop) for lane in lanes), stop.wait())
    finally:
        for lane in lanes:
            with contextlib.suppress(Exception):
                await lane.spoke.aclose()


async def _supervise(lane: Lane, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await lane.run(stop)
        except Exception as exc:
            log.error("delivery.lane_crashed", connection=lane.connection, error=summary(exc))
            await wait_or_stop(stop, 5.0)
