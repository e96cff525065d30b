"""Identity cases → outcomes, end to end: Segment messages into ``/v1/batch`` of a real
``spokehub serve``, the outcome read back from the profile API (``/v1/profiles``).

One table, :data:`CASES`; each row is a case of docs/identity.md's table. A case's messages
are sent one at a time (every case's n-th message in the same round, the pipeline caught
up before the next), so every merge happens in a round of its own and the contact IDs in
between are visible. Then, for every case:

- the partition of its identifiers is the expected one, and each profile holds exactly
  the identifiers expected (no more);
- identifiers expected to be ignored (blocked values) are in no profile;
- every refusal expected is named with its rule by ``explain`` (a rule's ``reject``, or
  the ``split`` of an operator's unmerge, which keeps the link removed), and the rules
  ``explain`` names for the case's profiles are exactly those expected;
- the oldest contact ID survives every merge: each profile's live ID is the smallest
  (UUIDv7: oldest) of every ID its identifiers had on the way, and each of those IDs
  still answers with the profile now holding the identifier.

A case may add its own check (``check``) for what is not identity, such as what a
destination received: every daemon delivers person upserts and events to two files
destinations (``crm``, ``ads``), where the cases of the ``integrations`` object look.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .daemon import ADMIN, WRITE_KEY, Daemon, free_port, wait_until

#: A step of a case: a Segment message to send, or an action against the daemon.
Step = dict[str, Any] | Callable[[Daemon], None]

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_seconds = itertools.count()


@dataclass(frozen=True)
class Case:
    """One row of the table (see the module docstring).

    ``profiles``: the expected partition, as ``TYPE:VALUE`` in normalized form;
    ``refusals``: ``(identifier, other, rule)``: ``explain`` of the first's profile against
    the other names ``rule``; ``ignored``: identifiers no profile may hold; ``rules``: the
    daemon's identity rules, ``default`` or ``opt_in`` (see :data:`RULES`); ``splits``: the
    case unmerges, so parts may take new IDs.
    """

    name: str
    steps: list[Step]
    profiles: list[set[str]]
    refusals: list[tuple[str, str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    rules: str = "default"
    splits: bool = False
    check: Callable[[Daemon], None] | None = None


def identify(**fields: Any) -> dict[str, Any]:
    return {"type": "identify", **fields}


def track(event: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, **fields}


def alias(previous: str, user: str, **fields: Any) -> dict[str, Any]:
    return {"type": "alias", "previousId": previous, "userId": user, **fields}


def unmerge(identifier: str, pair: tuple[str, str]) -> Callable[[Daemon], None]:
    """An operator's unmerge through the API: the direct link ``pair`` removed."""

    def act(daemon: Daemon) -> None:
        contact = _lookup(daemon, identifier)
        assert contact is not None
        response = httpx.post(
            f"{daemon.url}/v1/profiles/{contact}/unmerge",
            json={"pair": list(pair), "reason": "two people"},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text

    return act


KIOSK = [
    identify(userId=f"kiosk-u{n}", anonymousId="kiosk-1", traits={"email": f"k{n}@shop.example"})
    for n in range(5)
]

CASES: list[Case] = [
    Case(
        "newsletter, second device, login: one profile",
        [
            identify(anonymousId="chain-A1", traits={"email": "chain@example.org"}),
            identify(anonymousId="chain-B1", traits={"email": "chain@example.org"}),
            identify(userId="chain-U1", anonymousId="chain-B1"),
        ],
        [
            {
                "anonymous_id:chain-A1",
                "anonymous_id:chain-B1",
                "email:chain@example.org",
                "user_id:chain-U1",
            }
        ],
    ),
    Case(
        "newsletter, then login on the same device: one profile",
        [
            identify(anonymousId="same-A1", traits={"email": "same@example.org"}),
            track("Product Viewed", anonymousId="same-A1"),
            identify(userId="same-U1", anonymousId="same-A1"),
        ],
        [{"anonymous_id:same-A1", "email:same@example.org", "user_id:same-U1"}],
    ),
    Case(
        "a known user logs in on a device that gave an e-mail: one profile",
        [
            identify(userId="known-old", traits={"firstName": "Grace"}),
            identify(anonymousId="known-D", traits={"email": "known@example.org"}),
            identify(userId="known-old", anonymousId="known-D"),
        ],
        [{"user_id:known-old", "anonymous_id:known-D", "email:known@example.org"}],
    ),
    Case(
        "a shared kiosk with five users stays five profiles",
        KIOSK,
        [{"user_id:kiosk-u0", "anonymous_id:kiosk-1", "email:k0@shop.example"}]
        + [{f"user_id:kiosk-u{n}", f"email:k{n}@shop.example"} for n in range(1, 5)],
        [(f"user_id:kiosk-u{n}", "anonymous_id:kiosk-1", "limit") for n in range(1, 5)],
    ),
    Case(
        "two user IDs on one e-mail stay apart",
        [
            identify(userId="fam-U1", traits={"email": "family@example.org"}),
            identify(userId="fam-U2", traits={"email": "family@example.org"}),
        ],
        [{"user_id:fam-U1", "email:family@example.org"}, {"user_id:fam-U2"}],
        [("user_id:fam-U2", "email:family@example.org", "limit")],
    ),
    Case(
        "blocked values link nothing",
        [
            identify(userId="blk-U1", traits={"email": "test@test.com"}),
            identify(userId="blk-U2", traits={"email": "test@test.com"}),
            identify(userId="blk-U3", anonymousId="undefined"),
            identify(userId="blk-U4", anonymousId="undefined"),
            identify(userId="blk-U5", anonymousId="00000000-0000-0000-0000-000000000000"),
        ],
        [{f"user_id:blk-U{n}"} for n in range(1, 6)],
        ignored=[
            "email:test@test.com",
            "anonymous_id:undefined",
            "anonymous_id:00000000-0000-0000-0000-000000000000",
        ],
    ),
    Case(
        "e-mail and phone variants are one person",
        [
            identify(anonymousId="var-a", traits={"email": " Ada.Lovelace@Example.COM "}),
            identify(anonymousId="var-b", traits={"email": "ada.lovelace@example.com"}),
            identify(anonymousId="var-c", traits={"phone": "+1 (415) 555-0107"}),
            identify(anonymousId="var-b", traits={"phone": "415.555.0107"}),
        ],
        [
            {
                "anonymous_id:var-a",
                "anonymous_id:var-b",
                "anonymous_id:var-c",
                "email:ada.lovelace@example.com",
                "phone:+14155550107",
            }
        ],
    ),
    Case(
        "alias: the previous user ID and the new one are one person",
        [
            identify(userId="al-old", traits={"email": "al@example.org"}),
            identify(userId="al-new", anonymousId="al-X"),
            alias("al-old", "al-new"),
        ],
        [{"user_id:al-old", "user_id:al-new", "email:al@example.org", "anonymous_id:al-X"}],
    ),
    Case(
        "alias from the anonymous ID (previousId = anonymousId) joins the browsing",
        [
            track("Product Viewed", anonymousId="alanon-A"),
            alias("alanon-A", "alanon-U", anonymousId="alanon-A"),
        ],
        [{"anonymous_id:alanon-A", "user_id:alanon-U"}],
    ),
    Case(
        "alias read as Unify does (alias.merge: false) links nothing",
        [
            identify(userId="alx-old"),
            identify(userId="alx-new"),
            alias("alx-old", "alx-new"),
        ],
        [{"user_id:alx-old"}, {"user_id:alx-new"}],
        rules="opt_in",
    ),
    Case(
        "context.externalIds are identifiers of their declared type",
        [
            track(
                "Order Completed",
                anonymousId="ext-a",
                context={
                    "externalIds": [
                        {"id": "ext@example.org", "type": "email", "collection": "users"},
                        {"id": "GA1.2.77", "type": "ga_client_id", "collection": "users"},
                        {"id": "C-77", "type": "shop:customer_id", "collection": "users"},
                    ]
                },
            ),
            identify(userId="ext-U", traits={"email": "ext@example.org"}),
        ],
        [
            {
                "anonymous_id:ext-a",
                "email:ext@example.org",
                "external:ga_client_id:GA1.2.77",
                "shop:customer_id:C-77",
                "user_id:ext-U",
            }
        ],
    ),
    Case(
        "the oldest contact ID survives every merge",
        [
            identify(anonymousId="old-1", traits={"email": "oldest@example.org"}),
            track("Page Viewed", anonymousId="old-2"),
            identify(userId="old-U"),
            identify(anonymousId="old-2", traits={"email": "oldest@example.org"}),
            identify(userId="old-U", anonymousId="old-2"),
        ],
        [{"anonymous_id:old-1", "anonymous_id:old-2", "email:oldest@example.org", "user_id:old-U"}],
    ),
    Case(
        "never_merge_on (opt-in) never refuses when one side is new in the record",
        [
            identify(anonymousId="nmn-A1", traits={"email": "nmn@example.org"}),
            identify(userId="nmn-U1", anonymousId="nmn-A1"),
        ],
        [{"anonymous_id:nmn-A1", "email:nmn@example.org", "user_id:nmn-U1"}],
        rules="opt_in",
    ),
    Case(
        "never_merge_on (opt-in) refuses to fuse two known profiles",
        [
            identify(userId="nmk-old"),
            identify(anonymousId="nmk-D", traits={"email": "nmk@example.org"}),
            identify(userId="nmk-old", anonymousId="nmk-D"),
        ],
        [{"user_id:nmk-old"}, {"anonymous_id:nmk-D", "email:nmk@example.org"}],
        [("user_id:nmk-old", "anonymous_id:nmk-D", "never_merge")],
        rules="opt_in",
    ),
    Case(
        "an unmerged link stays apart when records carry it again",
        [
            identify(userId="unm-U", traits={"email": "unm@example.org"}),
            unmerge("user_id:unm-U", ("user_id:unm-U", "email:unm@example.org")),
            identify(userId="unm-U", traits={"email": "unm@example.org"}),
        ],
        [{"user_id:unm-U"}, {"email:unm@example.org"}],
        [("user_id:unm-U", "email:unm@example.org", "unmerge")],
        splits=True,
    ),
    Case(
        "integrations with All false reach only the destinations named true",
        [
            identify(
                userId="int-only",
                traits={"email": "int-only@example.org"},
                integrations={"All": False, "crm": True},
            )
        ],
        [{"user_id:int-only", "email:int-only@example.org"}],
        check=lambda daemon: _routed(daemon, "user_id", "int-only", to={"crm"}),
    ),
    Case(
        "integrations naming a destination false leave it out",
        [
            track(
                "Order Completed",
                userId="int-not",
                properties={"total": 12},
                integrations={"ads": False, "Some Other Tool": True},
            )
        ],
        [{"user_id:int-not"}],
        check=lambda daemon: _routed(daemon, "user_id", "int-not", to={"crm"}),
    ),
    Case(
        "integrations settings objects count as enabled",
        [
            identify(
                userId="int-obj",
                integrations={"All": False, "crm": {"list": "vip"}, "ads": True},
            )
        ],
        [{"user_id:int-obj"}],
        check=lambda daemon: _routed(daemon, "user_id", "int-obj", to={"crm", "ads"}),
    ),
]

#: The destination connections of every daemon (files destinations, one JSON line per
#: change), for the cases of the ``integrations`` object.
DESTINATIONS = ("crm", "ads")


def _delivered(daemon: Daemon, destination: str) -> list[dict[str, Any]]:
    path = daemon.config.parent / f"{destination}.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


def _names(line: dict[str, Any], type_: str, value: str) -> bool:
    return any(i["type"] == type_ and i["value"] == value for i in line.get("identifiers", ()))


def _routed(daemon: Daemon, type_: str, value: str, to: set[str]) -> None:
    """Changes about the person reached exactly the destinations ``to``: each of those
    received them; the others received a later message and still nothing about them."""
    for destination in sorted(to):
        wait_until(
            lambda d=destination: any(_names(x, type_, value) for x in _delivered(daemon, d))
        )
        assert any(_names(x, type_, value) for x in _delivered(daemon, destination)), destination
    marker = f"{value}-after"
    _send(daemon, identify(userId=marker))
    for destination in DESTINATIONS:
        wait_until(
            lambda d=destination: any(_names(x, "user_id", marker) for x in _delivered(daemon, d))
        )
        received = _delivered(daemon, destination)
        assert any(_names(x, "user_id", marker) for x in received), destination
        if destination not in to:
            assert not any(_names(x, type_, value) for x in received), destination


#: The identity rules of each daemon: the defaults, and the opt-in stricter reading.
RULES: dict[str, dict[str, Any]] = {
    "default": {},
    "opt_in": {"never_merge_on": ["anonymous_id"], "alias": {"merge": False}},
}


#: The merge-log actions that keep identifiers apart: a rule's refusal, an operator's split
#: (whose removed link later records cannot re-create).
REFUSING = ("reject", "split")


def _project(directory: Path, port: int, identity: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "spokehub.yaml"
    project: dict[str, Any] = {
        "store": {"url": f"sqlite:///{directory / 'hub.db'}"},
        "server": {"host": "127.0.0.1", "port": port, "admin_token": ADMIN},
        "connections": {
            "web": {"kind": "source", "write_keys": [WRITE_KEY]},
            **{
                name: {"kind": "destination", "spoke": "files", "config": {"path": f"{name}.jsonl"}}
                for name in DESTINATIONS
            },
        },
        "routes": [{"to": name, "kinds": ["upsert_person", "event"]} for name in DESTINATIONS],
    }
    if identity:
        project["identity"] = identity
    path.write_text(yaml.safe_dump(project))
    return path


def _lookup(daemon: Daemon, identifier: str) -> str | None:
    response = daemon.admin("/v1/profiles", identifier=identifier)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()["contact_id"]


def _send(daemon: Daemon, message: dict[str, Any]) -> None:
    stamped = {"timestamp": (T0 + timedelta(seconds=next(_seconds))).isoformat(), **message}
    response = httpx.post(
        f"{daemon.url}/v1/batch", json={"batch": [stamped]}, auth=(WRITE_KEY, ""), timeout=10
    )
    assert response.status_code == 200, response.text


@dataclass
class Outcome:
    """What the profile API answered for one case: every contact ID each identifier had
    after each round (``seen``)."""

    seen: dict[str, list[str]] = field(default_factory=dict)


#: A case's daemon and what it answered.
Observed = tuple[Daemon, Outcome]


def _identifiers_of(case: Case) -> set[str]:
    return set().union(*case.profiles) | {a for a, _b, _r in case.refusals}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Observed]]:
    """Every case run against its daemon, round by round (see the module docstring)."""
    daemons: dict[str, Daemon] = {}
    try:
        for name, identity in RULES.items():
            port = free_port()
            directory = tmp_path_factory.mktemp(name)
            daemons[name] = Daemon(_project(directory, port, identity), port, "files").start()
        results = {case.name: (daemons[case.rules], Outcome()) for case in CASES}
        for round_ in range(max(len(case.steps) for case in CASES)):
            for case in CASES:
                if round_ < len(case.steps):
                    step = case.steps[round_]
                    daemon = daemons[case.rules]
                    step(daemon) if callable(step) else _send(daemon, step)
            for daemon in daemons.values():
                daemon.wait_idle(60)
            for case in CASES:
                daemon, outcome = results[case.name]
                for identifier in _identifiers_of(case):
                    contact = _lookup(daemon, identifier)
                    if contact is not None:
                        outcome.seen.setdefault(identifier, []).append(contact)
        yield results
    finally:
        for daemon in daemons.values():
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_identity_case(case: Case, outcomes: dict[str, Observed]) -> None:
    daemon, outcome = outcomes[case.name]

    # The partition, and each profile holding exactly what is expected.
    final = {i: _lookup(daemon, i) for i in set().union(*case.profiles)}
    assert all(final.values()), f"identifiers without a profile: {final}"
    groups: dict[str, set[str]] = {}
    for identifier, contact in final.items():
        groups.setdefault(str(contact), set()).add(identifier)
    assert sorted(map(sorted, groups.values())) == sorted(map(sorted, case.profiles))
    for contact, expected in groups.items():
        view = daemon.admin(f"/v1/profiles/{contact}").json()["profile"]
        held = {f"{i['type']}:{i['value']}" for i in view["identifiers"]}
        assert held == expected

    for identifier in case.ignored:
        assert _lookup(daemon, identifier) is None, identifier

    # Every refusal named with its rule, and no rule named that the case does not expect.
    for identifier, other, rule in case.refusals:
        contact = final.get(identifier) or _lookup(daemon, identifier)
        explained = daemon.admin(f"/v1/profiles/{contact}/explain", other=other).json()
        assert explained["same_profile"] is False
        rules = {e["rule"] for e in explained["log"] if e["action"] in REFUSING}
        assert rule in rules, (identifier, other, explained["log"])
    named: set[str] = set()
    for contact in groups:
        log = daemon.admin(f"/v1/profiles/{contact}/explain").json()["log"]
        for entry in log:
            if entry["action"] in REFUSING:
                assert entry["rule"], entry
                named.add(entry["rule"])
    assert named == {rule for _a, _b, rule in case.refusals}

    # The oldest contact ID survives every merge, and every earlier ID still answers.
    if not case.splits:
        for contact, members in groups.items():
            ever = {c for i in members for c in outcome.seen.get(i, [])}
            assert contact == min(ever), (case.name, ever)
            for earlier in ever:
                answer = daemon.admin(f"/v1/profiles/{earlier}").json()
                assert answer["contact_id"] == contact

    if case.check is not None:
        case.check(daemon)


def test_the_table_holds_the_cases_the_docs_list() -> None:
    assert len(CASES) >= 14
    docs = (Path(__file__).parents[1] / "docs" / "identity.md").read_text()
    missing = [case.name for case in CASES if case.name not in docs]
    assert missing == []
