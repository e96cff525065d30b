"""What Klaviyo receives and how its answers become outcomes, checked on its sandbox."""

from __future__ import annotations

import itertools

import pytest
from klaviyo_vendor import Klaviyo, email, onboarding_due, person

from spokehub_contracts import (
    Address,
    AuthError,
    CheckStatus,
    Delivered,
    Forget,
    Identifier,
    Person,
    RateLimit,
    Rejected,
    RetryAfter,
    Throttled,
    TrackEvent,
    UpsertPerson,
)
from spokehub_contracts.testing import Fault
from spokehub_klaviyo import DEFAULT_REVISION
from spokehub_klaviyo.testing import SANDBOX_API_KEY, SANDBOX_READ_ONLY_KEY

IMPORT = "/api/profile-import"
EVENTS = "/api/events"
DELETIONS = "/api/data-privacy-deletion-jobs"


def test_a_person_is_imported_as_a_profile_with_the_documented_body(klaviyo: Klaviyo) -> None:
    change = UpsertPerson(
        item_id="p-1",
        identifiers=(
            Identifier(type="email", value=email(1)),
            Identifier(type="user_id", value="u-1"),
        ),
        person=Person(
            first_name="Ada",
            last_name="Lovelace",
            title="Engineer",
            address=Address(city="London", country="GB", postal_code="N1 9GU"),
            attributes={"plan": "gold"},
        ),
        scores={"churn_risk": 0.2},
    )
    [outcome] = klaviyo.write([change])
    [body] = klaviyo.bodies(IMPORT)
    assert body == {
        "data": {
            "type": "profile",
            "attributes": {
                "email": email(1),
                "external_id": "u-1",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "title": "Engineer",
                "location": {"city": "London", "country": "GB", "zip": "N1 9GU"},
                "properties": {"plan": "gold", "churn_risk": 0.2},
            },
        }
    }
    [request] = klaviyo.requests(IMPORT)
    assert request.headers["Authorization"] == f"Klaviyo-API-Key {SANDBOX_API_KEY}"
    assert request.headers["revision"] == DEFAULT_REVISION
    profile = klaviyo.sandbox.profile_by_email(email(1))
    assert profile is not None
    assert isinstance(outcome, Delivered) and outcome.external_id == profile["id"]
    assert profile["attributes"]["properties"] == {"plan": "gold", "churn_risk": 0.2}


def test_a_second_upsert_updates_the_same_profile(klaviyo: Klaviyo) -> None:
    first = klaviyo.write([person(1, first_name="Ada")])
    second = klaviyo.write([person(1, item="p-1b", last_name="Lovelace")])
    assert [r.status for r in klaviyo.requests(IMPORT)] == [201, 200]
    assert first[0].external_id == second[0].external_id  # type: ignore[union-attr]
    [profile] = klaviyo.sandbox.profiles.values()
    assert profile["attributes"]["first_name"] == "Ada"
    assert profile["attributes"]["last_name"] == "Lovelace"


def test_the_configured_revision_goes_in_every_request(klaviyo: Klaviyo) -> None:
    klaviyo.write([person(1), onboarding_due(1)], revision="2025-01-15")
    assert {r.headers["revision"] for r in klaviyo.sandbox.requests} == {"2025-01-15"}


def test_onboarding_due_is_an_event_with_its_recommended_products(klaviyo: Klaviyo) -> None:
    outcomes = klaviyo.write([person(1), onboarding_due(1, value=19.5)])
    assert [o.status for o in outcomes] == ["delivered", "delivered"]
    [body] = klaviyo.bodies(EVENTS)
    attributes = body["data"]["attributes"]
    assert body["data"]["type"] == "event"
    assert attributes["metric"] == {
        "data": {"type": "metric", "attributes": {"name": "Onboarding Due"}}
    }
    assert attributes["profile"] == {"data": {"type": "profile", "attributes": {"email": email(1)}}}
    assert attributes["unique_id"] == "msg-onboarding-1"
    assert attributes["value"] == 19.5
    assert attributes["time"].startswith("2026-03-10T09:00:00")
    [event] = klaviyo.sandbox.events_of(email(1), "Onboarding Due")
    assert [p["sku"] for p in event["properties"]["recommended_products"]] == ["TEA-01", "POT-02"]


def test_an_event_sent_twice_is_counted_once(klaviyo: Klaviyo) -> None:
    klaviyo.write([onboarding_due(1)])
    klaviyo.write([onboarding_due(1, item="again")])
    assert len(klaviyo.requests(EVENTS)) == 2
    assert len(klaviyo.sandbox.events_of(email(1))) == 1


def test_an_event_for_an_unknown_person_makes_the_profile(klaviyo: Klaviyo) -> None:
    [outcome] = klaviyo.write([onboarding_due(7)])
    assert isinstance(outcome, Delivered) and outcome.external_id is None
    assert klaviyo.sandbox.profile_by_email(email(7)) is not None


def test_a_refused_profile_is_rejected_with_the_field_klaviyo_names(klaviyo: Klaviyo) -> None:
    # A trait the hub keeps as given; Klaviyo wants a domain with a dot.
    bad = UpsertPerson(item_id="bad", person=Person(first_name="Ada", email="ada@localhost"))
    outcomes = klaviyo.write([person(1), bad, person(2)])
    by_item = {o.item_id: o for o in outcomes}
    assert by_item["p-1"].status == by_item["p-2"].status == "delivered"
    refused = by_item["bad"]
    assert isinstance(refused, Rejected)
    assert refused.reason == (
        "Klaviyo refused the profile: invalid at /data/attributes/email: Invalid email address"
    )


