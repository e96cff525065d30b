"""The client of a HubSpot connection, source or destination, and the check of its token."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from spokehub_contracts import (
    AuthError,
    Capabilities,
    CheckResult,
    CheckStatus,
    PermanentError,
    SpokeClient,
    Throttled,
    TransientError,
    bearer_auth,
)

from ._config import HubSpotConfig
from ._errors import hubspot_signal
from ._source_config import HubSpotSourceConfig


def hubspot_client(
    capabilities: Capabilities, config: HubSpotConfig | HubSpotSourceConfig
) -> SpokeClient:
    """A client with the connection's token, within the spoke's rate limit, that reads
    HubSpot's limits (the daily one resets at midnight in the account's time zone)."""
    return SpokeClient.from_capabilities(
        capabilities,
        base_url=config.base_url,
        auth=bearer_auth(config.access_token),
        throttle_signal=hubspot_signal(config.time_zone),
    )


async def check_access(request: Awaitable[Any], *, scopes: str, missing: str) -> CheckResult:
    """Await ``request``, a call the connection needs, and tell a refused token (or a
    missing scope: ``scopes`` names the ones to grant) from an outage and from a
    ``base_url`` that is no HubSpot (``missing`` says what is not there)."""
    try:
        await request
    except AuthError as exc:
        message = f"HubSpot refused the access token: {exc.vendor_message or exc.status_code}"
        if exc.status_code == 403:
            message += f" (give the private app {scopes})"
        return CheckResult(status=CheckStatus.AUTH_ERROR, message=message)
    except (TransientError, Throttled) as exc:
        return CheckResult(status=CheckStatus.UNREACHABLE, message=str(exc))
    except PermanentError as exc:
        return CheckResult(status=CheckStatus.CONFIG_ERROR, message=f"{missing}: {exc}")
    return CheckResult(status=CheckStatus.OK, message="HubSpot accepts the access token")
