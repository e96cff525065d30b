"""A made-up vendor, "Demo CRM", written the way a vendor writes a spoke: its sandbox (from
its "documented" shapes), a destination and a source with webhooks, all on the toolkit.
The kit's own tests run the conformance suite on them, and on broken variants."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from spokehub_contracts import (
    AuthError,
    Capabilities,
    Change,
    CheckResult,
    CheckStatus,
    Delivered,
    Destination,
    Identifier,
    Outcome,
    Person,
    RateLimit,
    Rejected,
    RetryAfter,
    Source,
    SourceRecord,
    SpokeClient,
    SpokeConfig,
    StateCheckpoint,
    Stream,
    TransientError,
    UpsertPerson,
    WebhookRequest,
    bearer_auth,
)
from spokehub_contracts.testing import Sandbox, SandboxRequest, SandboxResponse, route

API_KEY = "demo_live_5f2a9c81d7e34b60"
WEBHOOK_SECRET = "whsec_demo_7c1e5b3a9d2f4068"
PRODUCTION = "https://api.demo-crm.example"
PAGE = 5
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _contacts(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"c{n:03d}",
            "email": f"contact{n}@example.com",
            "first_name": f"Name{n}",
            "updated_at": (START + timedelta(minutes=n)).isoformat(),
        }
        for n in range(1, count + 1)
    ]


class DemoSandbox(Sandbox):
    """Demo CRM: ``POST /v1/contacts/batch`` (at most 10), ``POST /v1/contacts/forget``,
    ``GET /v1/contacts`` paged by offset and filtered by ``updated_after``, ``GET /v1/me``.
    Throttling answers 429 with ``{"error": "RATE_LIMITED", "retry_in_ms": …}`` and no
    ``Retry-After``; webhooks are signed over ``<timestamp>.<body>``."""

    name = "demo-crm"
    tokens = (API_KEY,)
    max_batch = 10
    webhook_timestamped = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.contacts = _contacts(23)
        self.stored: dict[str, dict[str, Any]] = {}
        self.forgotten: list[str] = []

    def throttle_response(self, request: SandboxRequest, retry_after: float) -> SandboxResponse:
        return SandboxResponse.json(
            {"error": "RATE_LIMITED", "retry_in_ms": int(retry_after * 1000)}, status=429
        )

    def example_webhook(self) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"topic": "contact.updated", "contact": self.contacts[0]}).encode()
        return body, {"X-Demo-Topic": "contact.updated"}

    @route("GET", "/v1/me", budget="probe")
    def me(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"account": "demo"})

    @route("POST", "/v1/contacts/batch")
    def batch(self, request: SandboxRequest) -> SandboxResponse:
        contacts = request.json()["contacts"]
        if refusal := self.check_batch(request, len(contacts)):
            return refusal
        failed = self.partial_failures(request, len(contacts))
        results = []
        for n, contact in enumerate(contacts):
            if n in failed:
                results.append({"ref": contact["ref"], "status": "error", "retryable": n % 2 == 0})
                continue
            self.stored[contact["email"]] = contact
            results.append({"ref": contact["ref"], "status": "ok", "id": f"v-{contact['ref']}"})
        return SandboxResponse.json({"results": results})

    @route("POST", "/v1/contacts/forget")
    def forget(self, request: SandboxRequest) -> SandboxResponse:
        emails = request.json()["emails"]
        self.forgotten.extend(emails)
        for email in emails:
            self.stored.pop(email, None)
        return SandboxResponse.json({"forgotten": len(emails)})

    @route("GET", "/v1/contacts")
    def list_contacts(self, request: SandboxRequest) -> SandboxResponse:
        after = request.query.get("updated_after")
        matching = [c for c in self.contacts if after is None or c["updated_at"] > after]
        page = self.paginate(request, matching, int(request.query.get("offset", 0)), PAGE)
        return SandboxResponse.json({"contacts": page.items, "next_offset": page.next_start})


class DemoConfig(SpokeConfig):
    api_key: SecretStr
    base_url: str = PRODUCTION


class DemoSourceConfig(DemoConfig):
    webhook_secret: SecretStr


def retry_in_ms(response: httpx.Response) -> float | None:
    """Demo CRM's throttle shape: the wait is in the body, in milliseconds."""
    if response.status_code != 429:
        return None
    try:
        return float(response.json()["retry_in_ms"]) / 1000
    except (ValueError, KeyError, TypeError):
        return None


