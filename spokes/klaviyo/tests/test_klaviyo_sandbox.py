"""The sandbox answers as Klaviyo documents it, over a real socket: the shapes a user of
the sandbox (and a Klaviyo source, later) relies on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from spokehub_contracts import RateLimit
from spokehub_contracts.testing.sandbox import sandbox_process
from spokehub_klaviyo.testing import SANDBOX_API_KEY, SANDBOX_READ_ONLY_KEY, KlaviyoSandbox

HEADERS = {"Authorization": f"Klaviyo-API-Key {SANDBOX_API_KEY}", "revision": "2024-10-15"}


@pytest.fixture
def served() -> Iterator[KlaviyoSandbox]:
    with KlaviyoSandbox() as sandbox:
        yield sandbox


def profile(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": attributes}}


def post(sandbox: KlaviyoSandbox, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(sandbox.url + path, json=body, headers={**HEADERS, **headers})


def the_error(response: httpx.Response) -> dict[str, Any]:
    [error] = response.json()["errors"]
    assert set(error) == {"id", "status", "code", "title", "detail", "source"}
    assert error["status"] == response.status_code
    return error


def test_a_profile_import_answers_the_profile(served: KlaviyoSandbox) -> None:
    created = post(served, "/api/profile-import", profile(email="ada@example.com"))
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["type"] == "profile" and len(data["id"]) == 26
    assert data["attributes"]["email"] == "ada@example.com"
    again = post(served, "/api/profile-import", profile(email="ADA@example.com", title="Dr"))
    assert again.status_code == 200 and again.json()["data"]["id"] == data["id"]


def test_an_event_is_accepted_with_202_and_no_body(served: KlaviyoSandbox) -> None:
    body = {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {"recommended_products": ["TEA-01"]},
                "metric": {"data": {"type": "metric", "attributes": {"name": "Onboarding Due"}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}},
            },
        }
    }
    answer = post(served, "/api/events", body)
    assert answer.status_code == 202 and answer.content == b""
    [event] = served.events_of("a@example.com", "Onboarding Due")
    assert event["properties"] == {"recommended_products": ["TEA-01"]}


def test_an_event_without_a_metric_points_at_it(served: KlaviyoSandbox) -> None:
    body = {"data": {"type": "event", "attributes": {"properties": {}, "profile": {}}}}
    error = the_error(post(served, "/api/events", body))
    assert error["code"] == "invalid"
    assert error["source"]["pointer"] == "/data/attributes/metric/data/attributes"


def test_an_invalid_email_is_a_400_pointing_at_it(served: KlaviyoSandbox) -> None:
    error = the_error(post(served, "/api/profile-import", profile(email="ada@localhost")))
    assert (error["code"], error["title"]) == ("invalid", "Invalid input.")
    assert error["source"] == {"pointer": "/data/attributes/email"}


def test_the_wrong_resource_type_is_a_409(served: KlaviyoSandbox) -> None:
    body = {"data": {"type": "event", "attributes": {"email": "a@example.com"}}}
    assert the_error(post(served, "/api/profile-import", body))["code"] == "conflict"


def test_a_request_without_revision_is_refused(served: KlaviyoSandbox) -> None:
    answer = httpx.post(
        served.url + "/api/profile-import",
        json=profile(email="a@example.com"),
        headers={"Authorization": HEADERS["Authorization"]},
    )
    error = the_error(answer)
    assert error["detail"] == "The 'revision' header is required."


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Klaviyo-API-Key pk_wrong", "Incorrect authentication credentials."),
        (f"Bearer {SANDBOX_API_KEY}", "Incorrect authentication credentials."),
    ],
)
def test_a_missing_or_wrong_key_gets_the_documented_401(
    served: KlaviyoSandbox, authorization: str | None, detail: str
) -> None:
    headers = {"revision": "2024-10-15"}
    if authorization:
        headers["Authorization"] = authorization
    answer = httpx.get(served.url + "/api/accounts", headers=headers)
    error = the_error(answer)
    assert (answer.status_code, error["code"], error["detail"]) == (
        401,
        "not_authenticated",
        detail,
    )


def test_a_read_only_key_reads_but_cannot_write(served: KlaviyoSandbox) -> None:
    headers = {"Authorization": f"Klaviyo-API-Key {SANDBOX_READ_ONLY_KEY}"}
    assert httpx.get(served.url + "/api/accounts", headers={**HEADERS, **headers}).is_success
    error = the_error(post(served, "/api/profile-import", profile(email="a@b.co"), **headers))
    assert error["code"] == "permission_denied"


def test_past_the_burst_limit_the_429_says_when_to_come_back() -> None:
    limits = {"profiles": RateLimit(requests=2, per_seconds=60)}
    with KlaviyoSandbox(rate_limit=limits) as sandbox:
        answers = [
            post(sandbox, "/api/profile-import", profile(email=f"p{n}@example.com"))
            for n in range(3)
        ]
    assert [a.status_code for a in answers] == [201, 201, 429]
    error = the_error(answers[2])
    assert error["code"] == "throttled" and error["title"] == "Request was throttled."
    seconds = int(answers[2].headers["Retry-After"])
    assert 1 <= seconds <= 60
    assert error["detail"] == f"Request was throttled. Expected available in {seconds} seconds."


def test_a_deletion_job_takes_exactly_one_identifier(served: KlaviyoSandbox) -> None:
    post(served, "/api/profile-import", profile(email="a@example.com", phone_number="+15005550006"))

    def job(**who: str) -> httpx.Response:
        attributes = {"profile": profile(**who)}
        body = {"data": {"type": "data-privacy-deletion-job", "attributes": attributes}}
        return post(served, "/api/data-privacy-deletion-jobs", body)

    error = the_error(job(email="a@example.com", phone_number="+15005550006"))
    assert error["source"]["pointer"] == "/data/attributes/profile/data/attributes"
    assert served.profiles
    assert job(phone_number="+15005550006").status_code == 202
    assert served.profiles == {} and served.deletion_jobs == [{"phone_number": "+15005550006"}]


def test_consent_changes_are_kept_for_the_webhooks_to_come(served: KlaviyoSandbox) -> None:
    created = post(served, "/api/profile-import", profile(email="a@example.com"))
    profile_id = created.json()["data"]["id"]
    assert served.subscriptions[profile_id]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    served.set_consent(profile_id, "email", "UNSUBSCRIBED")
    assert served.subscriptions[profile_id]["email"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert served.consent_changes == [(profile_id, "email", "UNSUBSCRIBED")]


def test_python_m_serves_the_sandbox() -> None:
    with sandbox_process("spokehub_klaviyo.testing") as url:
        answer = httpx.get(url + "/api/accounts", headers=HEADERS)
        assert answer.status_code == 200 and answer.json()["data"][0]["type"] == "account"
