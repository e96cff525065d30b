"""Pulling customers and orders: paging, increments, throttling, errors."""

from __future__ import annotations

import pytest
from shopify_vendor import Shopify

from spokehub_contracts import AuthError, CheckStatus, Consent, Event, PermanentError, Person
from spokehub_shopify import CUSTOMER_ID_TYPE, ShopifySource
from spokehub_shopify.testing import INVALID_TOKEN, ShopifySandbox


def test_customers_become_persons_with_their_ids_and_consent(shopify: Shopify) -> None:
    done = shopify.read("customers", customers_page_size=50)
    persons = done.of_kind("person")
    assert len(persons) == len(shopify.sandbox.customers) == 120
    assert len({p.record_id for p in persons}) == 120
    first = next(p for p in persons if p.record_id == "7100000000000")
    assert {(i.type, i.value) for i in first.identifiers} == {
        (CUSTOMER_ID_TYPE, "7100000000000"),
        ("email", "customer0@example.com"),
        ("phone", "+14155550000"),
    }
    person = first.data
    assert isinstance(person, Person)
    assert (person.first_name, person.last_name) == ("Ada", "Lovelace")
    assert person.address is not None and person.address.country == "US"
    assert person.attributes["tags"] == ["vip"]
    # Customer 0 subscribed, 1 never decided (no record), 2 unsubscribed.
    consents = {c.record_id: c.data for c in done.of_kind("consent")}
    assert isinstance(consents["7100000000000:email_marketing"], Consent)
    assert consents["7100000000000:email_marketing"].granted is True
    assert "7100000000001:email_marketing" not in consents
    assert consents["7100000000002:email_marketing"].granted is False
    # 120 customers in pages of 50: a checkpoint after each page.
    assert len(done.checkpoints) == 3
    assert len(shopify.sandbox.requests_to("/admin/api/{version}/graphql.json")) == 3


def test_orders_become_order_completed_with_every_line_item(shopify: Shopify) -> None:
    done = shopify.read("orders")
    events = done.of_kind("event")
    assert len(events) == 40
    big = next(e for e in events if e.record_id == "5200000000007")
    event = big.data
    assert isinstance(event, Event)
    assert event.event == "Order Completed" and event.message_id == "shopify-order-5200000000007"
    # 35 line items: 30 with the order, the rest read for that order alone.
    assert len(event.properties["products"]) == 35
    assert event.properties["currency"] == "USD"
    revenue = event.properties["total"] - event.properties["shipping"] - event.properties["tax"]
    assert event.properties["revenue"] == pytest.approx(revenue)
    assert any("order(id:" in r.body.decode() for r in shopify.sandbox.requests)
    coupon = next(e for e in events if e.record_id == "5200000000005").data
    assert isinstance(coupon, Event) and coupon.properties["coupon"] == "WELCOME10"


def test_a_second_run_reads_only_what_changed(shopify: Shopify) -> None:
    first = shopify.read("customers", customers_page_size=50)
    changed = sorted(shopify.sandbox.customers)[5]
    shopify.sandbox.update_customer(changed, firstName="Augusta")
    shopify.sandbox.add_customer(500)
    second = shopify.read("customers", first.state, customers_page_size=50)
    assert sorted(p.record_id for p in second.of_kind("person")) == [
        "7100000000005",
        "7100000000500",
    ]
    third = shopify.read("customers", second.state, customers_page_size=50)
    assert third.records == []
    # The filter Shopify was asked for names the newest second read.
    body = shopify.sandbox.requests[-1].json()
    assert body["variables"]["query"] == f"updated_at:>='{second.state['since']}'"


def test_a_change_in_the_boundary_second_is_not_missed(shopify: Shopify) -> None:
    first = shopify.read("customers")
    last = max(shopify.sandbox.customers.values(), key=lambda n: n["updatedAt"])
    # Another customer changed within the second the last run ended on.
    other = sorted(shopify.sandbox.customers)[3]
    shopify.sandbox.customers[other]["updatedAt"] = last["updatedAt"]
    again = shopify.read("customers", first.state)
    assert [p.record_id for p in again.of_kind("person")] == ["7100000000003"]


def test_throttled_queries_are_waited_out_as_stated() -> None:
    from spokehub_contracts.testing import FakeClock, intercept_clients

    clock = FakeClock(start=0.0)
    # A small bucket: every other page of 100 customers has to wait for points.
    sandbox = ShopifySandbox(clock=clock, customers=1000, orders=0, bucket=250, restore_rate=50)
    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        shop = Shopify(sandbox, clock)
        done = shop.read("customers", customers_page_size=100)
    assert len(done.of_kind("person")) == 1000
    assert len({p.record_id for p in done.of_kind("person")}) == 1000
    # Each page of 100 costs 102 points and the bucket holds 250 at 50 a second: the
    # spoke waited (on the test clock) instead of meeting THROTTLED page after page.
    assert clock.now >= (10 * 102 - 250) / 50 - 1
    statuses = [r.status for r in sandbox.requests]
    assert statuses.count(200) == len(statuses)


def test_a_throttled_answer_is_retried_after_its_wait(shopify: Shopify) -> None:
    from spokehub_contracts.testing import Fault

    shopify.sandbox.add_faults(Fault.passthrough(), Fault.vendor_throttle(4))
    done = shopify.read("customers", customers_page_size=50)
    assert len(done.of_kind("person")) == 120
    assert shopify.sandbox.throttled == 1
    times = [r.at for r in shopify.sandbox.requests]
    assert times[2] - times[1] >= 4 - 1e-6


def test_a_wrong_token_is_an_auth_error_in_shopifys_words(shopify: Shopify) -> None:
    result = shopify.run(lambda s: s.check(), access_token="shpat_wrong")
    assert result.status is CheckStatus.AUTH_ERROR
    assert "Invalid API key or access token" in result.message
    with pytest.raises(AuthError):
        shopify.read("customers", access_token="shpat_wrong")
    assert INVALID_TOKEN.startswith("[API]")


def test_a_query_over_the_cost_limit_is_a_permanent_error(shopify: Shopify) -> None:
    with pytest.raises(PermanentError, match="MAX_COST_EXCEEDED"):
        shopify.read("orders", orders_page_size=100, line_items_per_order=100)


def test_streams_follow_the_config(shopify: Shopify) -> None:
    streams = shopify.run(lambda s: s.streams(), streams=["orders"])
    assert [(s.name, s.kind) for s in streams] == [("orders", "event")]
    assert ShopifySource.capabilities.webhooks and ShopifySource.capabilities.incremental