def test_a_change_without_a_match_key_is_rejected_without_a_request(klaviyo: Klaviyo) -> None:
    outcomes = klaviyo.write(
        [
            UpsertPerson(item_id="1", person=Person(first_name="X")),
            TrackEvent(item_id="2", event=onboarding_due(1).event),
            Forget(item_id="3", identifiers=(Identifier(type="email", value=email(1)),)),
        ]
    )
    assert [o.status for o in outcomes] == ["rejected"] * 3
    assert "does not take forget" in outcomes[2].reason  # type: ignore[union-attr]
    assert klaviyo.sandbox.requests == []


def test_a_429_is_waited_out_as_retry_after_says(klaviyo: Klaviyo) -> None:
    klaviyo.sandbox.add_faults(Fault.throttle(retry_after=7))
    [outcome] = klaviyo.write([person(1)])
    assert isinstance(outcome, Delivered)
    throttled, sent = klaviyo.requests(IMPORT)
    assert throttled.status == 429 and sent.status == 201
    assert sent.at - throttled.at >= 7


def test_the_burst_limit_is_waited_out_and_nothing_is_lost(klaviyo: Klaviyo) -> None:
    # A tighter burst than the spoke's budget, so that Klaviyo throttles it.
    klaviyo.sandbox.rate_limits["profiles"] = RateLimit(requests=3, per_seconds=1)
    outcomes = klaviyo.write([person(n) for n in range(8)])
    assert [o.status for o in outcomes] == ["delivered"] * 8
    assert klaviyo.sandbox.rate_rejections > 0
    assert len(klaviyo.sandbox.profiles) == 8
    log = klaviyo.sandbox.requests
    for throttled, after in itertools.pairwise(log):
        if throttled.status == 429:
            assert after.at - throttled.at >= 1


def test_a_long_throttle_after_some_items_defers_the_rest(klaviyo: Klaviyo) -> None:
    klaviyo.sandbox.add_faults(Fault.passthrough(), Fault.throttle(retry_after=600))
    outcomes = klaviyo.write([person(1), person(2), person(3)])
    assert outcomes[0].status == "delivered"
    assert all(isinstance(o, RetryAfter) and o.seconds == 600 for o in outcomes[1:])
    assert [o.item_id for o in outcomes] == ["p-1", "p-2", "p-3"]


def test_a_long_throttle_on_the_first_item_is_raised_with_its_wait(klaviyo: Klaviyo) -> None:
    klaviyo.sandbox.add_faults(Fault.throttle(retry_after=600))
    with pytest.raises(Throttled) as raised:
        klaviyo.write([person(1), person(2)])
    assert raised.value.retry_after == 600


def test_a_refused_key_is_an_auth_error(klaviyo: Klaviyo) -> None:
    with pytest.raises(AuthError) as raised:
        klaviyo.write([person(1)], api_key="pk_wrong")
    assert raised.value.status_code == 401
    assert "Incorrect authentication credentials." in str(raised.value)
    assert "pk_wrong" not in str(raised.value)


def test_a_key_without_write_scope_is_an_auth_error(klaviyo: Klaviyo) -> None:
    with pytest.raises(AuthError) as raised:
        klaviyo.write([person(1)], api_key=SANDBOX_READ_ONLY_KEY)
    assert raised.value.status_code == 403
    assert "permission" in str(raised.value)


def test_check_tells_a_bad_key_from_an_outage(klaviyo: Klaviyo) -> None:
    ok = klaviyo.run(lambda d: d.check())
    assert ok.status == CheckStatus.OK
    bad = klaviyo.run(lambda d: d.check(), api_key="pk_wrong")
    assert bad.status == CheckStatus.AUTH_ERROR and "401" in bad.message
    klaviyo.sandbox.add_faults(*[Fault.error(503)] * 5)
    down = klaviyo.run(lambda d: d.check())
    assert down.status == CheckStatus.UNREACHABLE
    assert [r.path for r in klaviyo.sandbox.requests] == ["/api/accounts"] * 6


def test_check_tells_a_base_url_that_is_no_klaviyo(klaviyo: Klaviyo) -> None:
    wrong = klaviyo.run(lambda d: d.check(), base_url=klaviyo.sandbox.url + "/v2")
    assert wrong.status == CheckStatus.CONFIG_ERROR
    assert "not_found" in wrong.message


def test_an_outage_after_some_items_defers_the_rest(klaviyo: Klaviyo) -> None:
    klaviyo.sandbox.add_faults(Fault.passthrough(), *[Fault.error(503)] * 3)
    outcomes = klaviyo.write([person(1), onboarding_due(1), person(2)])
    assert [o.status for o in outcomes] == ["delivered", "retry", "retry"]
    assert klaviyo.sandbox.events == []


def test_forget_requests_one_deletion_job_per_identifier(klaviyo: Klaviyo) -> None:
    klaviyo.write([person(1), onboarding_due(1)])
    identifiers = [
        Identifier(type="email", value=email(1)),
        Identifier(type="phone", value="+447700900123"),
        Identifier(type="user_id", value="u-1"),
    ]
    outcome = klaviyo.run(lambda d: d.forget(identifiers))
    assert isinstance(outcome, Delivered)
    assert klaviyo.bodies(DELETIONS) == [
        {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {
                    "profile": {"data": {"type": "profile", "attributes": {key: value}}}
                },
            }
        }
        for key, value in (("email", email(1)), ("phone_number", "+447700900123"))
    ]
    assert [r.status for r in klaviyo.requests(DELETIONS)] == [202, 202]
    assert klaviyo.sandbox.profiles == {} and klaviyo.sandbox.events == []


def test_forget_without_an_email_or_phone_is_rejected(klaviyo: Klaviyo) -> None:
    outcome = klaviyo.run(lambda d: d.forget([Identifier(type="user_id", value="u-1")]))
    assert isinstance(outcome, Rejected)
    assert klaviyo.sandbox.requests == []
