"""Merges and subscriptions on the sandbox: two contacts folded into one with HubSpot's
merge endpoint, consent changes as subscribe / unsubscribe of the mapped subscription type."""

from __future__ import annotations

from hubspot_vendor import HubSpot, email, person

from spokehub_contracts import (
    Consent,
    ConsentChanged,
    Delivered,
    Identifier,
    MergeContacts,
    Rejected,
)


def merge(n: int, absorbed: int, **ids: str) -> MergeContacts:
    return MergeContacts(
        item_id=f"merge-{n}-{absorbed}",
        contact_id=f"contact-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        absorbed_contact_id=f"contact-{absorbed}",
        absorbed_identifiers=(Identifier(type="email", value=email(absorbed)),),
        **ids,
    )


def consent(n: int, granted: bool, purpose: str = "email_marketing") -> ConsentChanged:
    return ConsentChanged(
        item_id=f"consent-{n}-{purpose}-{granted}",
        contact_id=f"contact-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        consent=Consent(purpose=purpose, granted=granted, source="shop"),
    )


def test_a_merge_folds_the_absorbed_contact_into_the_survivor(hubspot: HubSpot) -> None:
    first, second = hubspot.write([person(1, first_name="Ada"), person(2, phone="+441234")])
    assert isinstance(first, Delivered) and isinstance(second, Delivered)
    [outcome] = hubspot.write([merge(1, 2)])
    assert outcome == Delivered(item_id="merge-1-2", external_id=first.external_id)
    assert hubspot.bodies("contacts/merge") == [
        {"primaryObjectId": first.external_id, "objectIdToMerge": second.external_id}
    ]
    sandbox = hubspot.sandbox
    assert list(sandbox.contacts) == [first.external_id]
    merged = sandbox.contacts[first.external_id]["properties"]
    assert merged["firstname"] == "Ada" and merged["phone"] == "+441234"
    assert merged["hs_additional_emails"] == email(2)
    # The absorbed address finds the survivor: a later upsert by it updates, not creates.
    [again] = hubspot.write([person(2, item="p-again", last_name="Lovelace")])
    assert again == Delivered(item_id="p-again", external_id=first.external_id)


def test_a_merge_by_known_ids_and_a_merge_sent_again(hubspot: HubSpot) -> None:
    first, second = hubspot.write([person(1), person(2)])
    change = merge(1, 2, external_id=first.external_id, absorbed_external_id=second.external_id)
    assert hubspot.write([change]) == [
        Delivered(item_id=change.item_id, external_id=first.external_id)
    ]
    assert not hubspot.requests(f"contacts/{email(1)}")  # the ids were enough: no look-up
    # The answer was lost and the hub sends it again: the absorbed id is gone, nothing fails.
    [outcome] = hubspot.write([change])
    assert isinstance(outcome, Delivered) and outcome.external_id == first.external_id


def test_a_merge_with_a_side_hubspot_never_held_merges_nothing(hubspot: HubSpot) -> None:
    [first] = hubspot.write([person(1)])
    assert hubspot.write([merge(1, 2)]) == [
        Delivered(item_id="merge-1-2", external_id=first.external_id)
    ]
    assert not hubspot.requests("contacts/merge")


def test_merges_go_before_the_upserts_of_their_batch(hubspot: HubSpot) -> None:
    first, _ = hubspot.write([person(1), person(2)])
    hubspot.write([person(2, item="p2-late", first_name="Grace"), merge(1, 2)])
    [contact] = hubspot.sandbox.contacts.values()
    assert contact["id"] == first.external_id and contact["properties"]["firstname"] == "Grace"


def test_consent_subscribes_and_unsubscribes_the_mapped_subscription_type(
    hubspot: HubSpot,
) -> None:
    config = {
        "subscription_ids": {"email_marketing": "7", "sms_marketing": "8"},
        "legal_basis": "CONSENT_WITH_NOTICE",
    }
    outcomes = hubspot.write([consent(1, True), consent(2, False, "sms_marketing")], **config)
    assert all(isinstance(o, Delivered) for o in outcomes)
    sandbox = hubspot.sandbox
    assert sandbox.subscription(email(1), "7") == "SUBSCRIBED"
    # An opt-out is recorded even for an address that was never subscribed.
    assert sandbox.subscription(email(2), "8") == "NOT_SUBSCRIBED"
    assert sandbox.legal_bases[(email(1), "7")] == "CONSENT_WITH_NOTICE"
    [body] = hubspot.bodies("communication-preferences/v3/subscribe")
    assert body["emailAddress"] == email(1) and body["subscriptionId"] == "7"
    # Sent again (or already so at HubSpot): delivered as it is.
    assert isinstance(hubspot.write([consent(1, True)], **config)[0], Delivered)
    [withdrawn] = hubspot.write([consent(1, False)], **config)
    assert isinstance(withdrawn, Delivered)
    assert sandbox.subscription(email(1), "7") == "NOT_SUBSCRIBED"


def test_consent_for_an_unmapped_purpose_or_unknown_type_is_rejected(hubspot: HubSpot) -> None:
    [unmapped] = hubspot.write([consent(1, True, "ads_personalization")])
    assert isinstance(unmapped, Rejected) and "subscription_ids" in unmapped.reason
    [unknown] = hubspot.write([consent(1, True)], subscription_ids={"email_marketing": "999"})
    assert isinstance(unknown, Rejected) and "does not exist" in unknown.reason
