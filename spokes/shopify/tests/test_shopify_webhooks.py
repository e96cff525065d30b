"""Webhooks: Shopify's signature, its topics, and records equal to a pull's."""

from __future__ import annotations

import json

import pytest
from shopify_vendor import Shopify

from spokehub_contracts import Event, PrivacyAction, PrivacyRequest, WebhookRequest
from spokehub_shopify import ShopifySource, delivery_id, signature, verified
from spokehub_shopify.testing import SANDBOX_WEBHOOK_SECRET


def _request(shopify: Shopify, topic: str, payload: dict, secret: str = SANDBOX_WEBHOOK_SECRET):
    body, headers = shopify.sandbox.webhook(topic, payload)
    headers = {**headers, **shopify.sandbox.sign_webhook(body, secret, 0)}
    # The hub hands headers over as the server read them: lower-cased.
    return WebhookRequest(headers={k.lower(): v for k, v in headers.items()}, body=body)


def test_the_signature_is_the_base64_hmac_of_the_raw_body() -> None:
    # The well-known test vector HMAC-SHA256("key", "The quick brown fox…"), in base64.
    fox = b"The quick brown fox jumps over the lazy dog"
    assert signature(fox, "key") == "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
    body = b'{"id":1}'
    assert verified({"X-Shopify-Hmac-Sha256": signature(body, "secret")}, body, "secret")
    assert not verified({"X-Shopify-Hmac-Sha256": signature(body, "other")}, body, "secret")
    assert not verified({}, body, "secret")
    assert not verified({"X-Shopify-Hmac-Sha256": signature(body, "secret")}, body, None)
    assert not verified({"X-Shopify-Hmac-Sha256": "not base64 at all ✓"}, body, "secret")


def test_the_delivery_id_is_the_event_id_else_the_webhook_id(shopify: Shopify) -> None:
    assert delivery_id({"x-shopify-event-id": "e1", "x-shopify-webhook-id": "w1"}) == "e1"
    assert delivery_id({"x-shopify-webhook-id": "w1"}) == "w1"
    assert delivery_id({}) is None
    gid = sorted(shopify.sandbox.orders)[0]
    request = _request(shopify, "orders/create", shopify.sandbox.order_payload(gid))
    source = ShopifySource(shopify.config(), connection="shop")
    assert source.webhook_delivery_id(request) == request.headers["x-shopify-event-id"]


def test_an_order_webhook_gives_the_same_record_as_the_pull(shopify: Shopify) -> None:
    pulled = {r.record_id: r for r in shopify.read("orders").records}
    for gid in sorted(shopify.sandbox.orders)[:10]:
        for topic in ("orders/create", "orders/paid"):
            request = _request(shopify, topic, shopify.sandbox.order_payload(gid))
            assert shopify.run(lambda s, r=request: s.verify_webhook(r))
            [record] = shopify.run(lambda s, r=request: s.parse_webhook(r))
            assert isinstance(record.data, Event)
            assert record.model_dump() == pulled[record.record_id].model_dump()


def test_a_customer_webhook_gives_the_same_records_as_the_pull(shopify: Shopify) -> None:
    pulled = {(r.kind, r.record_id): r for r in shopify.read("customers").records}
    for gid in sorted(shopify.sandbox.customers)[:6]:
        request = _request(shopify, "customers/update", shopify.sandbox.customer_payload(gid))
        records = shopify.run(lambda s, r=request: s.parse_webhook(r))
        assert records
        for record in records:
            assert record.model_dump() == pulled[(record.kind, record.record_id)].model_dump()


def test_a_wrong_or_missing_signature_is_refused(shopify: Shopify) -> None:
    gid = sorted(shopify.sandbox.orders)[0]
    wrong = _request(shopify, "orders/create", shopify.sandbox.order_payload(gid), "not-it")
    assert not shopify.run(lambda s: s.verify_webhook(wrong))
    unsigned = wrong.model_copy(
        update={"headers": {k: v for k, v in wrong.headers.items() if "hmac" not in k}}
    )
    assert not shopify.run(lambda s: s.verify_webhook(unsigned))
    # Without a webhook_secret nothing can be verified.
    right = _request(shopify, "orders/create", shopify.sandbox.order_payload(gid))
    assert not shopify.run(lambda s: s.verify_webhook(right), webhook_secret=None)


def test_a_topic_the_spoke_does_not_read_gives_no_record(shopify: Shopify) -> None:
    request = _request(shopify, "products/update", {"id": 1, "title": "Sencha"})
    assert shopify.run(lambda s: s.parse_webhook(request)) == []


def test_a_body_that_is_not_the_topics_shape_is_refused(shopify: Shopify) -> None:
    request = _request(shopify, "orders/create", {"name": "#1001"})
    with pytest.raises(ValueError, match="id"):
        shopify.run(lambda s: s.parse_webhook(request))
    array = WebhookRequest(
        headers={"x-shopify-topic": "orders/create"}, body=json.dumps([1]).encode()
    )
    with pytest.raises(ValueError):
        shopify.run(lambda s: s.parse_webhook(array))


def test_customers_redact_is_a_delete_request_naming_the_customer(shopify: Shopify) -> None:
    gid = sorted(shopify.sandbox.customers)[0]
    request = _request(shopify, "customers/redact", shopify.sandbox.redact_payload(gid))
    [record] = shopify.run(lambda s: s.parse_webhook(request))
    assert record.kind == "privacy_request" and record.stream == "privacy"
    assert isinstance(record.data, PrivacyRequest)
    assert record.data.action is PrivacyAction.DELETE
    assert record.data.reference == request.headers["x-shopify-event-id"]
    assert "customers/redact" in (record.data.reason or "")
    assert "example.com" not in (record.data.reason or "")  # no personal data in it
    assert {(i.type, i.value) for i in record.identifiers} >= {
        ("shopify:customer_id", "7100000000000"),
        ("email", "customer0@example.com"),
    }


def test_a_data_request_is_an_access_request(shopify: Shopify) -> None:
    gid = sorted(shopify.sandbox.customers)[1]
    request = _request(shopify, "customers/data_request", shopify.sandbox.data_request_payload(gid))
    [record] = shopify.run(lambda s: s.parse_webhook(request))
    assert isinstance(record.data, PrivacyRequest)
    assert record.data.action is PrivacyAction.ACCESS
    assert record.data.reference is not None and record.data.reference.startswith("data_request:")


def test_shop_redact_is_acknowledged_without_a_record(shopify: Shopify) -> None:
    request = _request(shopify, "shop/redact", {"shop_id": 1, "shop_domain": "x.myshopify.com"})
    assert shopify.run(lambda s: s.parse_webhook(request)) == []
    broken = _request(shopify, "customers/redact", {"shop_id": 1, "customer": {}})
    with pytest.raises(ValueError, match="names no id"):
        shopify.run(lambda s: s.parse_webhook(broken))
