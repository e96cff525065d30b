"""Odd bodies against the live API, on both backends: deep nesting, wrong types in every
field, huge and empty strings, NUL, timestamps out of range. Whatever a client sends, the
answer is never a 500 (and a refusal is the JSON error Segment clients read), the
connection keeps serving, and every message acknowledged is then processed by the
pipeline or quarantined with a rule, never failing a batch."""

from __future__ import annotations

import httpx
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from spokehub.ingest import CALL_TYPES
from spokehub.pipeline import Pipeline
from spokehub.registry import Registry
from spokehub.store.tables import inbox, quarantine

from .live import KEY, live_server

#: Every field of a Segment message, and a few more a client might send.
FIELDS = (
    "type",
    "messageId",
    "userId",
    "anonymousId",
    "groupId",
    "previousId",
    "event",
    "name",
    "properties",
    "traits",
    "context",
    "integrations",
    "timestamp",
    "sentAt",
    "originalTimestamp",
    "receivedAt",
    "writeKey",
    "batch",
)
ENDPOINTS = (*sorted(CALL_TYPES), "batch", "import")
#: NUL in the name of a property.
NUL_KEY = {"type": "track", "userId": "u", "event": "E", "properties": {"a\x00": 1}}

# Text as JSON can carry it: any character but lone surrogates, NUL included.
text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.just(""),
    st.just("\x00"),
    st.just("a\x00b"),
    st.just("x" * 600),
    st.just("y" * 40_000),
)
moments = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "0001-01-01T00:00:00",
            "2024-02-30T25:61:00Z",
            "10000-01-01T00:00:00Z",
            "1700000000",
            "-62135596800",
            "yesterday",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    moments,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def messages(draw) -> dict:
    """A message that is well-formed but for a few fields, which hold anything."""
    msg = {
        "type": draw(st.sampled_from(sorted(CALL_TYPES))),
        "userId": draw(st.sampled_from(["u1", "u2"])),
        "event": "Odd",
        "groupId": "g1",
        "previousId": "p1",
        "messageId": f"m-{draw(st.integers(0, 10**9))}",
    }
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        msg[field] = draw(values | moments)
    if draw(st.booleans()):
        msg["userId"] = None
        msg["anonymousId"] = draw(text)
    return msg


def nested(levels: int, bracket: str) -> bytes:
    """JSON nested ``levels`` deep, written out (the encoders stop at 254 levels)."""
    opening, closing = (b'{"a":', b"}") if bracket == "{" else (b"[", b"]")
    return opening * levels + b'"deep"' + closing * levels


@st.composite
def requests(draw) -> tuple[str, bytes]:
    """A path and a body: JSON built from odd messages and values, or deep nesting."""
    endpoint = draw(st.sampled_from(ENDPOINTS))
    if draw(st.integers(0, 4)) == 0:
        # What the encoders will not write, inside an otherwise good message, alone or in
        # a batch: deep nesting, numbers beyond 64 bits or beyond a double.
        levels = draw(st.integers(1, 1100))
        value = draw(
            st.sampled_from(
                [
                    nested(levels, "{"),
                    nested(levels, "["),
                    b"9" * draw(st.integers(20, 400)),
                    b"-1e400",
                    b"1e-400",
                ]
            )
        )
        message = b'{"type":"track","userId":"u1","event":"E","properties":{"p":' + value + b"}}"
        if draw(st.booleans()):
            return "/v1/batch", b'{"batch":[' + message + b"]}"
        return "/v1/track", message
    if endpoint in ("batch", "import"):
        batch = draw(st.lists(messages() | values, max_size=4))
        payload: object = {"batch": batch}
        if draw(st.booleans()):
            payload = draw(st.one_of(st.just(payload), values, st.just({"batch": draw(values)})))
    else:
        payload = draw(messages() | values)
    return f"/v1/{endpoint}", orjson.dumps(payload)


def test_odd_bodies_are_refused_cleanly_and_what_is_acknowledged_is_processed(engine):
    off = {"max_pending": None, "min_free_disk_mb": None}
    with (
        live_server(engine, {"backpressure": off}) as (port, project),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(KEY, ""), timeout=30) as client,
    ):
        pipeline = Pipeline(engine, project, Registry.load(allow=()))
        seen = {"accepted": 0, "refused": 0}

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(request=requests())
        # What broke a batch on PostgreSQL once, whatever the search finds.
        @example(request=("/v1/track", orjson.dumps({"userId": "a\x00b", "event": "E"})))
        @example(request=("/v1/batch", orjson.dumps({"batch": [NUL_KEY]})))
        @example(request=("/v1/page", orjson.dumps({"anonymousId": "a", "name": "\x00"})))
        def check(request: tuple[str, bytes]) -> None:
            path, body = request
            # One keep-alive connection for every example: a refusal must not break it.
            answer = client.post(path, content=body)
            assert answer.status_code < 500, answer.text
            if answer.status_code != 200:
                seen["refused"] += 1
                error = answer.json()
                assert error["success"] is False
                assert error["code"] and error["message"]
                return
            seen["accepted"] += 1
            pipeline.drain()
            with engine.connect() as conn:
                left = conn.execute(select(inbox.c.id).where(inbox.c.status == "pending")).all()
                failed = conn.execute(
                    select(quarantine.c.rule).where(quarantine.c.rule.like("processing failed%"))
                ).all()
            assert not left, "acknowledged messages the pipeline did not get through"
            assert not failed, "acknowledged messages that failed their batch"

        check()
        # Both sides were explored, not one.
        assert seen["accepted"] > 10 and seen["refused"] > 10, seen
