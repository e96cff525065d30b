"""Journey timers: scheduled in the pipeline's transaction, cancelled when their condition
stops holding, fired once.

**Once across every process.** A timer fires in one transaction that claims it, decides
it and writes its event to the outbox together with its new status: on PostgreSQL the
claim is ``FOR UPDATE SKIP LOCKED``, so hub processes sharing the store take different
timers and a timer being fired is skipped by the others; on SQLite the writer's turn
(``BEGIN IMMEDIATE``) makes one firer at a time. A process killed mid-way commits
nothing: the timer is still ``scheduled`` and the next look fires it. Every status change
is guarded by ``status = 'scheduled'``, so a pipeline cancelling a timer that was fired
meanwhile changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from spokehub.audiences.conditions import (
    Dependencies,
    Facts,
    dependencies,
    evaluate,
    widen,
    windows,
)
from spokehub.audiences.definitions import Journey
from spokehub.audiences.facts import Needs, identifiers_of, load_facts
from spokehub.audiences.index import Touched
from spokehub.audiences.membership import write_outbox
from spokehub.identity import IdentityRules
from spokehub.store.driver_sql import cursor, marks, transaction
from spokehub_contracts import Event, EventType, TrackEvent

_NONE = Dependencies()


@dataclass(frozen=True)
class Trigger:
    """A journey's trigger event seen on a profile: its properties."""

    journey: str
    contact_id: str
    properties: Mapping[str, Any]


@dataclass
class FireStats:
    fired: int = 0
    cancelled: int = 0
    outbox: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class JourneyIndex:
    """The project's journeys by trigger event and by what their conditions read."""

    def __init__(self, journeys: Mapping[str, Journey]) -> None:
        self.journeys = dict(journeys)
        self.by_trigger: dict[str, list[str]] = {}
        for name, j in sorted(self.journeys.items()):
            self.by_trigger.setdefault(j.trigger.event, []).append(name)
        self.deps = {
            n: dependencies(j.if_) if j.if_ is not None else _NONE for n, j in self.journeys.items()
        }

    def __bool__(self) -> bool:
        return bool(self.journeys)

    def conditional(self, touched: Touched) -> set[str]:
        """Journeys whose condition ``touched`` can turn false."""
        out = set()
        for name, d in self.deps.items():
            if d is _NONE:
                continue
            if (
                touched.everything
                or d.traits & touched.traits
                or d.scores & touched.scores
                or d.consents & touched.consents
                or d.events & touched.events
                or (d.accounts and touched.accounts)
            ):
                out.add(name)
        return out

    def needs(self, names: Iterable[str]) -> Needs:
        deps = Dependencies()
        wins: dict[str, float | None] = {}
        for name in names:
            deps |= self.deps[name]
            cond = self.journeys[name].if_
            if cond is not None:
                widen(wins, windows(cond))
        return Needs(deps, wins)

    def holds(self, name: str, facts: Facts | None, now: datetime) -> bool:
        cond = self.journeys[name].if_
        return cond is None or evaluate(cond, facts or Facts(), now)


def schedule(
    conn: Connection,
    index: JourneyIndex,
    rules: IdentityRules,
    triggers: Iterable[Trigger],
    now: datetime,
) -> int:
    """Start the journeys ``triggers`` name, where the profile may (once per profile, or
    one waiting timer at a time with ``reenter``) and the condition holds; returns how
    many timers were scheduled."""
    first: dict[tuple[str, str], Trigger] = {}
    for t in triggers:
        first.setdefault((t.journey, t.contact_id), t)
    if not first:
        return 0
    cur = cursor(conn)
    contacts = sorted({c for _, c in first})
    started = {
        (j, c, s)
        for j, c, s in cur.rows(
            f"SELECT journey, contact_id, status FROM journey_timers"
            f" WHERE contact_id IN ({marks(len(contacts))})",
            contacts,
        )
    }
    fresh = []
    for (journey, contact), trig in sorted(first.items()):
        j = index.journeys[journey]
        if any(
            x == journey and c == contact and (not j.reenter or s == "scheduled")
            for x, c, s in started
        ):
            continue
        fresh.append(trig)
    if not fresh:
        return 0
    conditional = sorted({t.journey for t in fresh if index.journeys[t.journey].if_ is not None})
    facts = (
        load_facts(
            conn, sorted({t.contact_id for t in fresh}), index.needs(conditional), rules, now
        )
        if conditional
        else {}
    )
    stamp = cur.driver.stamp
    rows = [
        (
            t.journey,
            t.contact_id,
            stamp(now + index.journeys[t.journey].after),
            orjson.dumps(dict(t.properties)).decode(),
            stamp(now),
        )
        for t in fresh
        if index.holds(t.journey, facts.get(t.contact_id), now)
    ]
    cur.insert(
        "journey_timers",
        ("journey", "contact_id", "due_at", "trigger", "created_at", "status"),
        rows,
        row="(?, ?, ?, ?, ?, 'scheduled')",
        ignore=True,
    )
    return len(rows)


