"""HubSpot's documented answers, read as the spoke reads them: the 429 bodies of each
limit policy, 400 ``VALIDATION_ERROR`` with its errors, 207 Multi-Status, and the 401
and 403 bodies, through the toolkit client as a real response would come."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from spokehub_contracts import AuthError, SpokeClient, Throttled
from spokehub_hubspot import (
    HubSpotError,
    HubSpotValidationError,
    batch_errors,
    hubspot_signal,
    seconds_to_midnight,
)

TEN_SECONDLY = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
    "policyName": "TEN_SECONDLY_ROLLING",
    "requestId": "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd",
}
DAILY = {
    **TEN_SECONDLY,
    "message": "You have reached your daily limit.",
    "policyName": "DAILY",
}
UNAUTHORIZED = {
    "status": "error",
    "message": "Authentication credentials not found. This API supports OAuth 2.0"
    " authentication and you can find more details at"
    " https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    "correlationId": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "category": "INVALID_AUTHENTICATION",
}
MISSING_PROPERTY = {
    "status": "error",
    "message": 'Property values were not valid: [{"isValid":false,"message":"Property'
    ' \\"churn_risk\\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"churn_risk"}]',
    "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
    "category": "VALIDATION_ERROR",
}
INVALID_EMAIL = {
    "status": "error",
    "message": 'Property values were not valid: [{"isValid":false,"message":"Email address'
    ' ada@@example.com is invalid","error":"INVALID_EMAIL","name":"email"}]',
    "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
    "category": "VALIDATION_ERROR",
    "errors": [
        {
            "message": "Email address ada@@example.com is invalid",
            "code": "INVALID_EMAIL",
            "context": {"propertyName": ["email"]},
        }
    ],
}
MULTI_STATUS = {
    "status": "COMPLETE",
    "results": [
        {
            "id": "512",
            "properties": {"email": "ada@example.com"},
            "createdAt": "2026-03-10T14:30:00.000Z",
            "updatedAt": "2026-03-10T14:30:00.000Z",
            "archived": False,
            "new": True,
            "objectWriteTraceId": "0",
        }
    ],
    "numErrors": 1,
    "errors": [
        {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid",
            "context": {"objectWriteTraceId": ["1"]},
            "errors": [],
            "links": {},
        }
    ],
    "startedAt": "2026-03-10T14:30:00.000Z",
    "completedAt": "2026-03-10T14:30:00.100Z",
}

NOW = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert")
    return httpx.Response(status, json=body, headers=headers, request=request)


def signal(time_zone: str = "UTC") -> Any:
    return hubspot_signal(time_zone, now=lambda: NOW)


def test_the_burst_limit_waits_its_window() -> None:
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    assert signal()(response(429, TEN_SECONDLY, headers)) == 10.0
    # Without the header: the documented ten seconds.
    assert signal()(response(429, TEN_SECONDLY)) == 10.0


def test_the_daily_limit_waits_until_midnight_in_the_accounts_time_zone() -> None:
    assert signal()(response(429, DAILY)) == 2 * 3600
    # 22:00 UTC is 23:00 in Amsterdam (CET): an hour to its midnight.
    assert signal("Europe/Amsterdam")(response(429, DAILY)) == 3600
    # And 07:00 the next day in Tokyo: seventeen hours.
    assert signal("Asia/Tokyo")(response(429, DAILY)) == 17 * 3600


def test_the_search_limit_waits_a_second() -> None:
    assert signal()(response(429, {**TEN_SECONDLY, "policyName": "SECONDLY"})) == 1.0


def test_a_retry_after_wins() -> None:
    assert signal()(response(429, DAILY, {"Retry-After": "30"})) == 30.0


def test_a_plain_429_is_left_to_the_client() -> None:
    assert signal()(response(429, {"message": "slow down"}, {"Retry-After": "7"})) is None
    assert signal()(response(200, {"results": []})) is None


def test_a_validation_error_is_read_with_its_body() -> None:
    with pytest.raises(HubSpotValidationError) as caught:
        signal()(response(400, MISSING_PROPERTY))
    error = caught.value.error
    assert error.category == "VALIDATION_ERROR"
    assert error.missing_properties() == {"churn_risk"}
    assert error.only_missing_properties()
    assert caught.value.status_code == 400
    assert "/crm/v3/objects/contacts/batch/upsert" in str(caught.value)


def test_an_invalid_email_is_no_missing_property_and_stays_masked() -> None:
    with pytest.raises(HubSpotValidationError) as caught:
        signal()(response(400, INVALID_EMAIL))
    error = caught.value.error
    assert error.missing_properties() == set()
    assert not error.only_missing_properties()
    assert [d.code for d in error.details] == ["INVALID_EMAIL"]
    assert "ada@@example.com" in error.message  # kept as HubSpot wrote it …
    assert "example.com" not in error.describe()  # … but never shown
    assert "example.com" not in str(caught.value)
    assert error.describe().startswith("VALIDATION_ERROR: Property values were not valid")


def test_a_207_names_the_failed_inputs_by_trace_id() -> None:
    [error] = batch_errors(MULTI_STATUS)
    assert error.trace_ids() == ["1"]
    assert error.category == "VALIDATION_ERROR"
    assert batch_errors({"status": "COMPLETE", "results": []}) == []


def test_an_error_body_parses_to_its_fields() -> None:
    error = HubSpotError.of(UNAUTHORIZED)
    assert error is not None
    assert error.category == "INVALID_AUTHENTICATION"
    assert error.correlation_id == "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
    assert HubSpotError.of({"results": []}) is None
    assert HubSpotError.of(["not", "an", "object"]) is None


def test_seconds_to_midnight_across_a_daylight_saving_change() -> None:
    from zoneinfo import ZoneInfo

    # The night the clocks go forward in Amsterdam is an hour shorter.
    before = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET on the 29th
    assert seconds_to_midnight(ZoneInfo("Europe/Amsterdam"), before) == 23 * 3600


def _client(status: int, body: Any, headers: dict[str, str] | None = None) -> SpokeClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)

    async def no_wait(seconds: float) -> None:
        return None

    return SpokeClient(
        "https://api.hubapi.com",
        transport=httpx.MockTransport(answer),
        throttle_signal=signal(),
        attempts=1,
        sleep=no_wait,
    )


def test_through_the_client_a_401_is_an_auth_error() -> None:
    async def call() -> None:
        async with _client(401, UNAUTHORIZED) as client:
            await client.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": []})

    with pytest.raises(AuthError) as caught:
        asyncio.run(call())
    assert "Authentication credentials not found" in caught.value.vendor_message


def test_through_the_client_a_daily_429_is_throttled_for_hours() -> None:
    async def call() -> None:
        async with _client(429, DAILY) as client:
            await client.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": []})

    with pytest.raises(Throttled) as caught:
        asyncio.run(call())
    assert caught.value.retry_after == 2 * 3600
