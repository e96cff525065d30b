"""For random event streams and audience definitions, the membership the pipeline keeps
incrementally (with the clock moving between batches) equals, after a reconcile, what
the definitions say of the stream at the end: computed here from the stream alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

import spokehub.profiles.tables  # noqa: F401  (their tables join the shared metadata)
from spokehub.activation import Activation
from spokehub.audiences.conditions import EventFact, Facts, evaluate
from spokehub.config import validate
from spokehub.identity.tables import identifiers
from spokehub.store.driver_sql import utcnow
from spokehub.store.tables import inbox, metadata
from spokehub_contracts import Consent, Identifier, ScoredTrait, SourceRecord

from .helpers import FakeClock, feed, members, pipeline, project

USERS = ["u0", "u1", "u2"]

leaf = st.one_of(
    st.builds(lambda v: {"trait": "plan", "eq": v}, st.sampled_from(["free", "pro"])),
    st.just({"trait": "plan", "exists": True}),
    st.builds(
        lambda days, n: {
            "event": "Order Completed",
            **({"within_days": days} if days else {}),
            "count": {"gte": n},
        },
        st.sampled_from([None, 3, 10, 30]),
        st.integers(1, 3),
    ),
    st.builds(
        lambda days, s: {
            "event": "Order Completed",
            **({"within_days": days} if days else {}),
            "sum": {"property": "total", "gte": s},
        },
        st.sampled_from([None, 5, 20]),
        st.sampled_from([50, 150]),
    ),
    st.builds(lambda g: {"consent": "email_marketing", "granted": g}, st.booleans()),
    st.builds(lambda a: {"account": a}, st.sampled_from(["acme", "*"])),
    st.builds(lambda v: {"score": "ltv", "gte": v}, st.sampled_from([10, 100])),
)
condition = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    ),
    max_leaves=5,
)

step = st.one_of(
    st.tuples(st.just("identify"), st.sampled_from(USERS), st.sampled_from(["free", "pro"])),
    st.tuples(
        st.just("order"),
        st.sampled_from(USERS),
        st.integers(0, 120),  # total
        st.integers(0, 40),  # days before now
    ),
    st.tuples(st.just("consent"), st.sampled_from(USERS), st.booleans()),
    st.tuples(st.just("group"), st.sampled_from(USERS), st.sampled_from(["acme", "globex"])),
    st.tuples(st.just("score"), st.sampled_from(USERS), st.sampled_from([5, 50, 500])),
    st.tuples(st.just("wait"), st.integers(0, 20)),  # days
    st.tuples(st.just("reconcile")),
)


def _clear(engine) -> None:
    # Children first, as the foreign keys want.
    order = [t.name for t in reversed(metadata.sorted_tables)]
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    with engine.begin() as conn:
        for name in [n for n in order if n in names] + sorted(names - set(order)):
            conn.execute(text(f"DELETE FROM {name}"))


def _record_row(stream: str, user: str, data: Consent | ScoredTrait, at) -> dict[str, Any]:
    """An inbox row of the source ``web``: a record about ``user`` observed ``at``."""
    record = SourceRecord(
        stream=stream,
        identifiers=(Identifier(type="user_id", value=user),),
        data=data,
        observed_at=at,
    )
    return {
        "connection": "web",
        "kind": "record",
        "body": record.model_dump_json(),
        "received_at": utcnow(),
    }


def _consent_row(user: str, granted: bool, at) -> dict[str, Any]:
    consent = Consent(purpose="email_marketing", granted=granted, source="web", recorded_at=at)
    return _record_row("consents", user, consent, at)


def _score_row(user: str, value: float, at) -> dict[str, Any]:
    score = ScoredTrait(name="ltv", value=value, model="ltv-v1", computed_at=at)
    return _record_row("scores", user, score, at)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    definitions=st.lists(condition, min_size=1, max_size=3),
    steps=st.lists(step, min_size=1, max_size=12),
)
# Found by this test: the reconcile looked only at the longest window of an event name,
# so the all-time leaf hid the 30 days and the member never left.
@example(
    definitions=[
        {
            "any": [
                {"event": "Order Completed", "within_days": 30, "count": {"gte": 1}},
                {"not": {"event": "Order Completed", "count": {"gte": 1}}},
            ]
        }
    ],
    steps=[("reconcile",), ("order", "u0", 0, 10), ("wait", 20)],
)
def test_incremental_membership_equals_the_definitions_after_a_reconcile(
    sqlite_engine, definitions, steps
):
    engine = sqlite_engine
    _clear(engine)
    audiences = {f"a{i}": {"where": d, "to": ["crm"]} for i, d in enumerate(definitions)}
    proj = project(audiences)
    clock = FakeClock()
    p = pipeline(engine, proj, clock)
    activation = Activation(proj, clock)
    # The oracle: what the stream says, per user.
    facts = {u: Facts() for u in USERS}
    seen: set[str] = set()
    for s in steps:
        clock.advance(seconds=1)
        kind = s[0]
        if kind == "identify":
            _, user, plan = s
            feed(engine, [{"type": "identify", "userId": user, "traits": {"plan": plan}}])
            facts[user].traits["plan"] = plan
            seen.add(user)
        elif kind == "order":
            _, user, total, days = s
            at = clock.now() - timedelta(days=days)
            feed(
                engine,
                [
                    {
                        "type": "track",
                        "userId": user,
                        "event": "Order Completed",
                        "properties": {"total": total},
                        "timestamp": at.isoformat(),
                    }
                ],
            )
            facts[user].events.setdefault("Order Completed", []).append(
                EventFact(at, {"total": total})
            )
            seen.add(user)
        elif kind == "consent":
            _, user, granted = s
            with engine.begin() as conn:
                conn.execute(inbox.insert(), _consent_row(user, granted, clock.now()))
            facts[user].consents["email_marketing"] = granted
            seen.add(user)
        elif kind == "group":
            _, user, account = s
            feed(engine, [{"type": "group", "userId": user, "groupId": account}])
            facts[user].accounts.add((account, None))
            seen.add(user)
        elif kind == "score":
            _, user, value = s
            with engine.begin() as conn:
                conn.execute(inbox.insert(), _score_row(user, value, clock.now()))
            facts[user].scores["ltv"] = value
            seen.add(user)
        elif kind == "wait":
            clock.advance(days=s[1])
        else:
            activation.reconcile(engine)
        p.drain()
    activation.reconcile(engine)

    with engine.connect() as conn:
        contact_of = {
            v: c
            for v, c in conn.execute(
                identifiers.select()
                .with_only_columns(identifiers.c.value, identifiers.c.contact_id)
                .where(identifiers.c.type == "user_id")
            )
        }
    project_ = validate(
        {"audiences": audiences, "connections": {"crm": {"kind": "destination", "spoke": "x"}}}
    )
    expected = {
        (name, contact_of[user])
        for user in seen
        for name, audience in project_.audiences.items()
        if evaluate(audience.where, facts[user], clock.now())
    }
    note(f"definitions={definitions!r} steps={steps!r}")
    assert members(engine) == expected
    # And a full recompute finds nothing to move.
    again = activation.reconcile(engine, full=True)
    assert again.outbox == 0 and not again.entered and not again.exited