class _DemoSpoke:
    config: DemoConfig

    def _client(self) -> SpokeClient:
        return SpokeClient.from_capabilities(
            type(self).capabilities,  # type: ignore[attr-defined]
            base_url=self.config.base_url,
            auth=bearer_auth(self.config.api_key),
            throttle_signal=retry_in_ms,
            attempts=3,
        )

    async def check(self) -> CheckResult:
        try:
            await self.client.get("/v1/me")  # type: ignore[attr-defined]
        except AuthError:
            return CheckResult(status=CheckStatus.AUTH_ERROR, message="the API key is refused")
        except TransientError:
            return CheckResult(status=CheckStatus.UNREACHABLE, message="Demo CRM is unreachable")
        return CheckResult(status=CheckStatus.OK)

    async def aclose(self) -> None:
        await self.client.aclose()  # type: ignore[attr-defined]


class DemoDestination(_DemoSpoke, Destination):
    name = "demo"
    Config = DemoConfig
    capabilities = Capabilities(
        record_kinds=("upsert_person", "audience_entered"),
        batch_size=10,
        rate_limit=RateLimit(requests=5, per_seconds=1),
        identifier_types=("email",),
        can_delete=True,
        base_url=PRODUCTION,
    )
    config: DemoConfig

    def __init__(self, config: DemoConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self.client = self._client()

    def contact(self, change: Change) -> dict[str, Any]:
        email = next((i.value for i in change.identifiers if i.type == "email"), None)
        row: dict[str, Any] = {"ref": change.item_id, "email": email}
        if isinstance(change, UpsertPerson):
            row["first_name"] = change.person.first_name
        else:
            row["audience"] = getattr(change, "audience", None)
        return row

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        response = await self.client.post(
            "/v1/contacts/batch", json={"contacts": [self.contact(c) for c in batch]}
        )
        try:
            results = {r["ref"]: r for r in response.json()["results"]}
        except (ValueError, KeyError, TypeError):
            raise TransientError("Demo CRM answered something that is not its JSON") from None
        outcomes: list[Outcome] = []
        for change in batch:
            result = results.get(change.item_id, {"status": "error", "retryable": True})
            if result["status"] == "ok":
                outcomes.append(Delivered(item_id=change.item_id, external_id=result["id"]))
            elif result.get("retryable"):
                outcomes.append(RetryAfter(item_id=change.item_id, seconds=30, reason="busy"))
            else:
                outcomes.append(Rejected(item_id=change.item_id, reason="refused by Demo CRM"))
        return outcomes

    async def forget(self, identifiers: Sequence[Identifier]) -> Outcome:
        emails = [i.value for i in identifiers if i.type == "email"]
        await self.client.post("/v1/contacts/forget", json={"emails": emails})
        return Delivered(item_id="forget")


class DemoSource(_DemoSpoke, Source):
    """Contacts by ``updated_at``; a checkpoint after every page holds the newest time seen."""

    name = "demo"
    Config = DemoSourceConfig
    capabilities = Capabilities(
        record_kinds=("person",),
        identifier_types=("email", "demo:contact_id"),
        incremental=True,
        webhooks=True,
        base_url=PRODUCTION,
    )
    config: DemoSourceConfig

    def __init__(self, config: DemoSourceConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self.client = self._client()

    async def streams(self) -> Sequence[Stream]:
        return [Stream(name="contacts", kind="person", incremental=True)]

    def record(self, contact: Mapping[str, Any]) -> SourceRecord:
        return SourceRecord(
            stream="contacts",
            record_id=contact["id"],
            identifiers=(
                Identifier(type="email", value=contact["email"]),
                Identifier(type="demo:contact_id", value=contact["id"]),
            ),
            data=Person(first_name=contact["first_name"], email=contact["email"]),
        )

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint]:
        after = (state or {}).get("updated_after")
        newest = after
        offset: int | None = 0
        while offset is not None:
            params: dict[str, Any] = {"offset": offset}
            if after:
                params["updated_after"] = after
            body = (await self.client.get("/v1/contacts", params=params)).json()
            for contact in body["contacts"]:
                newest = max(newest or "", contact["updated_at"])
                yield self.record(contact)
            offset = body["next_offset"]
            yield StateCheckpoint(stream=stream, state={"updated_after": newest})

    async def verify_webhook(self, request: WebhookRequest) -> bool:
        timestamp = request.headers.get("X-Timestamp", "")
        signature = request.headers.get("X-Signature", "")
        if not (timestamp.isdigit() and signature):
            return False
        if abs(time.time() - int(timestamp)) > 300:
            return False
        secret = self.config.webhook_secret.get_secret_value().encode()
        digest = hmac.new(secret, f"{timestamp}.".encode() + request.body, hashlib.sha256)
        return hmac.compare_digest(base64.b64encode(digest.digest()).decode(), signature)

    async def parse_webhook(self, request: WebhookRequest) -> Sequence[SourceRecord]:
        return [self.record(json.loads(request.body)["contact"])]


DESTINATION_CONFIG = {"api_key": API_KEY}
SOURCE_CONFIG = {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET}
