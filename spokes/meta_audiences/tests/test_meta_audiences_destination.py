"""What Meta receives for the hub's audience changes, on the sandbox: audiences found or
created by name, users added and removed in sessions of at most 10,000 rows, the last
change about a person winning, and per-item outcomes from Meta's answer."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from meta_vendor import Meta, person

from spokehub_contracts import (
    AudienceEntered,
    AudienceExited,
    Delivered,
    Identifier,
    PermanentError,
    Person,
    Rejected,
    UpsertPerson,
)
from spokehub_contracts.testing import Fault
from spokehub_meta_audiences import MetaAudiencesDestination


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def entered(n: int, audience: str = "recent_buyers", **kwargs: Any) -> AudienceEntered:
    return AudienceEntered(item_id=f"in-{n}", identifiers=person(n, **kwargs), audience=audience)


def exited(n: int, audience: str = "recent_buyers", **kwargs: Any) -> AudienceExited:
    return AudienceExited(item_id=f"out-{n}", identifiers=person(n, **kwargs), audience=audience)


def test_people_entering_are_added_to_an_audience_created_by_name(meta: Meta) -> None:
    outcomes = meta.write([entered(1), entered(2)])
    assert outcomes == [Delivered(item_id="in-1"), Delivered(item_id="in-2")]
    audience = meta.sandbox.audience_named("recent_buyers")
    assert audience["customer_file_source"] == "USER_PROVIDED_ONLY"
    assert meta.sandbox.hashes(audience["id"]) == {
        sha("person1@example.com"),
        sha("person2@example.com"),
    }
    [request] = meta.users_requests()
    assert request.method == "POST"
    assert request.path == f"/v25.0/{audience['id']}/users"
    assert request.headers["authorization"] == "Bearer meta_sandbox_access_token"
    body = json.loads(request.body)
    assert body["payload"] == {
        "schema": "EMAIL_SHA256",
        "data": [sha("person1@example.com"), sha("person2@example.com")],
    }
    session = body["session"]
    assert isinstance(session["session_id"], int)
    assert session["batch_seq"] == 1 and session["last_batch_flag"] is True
    assert session["estimated_num_total"] == 2


def test_no_personal_data_is_sent_in_clear(meta: Meta) -> None:
    meta.write([entered(1, phone=True)])
    for request in meta.sandbox.requests:
        assert b"person1" not in request.body and b"@" not in request.body
        assert "person1" not in str(request.query)


def test_email_and_phone_go_as_the_multi_key_schema(meta: Meta) -> None:
    meta.write([entered(1, phone=True), entered(2)])
    [request] = meta.users_requests()
    assert json.loads(request.body)["payload"] == {
        "schema": ["EMAIL", "PHONE"],
        "data": [
            [sha("person1@example.com"), sha("447700900001")],
            [sha("person2@example.com"), ""],
        ],
    }
    audience = meta.sandbox.audience_named("recent_buyers")
    assert meta.sandbox.hashes(audience["id"], "PHONE") == {sha("447700900001")}


def test_people_exiting_are_removed(meta: Meta) -> None:
    meta.write([entered(1), entered(2)])
    outcomes = meta.write([exited(1)])
    assert outcomes == [Delivered(item_id="out-1")]
    audience = meta.sandbox.audience_named("recent_buyers")
    assert meta.sandbox.hashes(audience["id"]) == {sha("person2@example.com")}
    assert [r.method for r in meta.users_requests()] == ["POST", "DELETE"]


def test_an_existing_audience_is_found_by_name_across_pages(meta: Meta) -> None:
    for n in range(250):
        meta.sandbox.audiences[f"9{n:05d}"] = {
            "id": f"9{n:05d}",
            "name": f"a{n}",
            "subtype": "CUSTOM",
        }
        meta.sandbox.members[f"9{n:05d}"] = set()
    meta.write([entered(1, audience="a240")])
    listed = [r for r in meta.sandbox.requests if r.path.endswith("/customaudiences")]
    assert [r.method for r in listed] == ["GET", "GET", "GET"]
    assert meta.sandbox.hashes("900240") == {sha("person1@example.com")}
    assert len(meta.sandbox.audiences) == 250  # none created


def test_an_audience_mapped_in_the_config_is_used_without_a_lookup(meta: Meta) -> None:
    meta.sandbox.audiences["777"] = {"id": "777", "name": "Buyers (EU)", "subtype": "CUSTOM"}
    meta.sandbox.members["777"] = set()
    meta.write([entered(1)], audiences={"recent_buyers": "777"})
    assert [r.path for r in meta.sandbox.requests] == ["/v25.0/777/users"]
    assert meta.sandbox.hashes("777") == {sha("person1@example.com")}


def test_concurrent_writes_create_an_audience_once(meta: Meta) -> None:
    async def both(destination: MetaAudiencesDestination) -> None:
        await asyncio.gather(destination.write([entered(1)]), destination.write([entered(2)]))

    meta.run(both)
    meta.sandbox.audience_named("recent_buyers")  # exactly one
    created = [
        r for r in meta.sandbox.requests if r.method == "POST" and "customaudiences" in r.path
    ]
    assert len(created) == 1


def test_a_batch_over_several_audiences_creates_each_once_and_answers_every_item(
    meta: Meta,
) -> None:
    names = [f"audience_{k}" for k in range(6)]
    batch = [entered(n, audience=name) for n, name in enumerate(names)]
    batch.append(exited(9, audience="audience_0"))  # the same audience, the other way
    outcomes = meta.write(batch)
    assert outcomes == [
        *(Delivered(item_id=f"in-{n}") for n in range(6)),
        Delivered(item_id="out-9"),
    ]
    created = [
        r for r in meta.sandbox.requests if r.method == "POST" and "customaudiences" in r.path
    ]
    assert len(created) == len(names)
    for n, name in enumerate(names):
        assert meta.sandbox.hashes(meta.sandbox.audience_named(name)["id"]) == {
            sha(f"person{n}@example.com")
        }
    assert len(meta.users_requests()) == len(names) + 1


def test_more_than_10000_rows_go_as_one_session_in_batches(meta: Meta) -> None:
    # 6,000 people with two addresses each: 12,000 rows.
    batch = [
        AudienceEntered(
            item_id=f"in-{n}",
            identifiers=(
                Identifier(type="email", value=f"p{n}@example.com"),
                Identifier(type="email", value=f"p{n}@example.org"),
            ),
            audience="recent_buyers",
        )
        for n in range(6000)
    ]
    outcomes = meta.write(batch)
    assert all(isinstance(o, Delivered) for o in outcomes)
    requests = meta.users_requests()
    assert [r.items for r in requests] == [10_000, 2_000]
    sessions = [json.loads(r.body)["session"] for r in requests]
    assert len({s["session_id"] for s in sessions}) == 1
    assert [(s["batch_seq"], s["last_batch_flag"]) for s in sessions] == [(1, False), (2, True)]
    assert {s["estimated_num_total"] for s in sessions} == {12_000}
    audience = meta.sandbox.audience_named("recent_buyers")
    assert len(meta.sandbox.hashes(audience["id"])) == 12_000


def test_the_last_change_about_a_person_wins(meta: Meta) -> None:
    meta.write([entered(1)])
    outcomes = meta.write([entered(2), exited(2), exited(1), entered(1)])
    assert [o.status for o in outcomes] == ["delivered"] * 4
    audience = meta.sandbox.audience_named("recent_buyers")
    assert meta.sandbox.hashes(audience["id"]) == {sha("person1@example.com")}
    last_two = meta.users_requests()[1:]
    assert sorted(r.method for r in last_two) == ["DELETE", "POST"]
    assert all(r.items == 1 for r in last_two)


def test_a_change_meta_cannot_match_is_rejected_without_a_request(meta: Meta) -> None:
    nobody = AudienceEntered(
        item_id="x", identifiers=(Identifier(type="user_id", value="u-1"),), audience="a"
    )
    upsert = UpsertPerson(item_id="y", identifiers=person(1), person=Person(first_name="Ada"))
    outcomes = meta.write([nobody, upsert])
    assert [o.status for o in outcomes] == ["rejected", "rejected"]
    assert isinstance(outcomes[0], Rejected)
    assert outcomes[0].reason == "no e-mail address or phone number to match on"
    assert meta.sandbox.requests == []


def test_entries_meta_finds_invalid_are_rejected_alone(meta: Meta) -> None:
    meta.sandbox.add_faults(Fault.partial())
    outcomes = meta.write([entered(n) for n in range(1, 6)])
    assert [o.status for o in outcomes] == [
        "rejected",
        "delivered",
        "delivered",
        "rejected",
        "delivered",
    ]
    assert isinstance(outcomes[0], Rejected)
    assert outcomes[0].reason == "Meta found the entry invalid: the entry could not be processed"
    [answered] = meta.users_requests()
    assert answered.refused == 2


def test_a_request_meta_refuses_rejects_the_items_it_carried(meta: Meta) -> None:
    outcomes = meta.write(
        [entered(1), entered(2, audience="other")], audiences={"recent_buyers": "404"}
    )
    assert isinstance(outcomes[0], Rejected)
    assert "Object with ID '404' does not exist" in outcomes[0].reason
    assert outcomes[1] == Delivered(item_id="in-2")


def test_forget_removes_the_person_from_every_customer_file_audience(meta: Meta) -> None:
    meta.write([entered(1, "a"), entered(1, "b"), entered(2, "b")])

    async def forget(destination: MetaAudiencesDestination) -> Any:
        return await destination.create_lookalike(
            "b-like", "b", country="DE"
        ), await destination.forget(person(1))

    _, outcome = meta.run(forget)
    assert outcome == Delivered(item_id="forget")
    a, b = meta.sandbox.audience_named("a"), meta.sandbox.audience_named("b")
    assert meta.sandbox.hashes(a["id"]) == set()
    assert meta.sandbox.hashes(b["id"]) == {sha("person2@example.com")}
    lookalike = meta.sandbox.audience_named("b-like", "LOOKALIKE")
    removals = [r.path for r in meta.users_requests() if r.method == "DELETE"]
    assert f"/v25.0/{lookalike['id']}/users" not in removals
    assert len(removals) == 2


def test_a_lookalike_is_made_from_a_seed_audience_once(meta: Meta) -> None:
    meta.write([entered(1, "recent_buyers")])

    async def lookalike(destination: MetaAudiencesDestination) -> list[str]:
        return [
            await destination.create_lookalike("Buyers 1% US", "recent_buyers", country="us"),
            await destination.create_lookalike("Buyers 1% US", "recent_buyers", country="US"),
        ]

    first, again = meta.run(lookalike)
    assert first == again
    made = meta.sandbox.audience_named("Buyers 1% US", "LOOKALIKE")
    seed = meta.sandbox.audience_named("recent_buyers")
    assert made["id"] == first
    assert made["origin_audience_id"] == seed["id"]
    assert made["lookalike_spec"] == {"ratio": 0.01, "country": "US"}


def test_a_lookalike_needs_a_seed_and_a_ratio_meta_takes(meta: Meta) -> None:
    async def no_seed(destination: MetaAudiencesDestination) -> str:
        return await destination.create_lookalike("x", "never_sent", country="US")

    with pytest.raises(PermanentError, match="no Custom Audience for 'never_sent'"):
        meta.run(no_seed)

    async def too_big(destination: MetaAudiencesDestination) -> str:
        return await destination.create_lookalike("x", "never_sent", country="US", ratio=0.5)

    with pytest.raises(ValueError, match="ratio"):
        meta.run(too_big)
