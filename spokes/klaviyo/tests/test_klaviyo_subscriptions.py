"""Consent changes as Klaviyo's bulk subscription jobs on the sandbox: subscribes up to
1,000 profiles a job, unsubscribes up to 100, a refused profile taken out of its job, an
outage after the first job answered per item."""

from __future__ import annotations

from klaviyo_vendor import Klaviyo, email

from spokehub_contracts import (
    Consent,
    ConsentChanged,
    Delivered,
    Identifier,
    Rejected,
    RetryAfter,
)
from spokehub_contracts.testing import Fault
from spokehub_klaviyo.testing import SUBSCRIBE_LIMIT, UNSUBSCRIBE_LIMIT

CREATE = "/api/profile-subscription-bulk-create-jobs"
DELETE = "/api/profile-subscription-bulk-delete-jobs"


def consent(
    n: int, granted: bool, purpose: str = "email_marketing", *ids: Identifier
) -> ConsentChanged:
    return ConsentChanged(
        item_id=f"c-{n}-{purpose}-{granted}",
        contact_id=f"contact-{n}",
        identifiers=ids or (Identifier(type="email", value=email(n)),),
        consent=Consent(purpose=purpose, granted=granted, source="shop"),
    )


def test_granted_and_denied_consent_subscribe_and_unsubscribe(klaviyo: Klaviyo) -> None:
    phone = Identifier(type="phone", value="+14155550101")
    batch = [
        consent(1, True),
        consent(2, False),
        consent(3, True, "sms_marketing", phone),
        consent(4, True, "analytics"),
    ]
    outcomes = klaviyo.write(batch, list_id="Y6nRLr")
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    sandbox = klaviyo.sandbox
    assert sandbox.consent_of(email(1)) == "SUBSCRIBED"
    assert sandbox.consent_of(email(2)) == "UNSUBSCRIBED"
    [sms] = [p for p in sandbox.profiles.values() if p["attributes"].get("phone_number")]
    assert sandbox.subscriptions[sms["id"]]["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    [create] = klaviyo.bodies(CREATE)
    assert create["data"]["relationships"]["list"]["data"]["id"] == "Y6nRLr"
    assert create["data"]["attributes"]["profiles"]["data"][0] == {
        "type": "profile",
        "attributes": {
            "email": email(1),
            "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
        },
    }
    [delete] = klaviyo.bodies(DELETE)
    assert "relationships" in delete["data"]  # unsubscribed from the list's channel too
    # analytics is no Klaviyo status: nothing was sent for it.
    assert (
        sum(len(b["data"]["attributes"]["profiles"]["data"]) for b in klaviyo.bodies(CREATE)) == 2
    )


def test_jobs_split_at_klaviyos_limits(klaviyo: Klaviyo) -> None:
    subscribes = [consent(n, True) for n in range(SUBSCRIBE_LIMIT + 5)]
    unsubscribes = [consent(n, False) for n in range(UNSUBSCRIBE_LIMIT + 5)]
    outcomes = klaviyo.write([*subscribes, *unsubscribes])
    assert len(outcomes) == len(subscribes) + len(unsubscribes)
    assert all(isinstance(o, Delivered) for o in outcomes)
    sizes = {
        path: [len(b["data"]["attributes"]["profiles"]["data"]) for b in klaviyo.bodies(path)]
        for path in (CREATE, DELETE)
    }
    assert sizes == {CREATE: [SUBSCRIBE_LIMIT, 5], DELETE: [UNSUBSCRIBE_LIMIT, 5]}
    assert klaviyo.sandbox.consent_of(email(SUBSCRIBE_LIMIT + 4)) == "SUBSCRIBED"


def test_a_profile_klaviyo_refuses_is_taken_out_of_its_job(klaviyo: Klaviyo) -> None:
    # An address the hub would never send, to draw Klaviyo's 400 pointing at profile 1.
    odd = Identifier.model_construct(type="email", value="ada@@example")
    refused = consent(2, True, "email_marketing", odd)
    outcomes = klaviyo.write([consent(1, True), refused, consent(3, True)])
    assert isinstance(outcomes[1], Rejected)
    assert "/data/attributes/profiles/data/1/attributes/email" in outcomes[1].reason
    assert isinstance(outcomes[0], Delivered) and isinstance(outcomes[2], Delivered)
    assert klaviyo.sandbox.consent_of(email(3)) == "SUBSCRIBED"
    first, again = klaviyo.bodies(CREATE)
    assert len(first["data"]["attributes"]["profiles"]["data"]) == 3
    assert len(again["data"]["attributes"]["profiles"]["data"]) == 2


def test_consent_without_an_address_for_the_channel_is_rejected(klaviyo: Klaviyo) -> None:
    [outcome] = klaviyo.write([consent(1, True, "sms_marketing")])
    assert isinstance(outcome, Rejected) and "no phone number" in outcome.reason
    assert not klaviyo.requests(CREATE)


def test_a_job_refused_whole_rejects_each_of_its_items(klaviyo: Klaviyo) -> None:
    outcomes = klaviyo.write([consent(1, True), consent(2, True)], list_id="NoSuch")
    assert all(isinstance(o, Rejected) and "not_found" in o.reason for o in outcomes)


def test_an_outage_after_the_first_job_answers_the_rest_per_item(klaviyo: Klaviyo) -> None:
    batch = [*(consent(n, True) for n in range(3)), *(consent(n, False) for n in range(3, 5))]
    klaviyo.sandbox.add_faults(Fault.passthrough(), *[Fault.error(503)] * 10)
    outcomes = klaviyo.write(batch)
    assert all(isinstance(o, Delivered) for o in outcomes[:3])
    assert all(isinstance(o, RetryAfter) for o in outcomes[3:])