def cancel_broken(
    conn: Connection,
    index: JourneyIndex,
    rules: IdentityRules,
    touched: Mapping[str, Touched],
    now: datetime,
) -> int:
    """Cancel the waiting timers of ``touched`` profiles whose condition no longer
    holds; returns how many."""
    wanted = {c: index.conditional(t) for c, t in touched.items()}
    wanted = {c: js for c, js in wanted.items() if js}
    if not wanted:
        return 0
    cur = cursor(conn)
    contacts = sorted(wanted)
    waiting = [
        (i, j, c)
        for i, j, c in cur.rows(
            f"SELECT id, journey, contact_id FROM journey_timers WHERE status = 'scheduled'"
            f" AND contact_id IN ({marks(len(contacts))})",
            contacts,
        )
        if j in wanted[c]
    ]
    if not waiting:
        return 0
    names = sorted({j for _, j, _ in waiting})
    facts = load_facts(conn, sorted({c for _, _, c in waiting}), index.needs(names), rules, now)
    broken = [i for i, j, c in waiting if not index.holds(j, facts.get(c), now)]
    _finish(cur, [(i, "cancelled", "condition no longer holds") for i in broken], now)
    return len(broken)


def _finish(cur: Any, rows: list[tuple[int, str, str | None]], now: datetime) -> None:
    at = cur.driver.stamp(now)
    cur.many(
        "UPDATE journey_timers SET status = ?, reason = ?, finished_at = ?"
        " WHERE id = ? AND status = 'scheduled'",
        [(status, reason, at, i) for i, status, reason in rows],
    )


def fire_due(
    engine: Engine, index: JourneyIndex, rules: IdentityRules, now: datetime, limit: int = 100
) -> FireStats:
    """Fire (or cancel) up to ``limit`` timers due at ``now``, in one transaction."""
    stats = FireStats()
    with transaction(engine) as conn:
        cur = cursor(conn)
        lock = " FOR UPDATE SKIP LOCKED" if cur.driver.postgres else ""
        due = cur.rows(
            "SELECT id, journey, contact_id, trigger FROM journey_timers"
            f" WHERE status = 'scheduled' AND due_at <= ? ORDER BY due_at, id LIMIT ?{lock}",
            (cur.driver.stamp(now), limit),
        )
        if not due:
            return stats
        known = [(i, j, c, t) for i, j, c, t in due if j in index.journeys]
        done: list[tuple[int, str, str | None]] = [
            (i, "cancelled", "journey no longer defined")
            for i, j, _, _ in due
            if j not in index.journeys
        ]
        names = sorted({j for _, j, _, _ in known})
        # A profile merged into another since: the survivor is the person now.
        owner = _survivors(cur, sorted({c for _, _, c, _ in known}))
        contacts = sorted(set(owner.values()))
        facts = load_facts(conn, contacts, _send_needs(index, names), rules, now)
        ids = identifiers_of(conn, contacts)
        before = _sent(cur, contacts)
        sent: set[tuple[str, str]] = set()
        outbox: list[tuple[Any, ...]] = []
        for timer_id, name, was, trigger in known:
            contact = owner.get(was)
            if contact is None:
                done.append((timer_id, "cancelled", "profile no longer exists"))
                continue
            # Two timers of one person (merged since) send once.
            merged_sent = contact != was and (name, contact) in before
            if (name, contact) in sent or (merged_sent and not index.journeys[name].reenter):
                done.append((timer_id, "cancelled", "merged into a profile it was sent to"))
                continue
            if not index.holds(name, facts.get(contact), now):
                done.append((timer_id, "cancelled", "condition no longer holds"))
                continue
            sent.add((name, contact))
            journey = index.journeys[name]
            props = trigger if isinstance(trigger, dict) else orjson.loads(trigger or "{}")
            change = _send(
                journey,
                name,
                timer_id,
                contact,
                ids.get(contact, ()),
                facts.get(contact),
                props,
                now,
            )
            purpose = journey.purpose.value if journey.purpose else None
            outbox.append(
                (
                    journey.send.to,
                    f"journey:{name}",
                    contact,
                    "event",
                    purpose,
                    change.model_dump_json(),
                )
            )
            done.append((timer_id, "fired", None))
        write_outbox(conn, outbox)
        _finish(cur, done, now)
    stats.outbox = len(outbox)
    for _, status, reason in done:
        if status == "fired":
            stats.fired += 1
        else:
            stats.cancelled += 1
            stats.reasons[reason or ""] = stats.reasons.get(reason or "", 0) + 1
    return stats


