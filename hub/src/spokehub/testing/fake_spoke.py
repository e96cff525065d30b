"""A destination spoke for the fake vendor, built on the contracts' HTTP toolkit the way a
real spoke is. Tests make variants with :func:`destination_class` and register them with
``Registry.load(extra_plugins=[("fake", plugin(...))])``."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from pydantic import SecretStr

from spokehub_contracts import AuthError as _AuthError
from spokehub_contracts import (
    Capabilities,
    Change,
    CheckResult,
    CheckStatus,
    Delivered,
    Destination,
    Outcome,
    RateLimit,
    Rejected,
    RetryAfter,
    SpokeClient,
    SpokeConfig,
    TransientError,
    bearer_auth,
    hookimpl,
)

ALL_KINDS = (
    "upsert_person",
    "upsert_account",
    "upsert_membership",
    "event",
    "audience_entered",
    "audience_exited",
)


class FakeVendorConfig(SpokeConfig):
    base_url: str
    token: SecretStr = SecretStr("fake-token")
    timeout: float = 5.0


class FakeVendorDestination(Destination):
    """Sends batches to ``POST /batch``; one HTTP request per ``write()``."""

    name = "fake-vendor"
    Config = FakeVendorConfig
    capabilities = Capabilities(record_kinds=ALL_KINDS, batch_size=10)

    def __init__(self, config: SpokeConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        assert isinstance(config, FakeVendorConfig)
        self.client = SpokeClient.from_capabilities(
            type(self).capabilities,
            base_url=config.base_url,
            auth=bearer_auth(config.token),
            timeout=config.timeout,
            # The hub schedules retries itself; the client reports every failure at once.
            attempts=1,
        )

    async def check(self) -> CheckResult:
        try:
            await self.client.get("/check")
        except _AuthError as exc:
            return CheckResult(status=CheckStatus.AUTH_ERROR, message=str(exc))
        return CheckResult(status=CheckStatus.OK)

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        # The toolkit encodes the changes themselves (as ``model_dump(mode="json")``).
        response = await self.client.post("/batch", json={"items": list(batch)})
        try:
            results: list[dict[str, Any]] = response.json()["results"]
        except (ValueError, KeyError, TypeError):
            raise TransientError("the vendor's answer was not the expected JSON") from None
        outcomes: list[Outcome] = []
        for result in results:
            item_id = result["item_id"]
            if result["ok"]:
                outcomes.append(Delivered(item_id=item_id, external_id=result.get("id")))
            elif result.get("retryable"):
                outcomes.append(RetryAfter(item_id=item_id, seconds=0.05, reason=result["message"]))
            else:
                outcomes.append(Rejected(item_id=item_id, reason=result["message"]))
        return outcomes

    async def aclose(self) -> None:
        await self.client.aclose()


def destination_class(
    name: str,
    *,
    batch_size: int = 10,
    rate_limit: RateLimit | None = None,
    record_kinds: tuple[str, ...] = ALL_KINDS,
    upserts: bool = True,
) -> type[FakeVendorDestination]:
    """A variant of the fake destination with its own name and capabilities."""
    caps = Capabilities(
        record_kinds=record_kinds, batch_size=batch_size, rate_limit=rate_limit, upserts=upserts
    )
    return type(
        f"FakeVendor_{name.replace('-', '_')}",
        (FakeVendorDestination,),
        {"name": name, "capabilities": caps},
    )


def plugin(*classes: type[Destination]) -> Any:
    """A plugin object registering ``classes``, for ``Registry.load(extra_plugins=...)``."""

    @hookimpl
    def register_destinations(register: Any) -> None:
        for cls in classes:
            register(cls)

    return SimpleNamespace(register_destinations=register_destinations)
