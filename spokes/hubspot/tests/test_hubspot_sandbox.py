"""The sandbox answers as HubSpot documents it, over a real socket: the shapes a user of
the sandbox (and a HubSpot source, later) relies on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from spokehub_contracts import RateLimit
from spokehub_contracts.testing.sandbox import sandbox_process
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox

AUTH = {"Authorization": f"Bearer {SANDBOX_ACCESS_TOKEN}"}
UPSERT = "/crm/v3/objects/contacts/batch/upsert"


@pytest.fixture
def served() -> Iterator[HubSpotSandbox]:
    moments = iter(datetime(2026, 3, 10, 9, minute, tzinfo=UTC) for minute in range(60))
    with HubSpotSandbox(now=lambda: next(moments)) as sandbox:
        yield sandbox


def upsert(sandbox: HubSpotSandbox, *emails: str, **properties: str) -> httpx.Response:
    inputs = [
        {"idProperty": "email", "id": e, "properties": {**properties}, "objectWriteTraceId": str(n)}
        for n, e in enumerate(emails)
    ]
    return httpx.post(sandbox.url + UPSERT, json={"inputs": inputs}, headers=AUTH)


def test_an_upsert_answers_the_documented_batch_response(served: HubSpotSandbox) -> None:
    answer = upsert(served, "ada@example.com", firstname="Ada")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "COMPLETE"
    assert {"startedAt", "completedAt", "results"} <= body.keys()
    [result] = body["results"]
    assert result["new"] is True and result["objectWriteTraceId"] == "0"
    assert result["properties"]["email"] == "ada@example.com"
    assert result["properties"]["firstname"] == "Ada"
    assert result["properties"]["hs_object_id"] == result["id"]
    again = upsert(served, "ADA@example.com", lastname="Lovelace").json()["results"][0]
    assert again["id"] == result["id"] and again["new"] is False


def test_writes_stamp_the_last_modified_date_a_reader_filters_on(served: HubSpotSandbox) -> None:
    upsert(served, "ada@example.com")
    upsert(served, "ada@example.com", firstname="Ada")
    contact = served.contact("ada@example.com")
    assert contact is not None
    assert contact["properties"]["createdate"] == "2026-03-10T09:00:00.000Z"
    assert contact["properties"]["lastmodifieddate"] == "2026-03-10T09:02:00.000Z"
    assert contact["updatedAt"] == "2026-03-10T09:02:00.000Z"


def test_contacts_are_listed_page_by_page_with_after(served: HubSpotSandbox) -> None:
    upsert(served, *(f"p{n}@example.com" for n in range(25)))
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": "10", "properties": "email"} | ({"after": after} if after else {})
        body = httpx.get(
            served.url + "/crm/v3/objects/contacts", params=params, headers=AUTH
        ).json()
        seen += [r["properties"]["email"] for r in body["results"]]
        pages += 1
        after = body.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 25


def test_an_object_is_read_by_id_or_unique_property(served: HubSpotSandbox) -> None:
    [result] = upsert(served, "ada@example.com").json()["results"]
    by_email = httpx.get(
        served.url + "/crm/v3/objects/contacts/ada@example.com",
        params={"idProperty": "email"},
        headers=AUTH,
    )
    by_id = httpx.get(served.url + f"/crm/objects/2026-03/contacts/{result['id']}", headers=AUTH)
    assert by_email.json()["id"] == by_id.json()["id"] == result["id"]
    missing = httpx.get(served.url + "/crm/v3/objects/contacts/999", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_a_missing_token_gets_the_documented_401(served: HubSpotSandbox) -> None:
    answer = httpx.get(served.url + "/crm/v3/objects/contacts")
    assert answer.status_code == 401
    body = answer.json()
    assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found")
    assert body["correlationId"]


def test_the_same_id_twice_refuses_the_batch(served: HubSpotSandbox) -> None:
    answer = upsert(served, "ada@example.com", "Ada@Example.com")
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert "Duplicate IDs" in answer.json()["message"]
    assert served.contacts == {}


def test_an_invalid_email_refuses_the_batch(served: HubSpotSandbox) -> None:
    answer = upsert(served, "ada@example.com", "not-an-address")
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert error["code"] == "INVALID_EMAIL"
    assert served.contacts == {}


def test_more_than_100_inputs_are_refused(served: HubSpotSandbox) -> None:
    answer = upsert(served, *(f"p{n}@example.com" for n in range(101)))
    assert answer.status_code == 400 and "limit of 100" in answer.json()["message"]


def test_past_the_burst_limit_the_429_names_the_policy() -> None:
    with HubSpotSandbox(rate_limit=RateLimit(requests=2, per_seconds=10)) as sandbox:
        answers = [
            httpx.get(sandbox.url + "/crm/v3/objects/contacts", headers=AUTH) for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    body = answers[2].json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert answers[2].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert answers[2].headers["X-HubSpot-RateLimit-Max"] == "2"
    assert "Retry-After" not in answers[2].headers


def test_past_the_daily_limit_the_429_says_daily() -> None:
    with HubSpotSandbox(daily_limit=1) as sandbox:
        answers = [
            httpx.get(sandbox.url + "/crm/v3/objects/contacts", headers=AUTH) for _ in range(2)
        ]
    assert [a.status_code for a in answers] == [200, 429]
    assert answers[1].json()["policyName"] == "DAILY"
    assert answers[1].json()["message"] == "You have reached your daily limit."


def test_python_m_serves_the_sandbox() -> None:
    with sandbox_process("spokehub_hubspot.testing") as url:
        answer = httpx.get(url + "/crm/v3/objects/contacts", params={"limit": 1}, headers=AUTH)
        assert answer.status_code == 200 and answer.json() == {"results": []}