def _send_needs(index: JourneyIndex, names: list[str]) -> Needs:
    """What deciding and sending these journeys reads: their conditions' facts plus the
    traits and scores their ``fields`` name."""
    needs = index.needs(names)
    extra_traits, extra_scores = set(), set()
    for name in names:
        for ref in index.journeys[name].send.fields.values():
            source, _, key = ref.partition(".")
            if source == "traits":
                extra_traits.add(key)
            elif source == "scores":
                extra_scores.add(key)
    deps = needs.deps | Dependencies(frozenset(extra_traits), frozenset(extra_scores))
    return Needs(deps, needs.windows)


def _survivors(cur: Any, contacts: list[str]) -> dict[str, str]:
    """Each contact's live profile: itself, or the one it was merged into (redirects are
    kept one hop deep); absent when neither is live (erased)."""
    if not contacts:
        return {}
    found = dict(
        cur.rows(
            f"SELECT contact_id, merged_into FROM profiles"
            f" WHERE contact_id IN ({marks(len(contacts))})",
            contacts,
        )
    )
    owner = {c: (m or c) for c, m in found.items()}
    survivors = sorted({s for c, s in owner.items() if s != c})
    if survivors:
        live = {
            c
            for (c,) in cur.rows(
                f"SELECT contact_id FROM profiles WHERE merged_into IS NULL"
                f" AND contact_id IN ({marks(len(survivors))})",
                survivors,
            )
        }
        owner = {c: s for c, s in owner.items() if s == c or s in live}
    return owner


def _sent(cur: Any, contacts: list[str]) -> set[tuple[str, str]]:
    """``(journey, contact)`` pairs that were sent already."""
    if not contacts:
        return set()
    return set(
        cur.rows(
            f"SELECT journey, contact_id FROM journey_timers WHERE status = 'fired'"
            f" AND contact_id IN ({marks(len(contacts))})",
            contacts,
        )
    )


def _send(
    journey: Journey,
    name: str,
    timer_id: int,
    contact_id: str,
    identifiers: tuple[Any, ...],
    facts: Facts | None,
    trigger: Mapping[str, Any],
    now: datetime,
) -> TrackEvent:
    facts = facts or Facts()
    properties = dict(journey.send.properties)
    for prop, ref in journey.send.fields.items():
        source, _, key = ref.partition(".")
        table = {"traits": facts.traits, "scores": facts.scores, "trigger": trigger}[source]
        if key in table:
            properties[prop] = table[key]
    user_id = next((i.value for i in identifiers if i.type == "user_id"), None)
    event = Event(
        type=EventType.TRACK,
        event=journey.send.event,
        message_id=f"journey:{name}:{timer_id}",
        user_id=user_id,
        anonymous_id=None if user_id else contact_id,
        properties=properties,
        timestamp=now,
    )
    return TrackEvent(
        item_id=f"journey:{name}:{timer_id}",
        contact_id=contact_id,
        identifiers=identifiers,
        event=event,
    )
