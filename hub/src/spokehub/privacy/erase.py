"""Carrying out a privacy request: the hub's own tables, the destinations, the tombstones.

An erasure (``delete``, ``delete_and_suppress``) runs in two steps. First, outside any
write transaction, it reads the inbox and the quarantine in pages for the raw copies of
the person's records (so ingestion is not held up while it reads). Then one write
transaction deletes everything the hub holds about the profile, and the profiles merged
into it: every table with a ``contact_id`` column (found in the live schema, so a table
a later part of the hub adds is covered without being listed here), the identifiers
with their sightings and evidence, the identity decisions, the raw inbox and quarantine
copies found before (and any that arrived since), and every outbox row of the profile,
dead letters included. In the same transaction it puts one ``forget`` change in the
outbox for each destination whose spoke can delete (a receipt ``pending``; the others
get ``not_supported``), suppresses the identifiers (``delete_and_suppress``) and lets
go of the request's subject. The delivery lanes send the forgets like any change,
retried alike; :mod:`.settle` turns their outcomes into receipts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, insert, inspect, select, update
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table

from spokehub_contracts import Forget, Identifier, PrivacyAction

from ..activation import erase as erase_activation
from ..config import Project
from ..identity.tables import identifiers, profiles
from ..logs import get_logger
from ..registry import Registry
from ..store.driver_sql import chunks, transaction, utcnow
from ..store.tables import inbox, outbox, quarantine
from .requests import subject_of
from .tables import privacy_receipts, privacy_requests, suppressions
from .tombstones import salt_of, tombstone

log = get_logger("spokehub.privacy")

#: The outbox route name of erasures (they follow no configured route).
ROUTE = "(privacy)"
#: Inbox and quarantine rows read per page while looking for a person's raw copies.
SCAN_PAGE = 1000
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().\-/]{5,}\d")
_DIGITS = re.compile(r"\D")


@dataclass
class Subject:
    """A person as the stores know them: profiles, identifiers, and how to spot their
    raw records."""

    contact_ids: set[str] = field(default_factory=set)
    keys: set[tuple[str, str]] = field(default_factory=set)
    identifier_ids: set[int] = field(default_factory=set)

    def matcher(self) -> RawMatcher:
        return RawMatcher(self.keys)


class RawMatcher:
    """Whether a raw record (an inbox or quarantine body) is about the person.

    An e-mail address or phone number found anywhere in the text is enough, in any case
    and, for a phone, in any formatting (``(202) 555-0143`` for ``+12025550143``). Other
    identifiers (a user id like ``42``) would match too much as text: the body must hold
    one as a whole JSON value.
    """

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        self.strong: list[str] = []
        self.phone_tails: list[str] = []
        self.weak: set[str] = set()
        for type_, value in keys:
            if type_ == "email":
                self.strong.append(value.lower())
            elif type_ == "phone":
                self.strong.append(value)
                self.phone_tails.append(_national_digits(value))
            else:
                self.weak.add(value)
        self._weak_lower = [w.lower() for w in self.weak]

    def __call__(self, body: str) -> bool:
        text = body.lower()
        if any(s in text for s in self.strong):
            return True
        if self.phone_tails:
            for run in _PHONE_LIKE.findall(text):
                digits = _DIGITS.sub("", run)
                if any(digits.endswith(tail) for tail in self.phone_tails):
                    return True
        if self.weak and any(w in text for w in self._weak_lower):
            try:
                return any(v in self.weak for v in _scalars(orjson.loads(body)))
            except orjson.JSONDecodeError:
                return True  # cannot tell: the person's name was in it, keep nothing
        return False


def _national_digits(e164: str) -> str:
    import phonenumbers

    try:
        return str(phonenumbers.parse(e164).national_number)
    except phonenumbers.NumberParseException:
        return _DIGITS.sub("", e164)


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _scalars(v)
    elif isinstance(value, list):
        for v in value:
            yield from _scalars(v)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def find_subject(conn: Connection, given: Iterable[Identifier]) -> Subject:
    """The profiles holding any of ``given``, the profiles merged into them, and every
    identifier of theirs (``given`` included, known or not)."""
    subject = Subject(keys={(i.type, i.value) for i in given})
    for type_, value in list(subject.keys):
        for cid in conn.execute(
            select(identifiers.c.contact_id).where(
                identifiers.c.type == type_, identifiers.c.value == value
            )
        ).scalars():
            subject.contact_ids.add(cid)
    # Live profiles and every profile ever merged into them, whatever the chain.
    frontier = set(subject.contact_ids)
    while frontier:
        found = set()
        for part in chunks(sorted(frontier)):
            found |= set(
                conn.execute(
                    select(profiles.c.contact_id).where(profiles.c.merged_into.in_(part))
                ).scalars()
            )
            found |= {
                m
                for m in conn.execute(
                    select(profiles.c.merged_into).where(profiles.c.contact_id.in_(part))
                ).scalars()
                if m
            }
        frontier = found - subject.contact_ids
        subject.contact_ids |= frontier
    for part in chunks(sorted(subject.contact_ids)):
        for r in conn.execute(
            select(identifiers.c.id, identifiers.c.type, identifiers.c.value).where(
                identifiers.c.contact_id.in_(part)
            )
        ):
            subject.identifier_ids.add(r.id)
            subject.keys.add((r.type, r.value))
    return subject


def _scan(conn: Connection, table: Any, match: RawMatcher, after: int = 0) -> tuple[list[int], int]:
    """Ids of ``table``'s rows (inbox or quarantine) whose body is about the person, from
    id ``after`` on, read in pages; and the last id read."""
    found: list[int] = []
    last = after
    while True:
        page = conn.execute(
            select(table.c.id, table.c.body)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(SCAN_PAGE)
        ).all()
        if not page:
            return found, last
        found += [r.id for r in page if match(r.body)]
        last = page[-1].id


def _contact_tables(conn: Connection) -> list[str]:
    """Tables of the live schema with a ``contact_id`` column, children before parents."""
    inspector = inspect(conn)
    order = [name for name, _ in inspector.get_sorted_table_and_fkc_names() if name]
    # identifiers and profiles go last, after what refers to them; journey timers are
    # cancelled and emptied by the activation's own erasure (a cancelled timer must stay
    # to tell other hub processes it will not fire).
    skip = {"identifiers", "profiles", "journey_timers"}
    tables = [
        name
        for name in reversed(order)
        if name not in skip
        and not name.startswith("privacy_")
        and any(c["name"] == "contact_id" for c in inspector.get_columns(name))
    ]
    return tables


def _delete_where_in(conn: Connection, table: str, column: str, values: Iterable[Any]) -> int:
    t = sql_table(table, sql_column(column))
    total = 0
    for part in chunks(sorted(values)):
        total += conn.execute(delete(t).where(t.c[column].in_(part))).rowcount or 0
    return total


def erase_subject(
    conn: Connection, subject: Subject, inbox_ids: list[int], quarantine_ids: list[int]
) -> dict[str, int]:
    """Delete what the hub holds about ``subject``; returns rows deleted per table."""
    counts: dict[str, int] = {}

    def note(name: str, n: int) -> None:
        if n:
            counts[name] = counts.get(name, 0) + n

    ids = subject.identifier_ids
    note("identifier_seen", _delete_where_in(conn, "identifier_seen", "identifier_id", ids))
    note("edges", _delete_where_in(conn, "edges", "src_id", ids))
    note("edges", _delete_where_in(conn, "edges", "dst_id", ids))
    contacts = subject.contact_ids
    note("merge_log", _delete_where_in(conn, "merge_log", "survivor", contacts))
    note("merge_log", _delete_where_in(conn, "merge_log", "other", contacts))
    erase_activation(conn, sorted(contacts))
    for table in _contact_tables(conn):
        note(table, _delete_where_in(conn, table, "contact_id", contacts))
    note("identifiers", _delete_where_in(conn, "identifiers", "contact_id", contacts))
    # Profiles merged into one another point at their survivor: unlink before deleting.
    for part in chunks(sorted(contacts)):
        conn.execute(
            update(profiles).where(profiles.c.contact_id.in_(part)).values(merged_into=None)
        )
    note("profiles", _delete_where_in(conn, "profiles", "contact_id", contacts))
    note("inbox", _delete_where_in(conn, "inbox", "id", inbox_ids))
    note("quarantine", _delete_where_in(conn, "quarantine", "id", quarantine_ids))
    return counts


def _forget_support(project: Project, registry: Registry) -> dict[str, str | None]:
    """Per destination connection: ``None`` when its spoke can erase, else why not."""
    support: dict[str, str | None] = {}
    for name, conn in sorted(project.destinations().items()):
        entry = registry.destinations.get(conn.spoke or "")
        if entry is None:
            support[name] = f"spoke {conn.spoke!r} is not installed"
            continue
        caps = entry.cls.capabilities
        if caps.can_delete or "forget" in caps.record_kinds:
            support[name] = None
        else:
            support[name] = f"spoke {conn.spoke!r} cannot delete (Capabilities.can_delete)"
    return support


def carry_out(engine: Engine, project: Project, registry: Registry, request_id: str) -> bool:
    """Carry out one pending request; ``False`` when it was not pending (another process
    took it, or it is done)."""
    with transaction(engine) as conn:
        taken = conn.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == request_id, privacy_requests.c.status == "pending")
            .values(status="erasing", claimed_at=utcnow())
        ).rowcount
        if not taken:
            return False
        action = PrivacyAction(
            conn.execute(
                select(privacy_requests.c.action).where(privacy_requests.c.id == request_id)
            ).scalar_one()
        )
        given = subject_of(conn, request_id)
    try:
        if action is PrivacyAction.ACCESS:
            _finish_access(engine, request_id, given)
        elif action is PrivacyAction.UNSUPPRESS:
            _unsuppress(engine, request_id, given)
        else:
            _erase(engine, project, registry, request_id, given, action)
    except Exception as exc:
        # Back to pending: the next round tries again. The type alone: a message may
        # quote a value.
        log.error("privacy request failed", request=request_id, error=type(exc).__name__)
        with transaction(engine) as conn:
            conn.execute(
                update(privacy_requests)
                .where(privacy_requests.c.id == request_id)
                .values(status="pending", error=f"{type(exc).__name__}; will be tried again")
            )
        raise
    log.info("privacy request carried out", request=request_id, action=action.value)
    return True


def _finish_access(engine: Engine, request_id: str, given: list[Identifier]) -> None:
    with transaction(engine) as conn:
        subject = find_subject(conn, given)
        now = utcnow()
        conn.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == request_id)
            .values(
                status="done",
                contact_ids=sorted(subject.contact_ids),
                finished_at=now,
                error=None,
            )
        )


def _unsuppress(engine: Engine, request_id: str, given: list[Identifier]) -> None:
    with transaction(engine) as conn:
        salt = salt_of(conn)
        lifted = 0
        if salt is not None:
            hashes = [tombstone(salt, i.type, i.value) for i in given]
            origins = set(
                conn.execute(
                    select(suppressions.c.request_id).where(suppressions.c.hash.in_(hashes))
                ).scalars()
            )
            # The whole suppression the identifier came with: all of that person's keys.
            lifted = _delete_where_in(conn, "suppressions", "request_id", origins)
        conn.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == request_id)
            .values(
                status="done",
                subject=None,
                summary={"unsuppressed": lifted},
                finished_at=utcnow(),
                error=None,
            )
        )


def _erase(
    engine: Engine,
    project: Project,
    registry: Registry,
    request_id: str,
    given: list[Identifier],
    action: PrivacyAction,
) -> None:
    # Read first, outside the writer's turn: the raw copies in the inbox and quarantine.
    with transaction(engine, readonly=True) as conn:
        subject = find_subject(conn, given)
        match = subject.matcher()
        inbox_ids, inbox_last = _scan(conn, inbox, match)
        quarantine_ids, quarantine_last = _scan(conn, quarantine, match)
    support = _forget_support(project, registry)
    with transaction(engine) as conn:
        # What changed since the read: a record that arrived, a merge.
        again = find_subject(conn, given)
        if again.keys != subject.keys or again.contact_ids != subject.contact_ids:
            subject = again
            match = subject.matcher()
            inbox_ids, inbox_last = _scan(conn, inbox, match)
            quarantine_ids, quarantine_last = _scan(conn, quarantine, match)
        else:
            inbox_ids += _scan(conn, inbox, match, inbox_last)[0]
            quarantine_ids += _scan(conn, quarantine, match, quarantine_last)[0]
        counts = erase_subject(conn, subject, inbox_ids, quarantine_ids)
        counts["access_requests"] = _forget_access_requests(conn, subject)
        now = utcnow()
        forget_ids = sorted(subject.keys)
        live = _live_of(subject)
        pending = 0
        for destination, why_not in support.items():
            outbox_id = None
            if why_not is None:
                change = Forget(
                    item_id=f"{request_id}:{destination}",
                    contact_id=live,
                    identifiers=tuple(Identifier(type=t, value=v) for t, v in forget_ids),
                )
                outbox_id = conn.execute(
                    insert(outbox).values(
                        destination=destination,
                        route=ROUTE,
                        contact_id=live,
                        kind="forget",
                        item=change.model_dump_json(),
                        created_at=now,
                        due_at=now,
                        status="pending",
                    )
                ).inserted_primary_key[0]
                pending += 1
            conn.execute(
                insert(privacy_receipts).values(
                    request_id=request_id,
                    destination=destination,
                    status="pending" if why_not is None else "not_supported",
                    outbox_id=outbox_id,
                    detail=why_not,
                    updated_at=now,
                )
            )
        suppressed = 0
        if action is PrivacyAction.DELETE_AND_SUPPRESS:
            salt = salt_of(conn, create=True)
            assert salt is not None
            hashes = sorted({tombstone(salt, t, v) for t, v in subject.keys})
            existing = set(
                conn.execute(
                    select(suppressions.c.hash).where(suppressions.c.hash.in_(hashes))
                ).scalars()
            )
            new = [h for h in hashes if h not in existing]
            if new:
                conn.execute(
                    insert(suppressions),
                    [{"hash": h, "request_id": request_id, "created_at": now} for h in new],
                )
            suppressed = len(hashes)
        conn.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == request_id)
            .values(
                status="waiting" if pending else "done",
                subject=None,
                contact_ids=sorted(subject.contact_ids),
                summary={
                    "erased": counts,
                    "identifiers": len(subject.keys),
                    "suppressed": suppressed,
                },
                erased_at=now,
                finished_at=None if pending else now,
                error=None,
            )
        )


def _live_of(subject: Subject) -> str | None:
    # A forget names one contact: any of the erased profiles is as good (the destination
    # matches on the identifiers); the smallest keeps it stable.
    return min(subject.contact_ids) if subject.contact_ids else None


def _forget_access_requests(conn: Connection, subject: Subject) -> int:
    """Access requests about the person let go of their subject (it named them)."""
    keys = {f"{t}:{v}" for t, v in subject.keys}
    n = 0
    for r in conn.execute(
        select(privacy_requests.c.id, privacy_requests.c.subject).where(
            privacy_requests.c.action == PrivacyAction.ACCESS.value,
            privacy_requests.c.subject.is_not(None),
        )
    ).all():
        if keys & set(r.subject or ()):
            conn.execute(
                update(privacy_requests).where(privacy_requests.c.id == r.id).values(subject=None)
            )
            n += 1
    return n


#: How long a request may stay ``erasing`` before it is taken to have been abandoned (its
#: process died between taking it and committing the erasure, which is one transaction).
STALE_CLAIM = timedelta(minutes=10)


def pending_requests(engine: Engine, limit: int = 10) -> list[str]:
    """Requests to carry out, oldest first; abandoned ones are pending again first."""
    abandoned = (
        privacy_requests.c.status == "erasing",
        privacy_requests.c.claimed_at < utcnow() - STALE_CLAIM,
    )
    with transaction(engine, readonly=True) as conn:
        found = conn.execute(select(privacy_requests.c.id).where(*abandoned).limit(1)).first()
    if found is not None:
        with transaction(engine) as conn:
            stale = conn.execute(
                update(privacy_requests).where(*abandoned).values(status="pending")
            ).rowcount
        log.warning("privacy requests taken again", count=stale)
    with transaction(engine, readonly=True) as conn:
        return list(
            conn.execute(
                select(privacy_requests.c.id)
                .where(privacy_requests.c.status == "pending")
                .order_by(privacy_requests.c.created_at)
                .limit(limit)
            ).scalars()
        )


def carry_out_pending(engine: Engine, project: Project, registry: Registry) -> int:
    """Carry out every pending request; returns how many were."""
    done = 0
    for request_id in pending_requests(engine):
        try:
            done += carry_out(engine, project, registry, request_id)
        except Exception:
            continue  # logged and back to pending; the others still go
    return done
