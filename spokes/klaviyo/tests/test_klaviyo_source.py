"""The Klaviyo source: consent webhooks verified as Klaviyo signs them and read into
consent records, and the pull of consent events for accounts without webhooks."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from spokehub_contracts import ConsentPurpose, RejectedRecord, SourceRecord, StateCheckpoint
from spokehub_contracts.testing import FakeClock, intercept_clients
from spokehub_klaviyo import KlaviyoSource, KlaviyoSourceConfig, signature
from spokehub_klaviyo.testing import SANDBOX_API_KEY, SANDBOX_WEBHOOK_ID, KlaviyoSandbox

SECRET = "whsec-test-secret-0123456789"


def _source(**config) -> KlaviyoSource:
    return KlaviyoSource(
        KlaviyoSourceConfig.model_validate({"webhook_secret": SECRET, **config}),
        connection="klaviyo-consent",
    )


def _request(sandbox: KlaviyoSandbox, body: bytes | None = None, **kwargs):
    body = body if body is not None else sandbox.consent_webhook()
    headers = {"Klaviyo-Webhook-Id": SANDBOX_WEBHOOK_ID, **kwargs.pop("headers", {})}
    return sandbox.webhook_request(SECRET, body=body, headers=headers, **kwargs)


def test_an_unsubscribe_webhook_becomes_a_denial_of_email_marketing():
    sandbox = KlaviyoSandbox()
    profile_id = sandbox.unsubscribe("Ada@Example.com")
    source = _source()
    request = _request(sandbox)
    assert asyncio.run(source.verify_webhook(request))
    [record] = asyncio.run(source.parse_webhook(request))
    assert record.kind == "consent"
    assert record.data.purpose is ConsentPurpose.EMAIL_MARKETING
    assert record.data.granted is False
    assert record.data.source == "klaviyo-consent"
    assert record.record_id and record.record_id.startswith("evt_")
    assert {str(i) for i in record.identifiers} == {
        f"klaviyo:profile_id:{profile_id}",
        "email:ada@example.com",
    }


def test_the_signature_covers_body_and_timestamp():
    sandbox = KlaviyoSandbox()
    sandbox.unsubscribe("ada@example.com")
    source = _source()
    good = _request(sandbox)
    headers = dict(good.headers)
    assert headers["Klaviyo-Signature"] == signature(
        SECRET, good.body, headers["Klaviyo-Timestamp"]
    )
    tampered = good.model_copy(update={"body": good.body.replace(b"ada", b"eve")})
    assert not asyncio.run(source.verify_webhook(tampered))
    other_secret = sandbox.webhook_request("another-secret-0123456", body=good.body)
    assert not asyncio.run(source.verify_webhook(other_secret))
    stale = _request(sandbox, timestamp=int((datetime.now(UTC) - timedelta(hours=1)).timestamp()))
    assert not asyncio.run(source.verify_webhook(stale))
    # The body names another webhook than its header: Klaviyo says not to trust it.
    mismatch = _request(sandbox, headers={"Klaviyo-Webhook-Id": "01OTHER"})
    assert not asyncio.run(source.verify_webhook(mismatch))
    # A connection without a secret takes no webhooks at all.
    pull_only = KlaviyoSource(KlaviyoSourceConfig(api_key=SANDBOX_API_KEY))
    assert not asyncio.run(pull_only.verify_webhook(good))


def test_other_topics_are_left_out_and_subscribes_grant():
    sandbox = KlaviyoSandbox()
    profile, _ = sandbox._upsert({"email": "bo@example.com", "phone_number": "+14155550100"})
    sandbox.set_consent(profile["id"], "sms", "SUBSCRIBED")
    body = json.loads(sandbox.consent_webhook())
    opened = json.loads(json.dumps(body["data"][0]))
    opened["topic"] = "event:klaviyo.opened_email"
    body["data"].append(opened)
    records = asyncio.run(_source().parse_webhook(_request(sandbox, json.dumps(body).encode())))
    [record] = records
    assert (record.data.purpose, record.data.granted) == (ConsentPurpose.SMS_MARKETING, True)
    assert "phone:+14155550100" in {str(i) for i in record.identifiers}


def test_a_body_that_is_no_webhook_is_refused_with_the_field():
    with pytest.raises(ValueError, match="data"):
        asyncio.run(_source().parse_webhook(_request(KlaviyoSandbox(), b'{"data": 1}')))


def test_a_source_needs_a_secret_or_a_key():
    with pytest.raises(ValueError, match="webhook_secret"):
        KlaviyoSourceConfig.model_validate({})


def test_the_pull_reads_consent_events_from_the_last_one_seen():
    clock = FakeClock()
    sandbox = KlaviyoSandbox(clock=clock)
    sandbox.events_page_size = 2
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    for n in range(3):
        profile, _ = sandbox._upsert({"email": f"p{n}@example.com"})
        sandbox.set_consent(profile["id"], "email", "UNSUBSCRIBED", at=t0 + timedelta(minutes=n))

    async def read(state):
        source = _source(api_key=SANDBOX_API_KEY, base_url=sandbox.url)
        try:
            return [item async for item in source.read("consent", state)]
        finally:
            await source.aclose()

    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        first = asyncio.run(read(None))
        records = [r for r in first if isinstance(r, SourceRecord)]
        assert [str(r.identifiers[1]) for r in records] == [
            "email:p0@example.com",
            "email:p1@example.com",
            "email:p2@example.com",
        ]
        assert all(r.data.granted is False for r in records)
        state = [c for c in first if isinstance(c, StateCheckpoint)][-1].state
        assert asyncio.run(read(state)) == [c for c in first if isinstance(c, StateCheckpoint)][-1:]
        profile, _ = sandbox._upsert({"email": "p3@example.com"})
        sandbox.set_consent(profile["id"], "email", "UNSUBSCRIBED", at=t0 + timedelta(hours=1))
        again = [r for r in asyncio.run(read(state)) if isinstance(r, SourceRecord)]
        assert [str(r.identifiers[1]) for r in again] == ["email:p3@example.com"]
        assert not any(isinstance(r, RejectedRecord) for r in first)


def test_webhooks_only_offer_no_stream():
    assert asyncio.run(_source().streams()) == []
