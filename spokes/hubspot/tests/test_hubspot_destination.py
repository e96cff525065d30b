"""What HubSpot receives for the hub's changes, on the sandbox: contacts upserted by
e-mail, companies by domain, memberships as associations, order facts and audiences as
contact properties, one input per contact, and an outcome per item carrying HubSpot's id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hubspot_vendor import HubSpot, account, email, membership, person

from spokehub_contracts import (
    Address,
    AudienceEntered,
    AudienceExited,
    Delivered,
    Event,
    Forget,
    Identifier,
    Person,
    Rejected,
    RetryAfter,
    TrackEvent,
    UpsertPerson,
)
from spokehub_contracts.testing import Fault
from spokehub_hubspot.testing import HubSpotSandbox


def order(n: int, item: str | None = None, **properties: Any) -> TrackEvent:
    event = Event.model_validate(
        {
            "type": "track",
            "event": "Order Completed",
            "userId": f"u-{n}",
            "timestamp": "2026-03-10T14:30:00Z",
            "properties": {
                "order_id": f"order-{n}",
                "total": 42.5,
                "currency": "EUR",
                "products": [{"name": "Shoe", "price": 30}, {"name": "Sock", "price": 12.5}],
                **properties,
            },
        }
    )
    return TrackEvent(
        item_id=item or f"o-{n}",
        contact_id=f"contact-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        event=event,
    )


def entered(n: int, audience: str = "recent_buyers") -> AudienceEntered:
    return AudienceEntered(
        item_id=f"in-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        audience=audience,
    )


def exited(n: int, audience: str = "recent_buyers") -> AudienceExited:
    return AudienceExited(
        item_id=f"out-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        audience=audience,
    )


def test_a_person_is_upserted_by_email_with_the_mapped_properties(hubspot: HubSpot) -> None:
    change = person(
        1,
        first_name="Ada",
        last_name="Lovelace",
        title="Analyst",
        address=Address(city="London", postal_code="N1"),
        attributes={"plan": "gold"},
    )
    [outcome] = hubspot.write([change], properties={"plan_tier": "attributes.plan"})
    contact = hubspot.sandbox.contact("person1@example.com")
    assert contact is not None
    assert outcome == Delivered(item_id="p-1", external_id=contact["id"])
    [request] = hubspot.requests("/crm/v3/objects/contacts/batch/upsert")
    assert request.method == "POST"
    assert request.headers["authorization"].startswith("Bearer pat-na1-")
    [entry] = hubspot.bodies("/crm/v3/objects/contacts/batch/upsert")[0]["inputs"]
    assert entry == {
        "id": "person1@example.com",
        "idProperty": "email",
        "objectWriteTraceId": "0",
        "properties": {
            "email": "person1@example.com",
            "firstname": "Ada",
            "lastname": "Lovelace",
            "jobtitle": "Analyst",
            "city": "London",
            "zip": "N1",
            "plan_tier": "gold",
        },
    }
    assert contact["properties"]["firstname"] == "Ada"
    assert contact["properties"]["plan_tier"] == "gold"


def test_an_upsert_updates_the_contact_it_found(hubspot: HubSpot) -> None:
    [first] = hubspot.write([person(1, first_name="Ada")])
    [second] = hubspot.write([person(1, item="p-1b", last_name="Lovelace")])
    assert len(hubspot.sandbox.contacts) == 1
    assert isinstance(first, Delivered) and isinstance(second, Delivered)
    assert first.external_id == second.external_id
    properties = hubspot.sandbox.contact(email(1))["properties"]  # type: ignore[index]
    # A trait the change does not carry is left alone, not cleared.
    assert properties["firstname"] == "Ada" and properties["lastname"] == "Lovelace"


def test_changes_about_one_contact_go_as_one_input(hubspot: HubSpot) -> None:
    outcomes = hubspot.write([person(1, first_name="Ada"), order(1), entered(1), person(2)])
    [body] = hubspot.bodies("contacts/batch/upsert")
    assert [entry["id"] for entry in body["inputs"]] == [email(1), email(2)]
    properties = body["inputs"][0]["properties"]
    assert properties["firstname"] == "Ada"
    assert properties["last_order_id"] == "order-1"
    assert properties["recent_buyers"] == "true"
    ids = {o.item_id: o.external_id for o in outcomes if isinstance(o, Delivered)}
    assert ids["p-1"] == ids["o-1"] == ids["in-1"] != ids["p-2"]


def test_a_full_batch_is_one_request_of_100_inputs(hubspot: HubSpot) -> None:
    outcomes = hubspot.write([person(n) for n in range(100)])
    [request] = hubspot.requests("contacts/batch/upsert")
    assert request.items == 100
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert len({o.external_id for o in outcomes if isinstance(o, Delivered)}) == 100


def test_order_facts_become_contact_properties(hubspot: HubSpot) -> None:
    [outcome] = hubspot.write([order(1)])
    assert isinstance(outcome, Delivered)
    properties = hubspot.sandbox.contact(email(1))["properties"]  # type: ignore[index]
    assert properties["last_order_id"] == "order-1"
    assert properties["last_order_total"] == "42.5"
    assert properties["last_order_currency"] == "EUR"
    assert properties["last_order_date"] == "2026-03-10T14:30:00.000Z"
    assert properties["last_order_products"] == "Shoe;Sock"


def test_an_event_without_a_mapping_is_rejected_without_a_request(hubspot: HubSpot) -> None:
    event = order(1).event.model_copy(update={"event": "Product Viewed"})
    change = TrackEvent(item_id="v-1", identifiers=order(1).identifiers, event=event)
    [outcome] = hubspot.write([change])
    assert isinstance(outcome, Rejected)
    assert "Product Viewed" in outcome.reason and "events" in outcome.reason
    assert hubspot.sandbox.requests == []


def test_events_are_mapped_from_config(hubspot: HubSpot) -> None:
    events = {"Order Completed": {"recent_order": "properties.order_id"}}
    hubspot.write([order(1)], events=events)
    [entry] = hubspot.bodies("contacts/batch/upsert")[0]["inputs"]
    assert entry["properties"] == {"email": email(1), "recent_order": "order-1"}


def test_audience_membership_is_a_contact_property(hubspot: HubSpot) -> None:
    hubspot.write([entered(1), entered(2, "VIP customers")])
    assert hubspot.sandbox.contact(email(1))["properties"]["recent_buyers"] == "true"  # type: ignore[index]
    assert hubspot.sandbox.contact(email(2))["properties"]["vip_customers"] == "true"  # type: ignore[index]
    hubspot.write([exited(1)])
    assert hubspot.sandbox.contact(email(1))["properties"]["recent_buyers"] == "false"  # type: ignore[index]


def test_audience_properties_are_named_by_config(hubspot: HubSpot) -> None:
    hubspot.write(
        [entered(1), entered(2, "churners")],
        audience_properties={"recent_buyers": "recent_buyer"},
        audience_property_prefix="audience_",
    )
    assert hubspot.sandbox.contact(email(1))["properties"]["recent_buyer"] == "true"  # type: ignore[index]
    assert hubspot.sandbox.contact(email(2))["properties"]["audience_churners"] == "true"  # type: ignore[index]


def test_companies_are_upserted_by_domain(hubspot: HubSpot) -> None:
    outcomes = hubspot.write(
        [
            account("acme", website="https://www.Acme.com/about", name="Acme", employees=40),
            account("globex.io", name="Globex"),
            account("initech", item="a-none", name="Initech"),
        ]
    )
    acme, globex = hubspot.sandbox.company("acme.com"), hubspot.sandbox.company("globex.io")
    assert acme is not None and globex is not None
    assert outcomes[0] == Delivered(item_id="a-acme", external_id=acme["id"])
    assert outcomes[1] == Delivered(item_id="a-globex.io", external_id=globex["id"])
    assert isinstance(outcomes[2], Rejected) and "domain" in outcomes[2].reason
    [body] = hubspot.bodies("/crm/v3/objects/companies/batch/upsert")
    assert body["inputs"][0] == {
        "id": "acme.com",
        "idProperty": "domain",
        "objectWriteTraceId": "0",
        "properties": {
            "domain": "acme.com",
            "name": "Acme",
            "numberofemployees": "40",
            "website": "https://www.Acme.com/about",
        },
    }


def test_a_membership_associates_the_contact_with_its_company(hubspot: HubSpot) -> None:
    outcomes = hubspot.write(
        [account("acme", website="acme.com"), membership(1, "acme"), membership(2, "globex.io")]
    )
    acme, globex = hubspot.sandbox.company("acme.com"), hubspot.sandbox.company("globex.io")
    ada, bob = hubspot.sandbox.contact(email(1)), hubspot.sandbox.contact(email(2))
    assert acme and globex and ada and bob
    assert hubspot.sandbox.companies_of(ada["id"]) == {acme["id"]}
    assert hubspot.sandbox.companies_of(bob["id"]) == {globex["id"]}
    assert hubspot.sandbox.associations[(ada["id"], acme["id"])] == {279}
    assert outcomes[1] == Delivered(item_id="m-1-acme", external_id=ada["id"])
    [body] = hubspot.bodies("/crm/v4/associations/contacts/companies/batch/create")
    assert body["inputs"][0] == {
        "from": {"id": ada["id"]},
        "to": {"id": acme["id"]},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
    }


def test_the_account_learned_earlier_names_the_company_of_a_membership(hubspot: HubSpot) -> None:
    async def twice(destination: Any) -> Any:
        await destination.write([account("acct-7", website="https://initech.com")])
        return await destination.write([membership(1, "acct-7")])

    [outcome] = hubspot.run(twice)
    assert isinstance(outcome, Delivered)
    initech = hubspot.sandbox.company("initech.com")
    assert initech is not None
    assert hubspot.sandbox.companies_of(outcome.external_id or "") == {initech["id"]}


def test_a_membership_of_an_unknown_account_is_rejected(hubspot: HubSpot) -> None:
    [outcome] = hubspot.write([membership(1, "acct-9")])
    assert isinstance(outcome, Rejected) and "acct-9" in outcome.reason
    assert hubspot.sandbox.requests == []


def test_an_ended_membership_removes_the_association(hubspot: HubSpot) -> None:
    hubspot.write([membership(1, "acme.com")])
    ended = membership(1, "acme.com", item="m-end", ended_at=datetime(2026, 3, 1, tzinfo=UTC))
    [outcome] = hubspot.write([ended])
    assert isinstance(outcome, Delivered)
    assert hubspot.sandbox.associations == {}
    [request] = hubspot.requests("/crm/v4/associations/contacts/companies/batch/archive")
    assert request.status == 204


def test_the_association_type_comes_from_config(hubspot: HubSpot) -> None:
    hubspot.write([membership(1, "acme.com")], association_type_id=1)
    [types] = hubspot.sandbox.associations.values()
    assert types == {1}


def test_a_person_known_by_hubspot_id_alone_is_updated_by_id(hubspot: HubSpot) -> None:
    [created] = hubspot.write([person(1, first_name="Ada")])
    assert isinstance(created, Delivered) and created.external_id
    by_id = UpsertPerson(
        item_id="p-id",
        identifiers=(Identifier(type="hubspot:contact_id", value=created.external_id),),
        person=Person(last_name="Lovelace"),
    )
    unknown = UpsertPerson(
        item_id="p-gone",
        identifiers=(Identifier(type="hubspot:contact_id", value="999999"),),
        person=Person(last_name="Nobody"),
    )
    outcomes = hubspot.write([by_id, unknown])
    assert outcomes[0] == Delivered(item_id="p-id", external_id=created.external_id)
    assert isinstance(outcomes[1], Rejected) and "OBJECT_NOT_FOUND" in outcomes[1].reason
    [body] = hubspot.bodies("/crm/v3/objects/contacts/batch/update")
    assert body["inputs"][0] == {
        "id": created.external_id,
        "objectWriteTraceId": "0",
        "properties": {"lastname": "Lovelace"},
    }
    assert hubspot.sandbox.contact(email(1))["properties"]["lastname"] == "Lovelace"  # type: ignore[index]


def test_a_person_without_email_or_hubspot_id_is_rejected(hubspot: HubSpot) -> None:
    change = UpsertPerson(
        item_id="anon",
        identifiers=(Identifier(type="user_id", value="u-1"),),
        person=Person(first_name="Ada"),
    )
    [outcome] = hubspot.write([change])
    assert isinstance(outcome, Rejected) and "e-mail" in outcome.reason
    assert hubspot.sandbox.requests == []


def test_a_forget_change_is_not_written(hubspot: HubSpot) -> None:
    change = Forget(item_id="f-1", identifiers=(Identifier(type="email", value=email(1)),))
    [outcome] = hubspot.write([change])
    assert isinstance(outcome, Rejected) and "forget" in outcome.reason


def test_the_dated_api_version_changes_the_paths(hubspot: HubSpot) -> None:
    outcomes = hubspot.write(
        [person(1), account("acme.com"), membership(1, "acme.com")], api_version="2026-03"
    )
    assert all(isinstance(o, Delivered) for o in outcomes)
    paths = [r.path for r in hubspot.sandbox.requests]
    assert paths == [
        "/crm/objects/2026-03/companies/batch/upsert",
        "/crm/objects/2026-03/contacts/batch/upsert",
        "/crm/associations/2026-03/contacts/companies/batch/create",
    ]


def test_items_hubspot_refuses_in_a_207_are_rejected_alone(hubspot: HubSpot) -> None:
    hubspot.sandbox.add_faults(Fault.partial())
    outcomes = hubspot.write([person(n) for n in range(6)])
    [request] = hubspot.requests("contacts/batch/upsert")
    assert request.status == 207 and request.refused == 2
    refused = [o.item_id for o in outcomes if isinstance(o, Rejected)]
    assert refused == ["p-0", "p-3"]  # every third input, named by objectWriteTraceId
    assert all("VALIDATION_ERROR" in o.reason for o in outcomes if isinstance(o, Rejected))
    assert sum(isinstance(o, Delivered) for o in outcomes) == 4


class PickySandbox(HubSpotSandbox):
    """Refuses the whole batch, as HubSpot does, when an input's e-mail starts with
    ``bad``."""

    def _validate(self, object_type: str, inputs: list[Any], *, upsert: bool) -> Any:
        from spokehub_hubspot.testing import hubspot_error

        if any(str(i.get("id", "")).startswith("bad") for i in inputs):
            return hubspot_error(
                'Property values were not valid: [{"isValid":false,"message":"Email'
                ' address bad@example.com is not allowed","error":"INVALID_EMAIL"}]',
                "VALIDATION_ERROR",
            )
        return super()._validate(object_type, inputs, upsert=upsert)


def test_a_batch_refused_whole_is_halved_until_the_bad_input_stands_alone() -> None:
    from spokehub_contracts.testing import FakeClock, intercept_clients

    clock = FakeClock()
    sandbox = PickySandbox(clock=clock)
    bad = UpsertPerson(
        item_id="bad",
        identifiers=(Identifier(type="email", value="bad@example.com"),),
        person=Person(first_name="Mallory"),
    )
    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        outcomes = HubSpot(sandbox, clock).write([person(1), person(2), bad, person(3)])
    assert [type(o).__name__ for o in outcomes] == [
        "Delivered",
        "Delivered",
        "Rejected",
        "Delivered",
    ]
    reason = outcomes[2].reason  # type: ignore[union-attr]
    assert "VALIDATION_ERROR" in reason and "bad@example.com" not in reason
    sizes = [r.items for r in sandbox.requests]
    assert sizes == [4, 2, 2, 1, 1]
    assert len(sandbox.contacts) == 3


def test_a_property_the_portal_lacks_rejects_the_items_that_set_it(hubspot: HubSpot) -> None:
    hubspot.sandbox.strict_properties = True
    risky = person(1)
    risky = risky.model_copy(update={"scores": {"churn_risk": 0.8}})
    outcomes = hubspot.write([risky, person(2)], properties={"churn_risk": "scores.churn_risk"})
    assert isinstance(outcomes[0], Rejected)
    assert "churn_risk" in outcomes[0].reason and "Settings" in outcomes[0].reason
    assert isinstance(outcomes[1], Delivered)
    assert [r.status for r in hubspot.requests("contacts/batch/upsert")] == [400, 200]
    hubspot.sandbox.define_property("contacts", "churn_risk")
    [again] = hubspot.write([risky], properties={"churn_risk": "scores.churn_risk"})
    assert isinstance(again, Delivered)
    assert hubspot.sandbox.contact(email(1))["properties"]["churn_risk"] == "0.8"  # type: ignore[index]


def test_an_input_left_out_of_the_answer_is_retried(hubspot: HubSpot) -> None:
    class Forgetful(HubSpotSandbox):
        def _batch_answer(self, results: Any, errors: Any, *, success: int) -> Any:
            return super()._batch_answer(results[:1], errors, success=success)

    from spokehub_contracts.testing import FakeClock, intercept_clients

    clock = FakeClock()
    sandbox = Forgetful(clock=clock)
    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        outcomes = HubSpot(sandbox, clock).write([person(1), person(2)])
    assert isinstance(outcomes[0], Delivered)
    assert isinstance(outcomes[1], RetryAfter) and outcomes[1].seconds == 60


@pytest.mark.parametrize("identifier", ["email", "hubspot:contact_id"])
def test_forget_erases_the_contact_with_gdpr_delete(hubspot: HubSpot, identifier: str) -> None:
    [created, _] = hubspot.write([person(1), membership(1, "acme.com")])
    assert isinstance(created, Delivered)
    value = email(1) if identifier == "email" else created.external_id or ""
    outcome = hubspot.run(lambda d: d.forget([Identifier(type=identifier, value=value)]))
    assert outcome == Delivered(item_id="forget")
    assert hubspot.sandbox.contact(email(1)) is None
    assert hubspot.sandbox.associations == {}
    assert hubspot.sandbox.gdpr_deleted == [created.external_id]
    [request] = hubspot.requests("/crm/v3/objects/contacts/gdpr-delete")
    expected = {"objectId": value, **({"idProperty": "email"} if identifier == "email" else {})}
    assert hubspot.bodies("gdpr-delete") == [expected]
    assert request.status == 204


def test_forget_of_an_unknown_address_blocks_it(hubspot: HubSpot) -> None:
    outcome = hubspot.run(lambda d: d.forget([Identifier(type="email", value=email(5))]))
    assert outcome == Delivered(item_id="forget")
    assert email(5) in hubspot.sandbox.blocklist


def test_forget_without_email_or_hubspot_id_is_rejected(hubspot: HubSpot) -> None:
    outcome = hubspot.run(lambda d: d.forget([Identifier(type="user_id", value="u-1")]))
    assert isinstance(outcome, Rejected)
    assert hubspot.sandbox.requests == []


def by_user_id(change: Any) -> Any:
    """``change`` as a call that names the person by a user id alone."""
    return change.model_copy(update={"identifiers": (Identifier(type="user_id", value="u-1"),)})


def test_a_change_naming_the_person_by_user_id_finds_the_contact_by_the_hubs_id(
    hubspot: HubSpot,
) -> None:
    async def in_turn(destination: Any) -> Any:
        await destination.write([person(1, first_name="Ada")])
        return await destination.write(
            [by_user_id(order(1)), by_user_id(membership(1, "acme.com"))]
        )

    outcomes = hubspot.run(in_turn)
    ada = hubspot.sandbox.contact(email(1))
    assert ada is not None
    assert [o.external_id for o in outcomes if isinstance(o, Delivered)] == [ada["id"]] * 2
    assert ada["properties"]["last_order_id"] == "order-1"
    assert len(hubspot.sandbox.companies_of(ada["id"])) == 1


def test_after_forget_the_spoke_no_longer_knows_the_address(hubspot: HubSpot) -> None:
    async def forget_then_order(destination: Any) -> Any:
        await destination.write([person(1)])
        await destination.forget([Identifier(type="email", value=email(1))])
        return await destination.write([by_user_id(order(1))])

    [outcome] = hubspot.run(forget_then_order)
    assert isinstance(outcome, Rejected) and "e-mail" in outcome.reason
    assert hubspot.sandbox.contacts == {}
