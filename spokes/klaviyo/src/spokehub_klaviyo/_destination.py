"""The Klaviyo destination: profiles upserted, events tracked, profiles erased."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from spokehub_contracts import (
    AuthError,
    AuthHook,
    Capabilities,
    Change,
    CheckResult,
    CheckStatus,
    ConsentChanged,
    Delivered,
    Destination,
    Identifier,
    Outcome,
    PermanentError,
    RateLimit,
    Rejected,
    RetryAfter,
    SpokeClient,
    Throttled,
    TrackEvent,
    TransientError,
    UpsertPerson,
)

from ._config import PRODUCTION_URL, KlaviyoConfig
from ._errors import KlaviyoRefusal, klaviyo_signal
from ._mapping import deletion_body, event_body, match_keys, profile_body
from ._subscriptions import Subscription, job_body, jobs, refused_position, subscription_for

if TYPE_CHECKING:
    import httpx
    from pydantic import SecretStr

log = logging.getLogger(__name__)

#: Klaviyo's endpoints this spoke calls.
ACCOUNTS_PATH = "/api/accounts"
PROFILE_IMPORT_PATH = "/api/profile-import"
EVENTS_PATH = "/api/events"
DELETION_JOBS_PATH = "/api/data-privacy-deletion-jobs"
#: The spoke's budget: under the steady limit of profile import (700 a minute, the
#: tightest of the write endpoints) and its burst (75 a second).
RATE_LIMIT = RateLimit(requests=10, per_seconds=1)
#: How long the unsent rest of a batch waits after an outage cut the batch short.
RETRY_SECONDS = 30.0
#: The identifiers a deletion job may name, in the order they are erased.
ERASABLE = {"email": "email", "phone": "phone_number"}


def klaviyo_auth(api_key: SecretStr) -> AuthHook:
    """The toolkit :data:`AuthHook` that sends ``Authorization: Klaviyo-API-Key <key>``,
    reading the secret on every request."""

    def add_header(request: httpx.Request) -> Mapping[str, str]:
        return {"Authorization": f"Klaviyo-API-Key {api_key.get_secret_value()}"}

    return add_header


def klaviyo_client(
    capabilities: Capabilities, base_url: str, api_key: SecretStr, revision: str
) -> SpokeClient:
    """A client that speaks JSON:API at ``revision`` with the key, within the spoke's
    rate limit and Klaviyo's throttling signals."""
    return SpokeClient.from_capabilities(
        capabilities,
        base_url=base_url,
        auth=klaviyo_auth(api_key),
        headers={"revision": revision, "Accept": "application/vnd.api+json"},
        throttle_signal=klaviyo_signal,
    )


async def check_api_key(client: SpokeClient, base_url: str) -> CheckResult:
    """List the key's account (``GET /api/accounts``): tells a refused key from an
    outage and from a revision Klaviyo does not know."""
    try:
        await client.get(ACCOUNTS_PATH)
    except AuthError as exc:
        message = f"Klaviyo refused the API key ({exc.status_code}): {exc.vendor_message}"
        return CheckResult(status=CheckStatus.AUTH_ERROR, message=message)
    except (TransientError, Throttled):
        message = f"Klaviyo is unreachable at {base_url}"
        return CheckResult(status=CheckStatus.UNREACHABLE, message=message)
    except PermanentError as exc:
        message = f"Klaviyo refused the request: {exc.vendor_message or exc}"
        return CheckResult(status=CheckStatus.CONFIG_ERROR, message=message)
    return CheckResult(status=CheckStatus.OK, message="Klaviyo accepts the API key")


class KlaviyoDestination(Destination):
    """Keeps Klaviyo's profiles in step with the hub and tracks the hub's events on them.

    An ``upsert_person`` is one ``POST /api/profile-import`` (Klaviyo matches on e-mail,
    phone number or external id and answers the profile's id); an ``event`` is one
    ``POST /api/events``, with the metric named after the event (``Onboarding Due``) and
    the properties as sent (``recommended_products``). Klaviyo takes one profile or event
    a request, so a batch is sent item by item, each item answered alone: a refused item is
    rejected with Klaviyo's reason and the field it pointed at, the others go on. A key
    Klaviyo refuses raises :class:`AuthError`; throttling and outages raise for the first
    item and answer the rest of the batch ``RetryAfter`` once some are sent.
    ``forget()`` requests a data privacy deletion job per e-mail and phone number.
    """

    name: ClassVar[str] = "klaviyo"
    Config: ClassVar[type[KlaviyoConfig]] = KlaviyoConfig
    description: ClassVar[str] = "Klaviyo profiles and events"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("upsert_person", "event", "consent"),
        batch_size=100,
        rate_limit=RATE_LIMIT,
        identifier_types=("email", "phone", "user_id"),
        can_delete=True,
        base_url=PRODUCTION_URL,
        # What Klaviyo is for: its flows and campaigns are marketing e-mail.
        purposes=("email_marketing",),
    )

    config: KlaviyoConfig

    def __init__(self, config: KlaviyoConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        # One client for the spoke's life: its rate limit is shared by every call.
        self.client = klaviyo_client(
            self.capabilities, config.base_url, config.api_key, config.revision
        )

    async def check(self) -> CheckResult:
        """List the key's account (``GET /api/accounts``): tells a refused key from an
        outage and from a revision Klaviyo does not know."""
        return await check_api_key(self.client, self.config.base_url)

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        """Send each change of ``batch`` and answer one outcome per item.

        :raises AuthError: Klaviyo refused the key (the hub pauses the lane).
        :raises Throttled, TransientError: on the first item sent; later in the batch the
            unsent items are answered ``RetryAfter`` instead, so the sent ones are not
            sent again.
        """
        outcomes: dict[str, Outcome] = {}
        consents = [c for c in batch if isinstance(c, ConsentChanged)]
        pending = [c for c in batch if not isinstance(c, ConsentChanged)]
        sent = 0
        cut: tuple[float, str] | None = None
        while pending:
            change = pending.pop(0)
            request = self._request_for(change)
            if isinstance(request, Rejected):
                outcomes[change.item_id] = request
                continue
            path, body = request
            try:
                response = await self.client.post(path, json=body)
            except KlaviyoRefusal as exc:
                reason = f"Klaviyo refused the {_what(change)}: {exc.vendor_message}"
                outcomes[change.item_id] = Rejected(item_id=change.item_id, reason=reason)
                continue
            except PermanentError as exc:
                reason = f"Klaviyo refused the {_what(change)}: {exc}"
                outcomes[change.item_id] = Rejected(item_id=change.item_id, reason=reason)
                continue
            except (Throttled, TransientError) as exc:
                if not sent:
                    raise
                cut = (_wait(exc), str(exc))
                pending.insert(0, change)
                break
            sent += 1
            outcomes[change.item_id] = Delivered(
                item_id=change.item_id, external_id=_profile_id(response)
            )
        entries = []
        for change in consents:
            found = subscription_for(change)
            if found is None:
                # Klaviyo keeps no status for this purpose: nothing there to change.
                outcomes[change.item_id] = Delivered(item_id=change.item_id)
            elif isinstance(found, str):
                outcomes[change.item_id] = Rejected(item_id=change.item_id, reason=found)
            else:
                entries.append(found)
        if cut is None:
            cut = await self._subscribe(entries, outcomes, sent)
        if cut is not None:
            wait, reason = cut
            for left in [*pending, *consents]:
                outcomes.setdefault(
                    left.item_id, RetryAfter(item_id=left.item_id, seconds=wait, reason=reason)
                )
        answered = [outcomes[c.item_id] for c in batch]
        refused = sum(1 for o in answered if not isinstance(o, Delivered))
        log.info("wrote %d change(s) to Klaviyo, %d refused or deferred", len(batch), refused)
        return answered

    async def _subscribe(
        self, entries: Sequence[Subscription], outcomes: dict[str, Outcome], sent: int
    ) -> tuple[float, str] | None:
        """Run the bulk subscription jobs of ``entries``, answering each item in
        ``outcomes``; a profile Klaviyo refuses is taken out and its job sent again.
        Returns the wait and reason when an outage cut the jobs short (the items left
        unanswered), after raising it instead if nothing of the batch was sent yet."""
        for job in jobs(entries):
            todo = list(job)
            while todo:
                try:
                    await self.client.post(todo[0].path, json=job_body(todo, self.config.list_id))
                except KlaviyoRefusal as exc:
                    positions = [refused_position(e.pointer) for e in exc.errors]
                    named = {p for p in positions if p is not None and p < len(todo)}
                    if not positions or any(p is None or p >= len(todo) for p in positions):
                        # Not every complaint names a profile: the job is refused whole.
                        named = set(range(len(todo)))
                    reason = f"Klaviyo refused the subscription change: {exc.vendor_message}"
                    for position in named:
                        item = todo[position].item_id
                        outcomes[item] = Rejected(item_id=item, reason=reason)
                    todo = [s for n, s in enumerate(todo) if n not in named]
                    continue
                except PermanentError as exc:
                    reason = f"Klaviyo refused the subscription change: {exc}"
                    outcomes.update(
                        {s.item_id: Rejected(item_id=s.item_id, reason=reason) for s in todo}
                    )
                    break
                except (Throttled, TransientError) as exc:
                    if not sent:
                        raise
                    return _wait(exc), str(exc)
                sent += 1
                outcomes.update({s.item_id: Delivered(item_id=s.item_id) for s in todo})
                todo = []
        return None

    def _request_for(self, change: Change) -> tuple[str, dict[str, Any]] | Rejected:
        if isinstance(change, UpsertPerson):
            body = profile_body(change.person, change.identifiers, change.scores)
            if not _matches(body["data"]["attributes"]):
                return Rejected(
                    item_id=change.item_id,
                    reason="no e-mail, phone or user_id to match a Klaviyo profile on",
                )
            return PROFILE_IMPORT_PATH, body
        if isinstance(change, TrackEvent):
            if not match_keys(change.identifiers):
                return Rejected(
                    item_id=change.item_id,
                    reason="no e-mail, phone or user_id to tie the event to a Klaviyo profile",
                )
            return EVENTS_PATH, event_body(change.event, change.identifiers)
        return Rejected(
            item_id=change.item_id,
            reason=f"the klaviyo spoke does not take {change.kind} changes",
        )

    async def forget(self, identifiers: Sequence[Identifier]) -> Outcome:
        """Request Klaviyo's data privacy deletion of the profiles with these e-mail
        addresses and phone numbers, one job each (Klaviyo takes one identifier a job).
        Klaviyo answers 202 and deletes the profile with its events shortly after.

        :raises AuthError, Throttled, TransientError: for the hub to retry the erasure.
        """
        targets = [(ERASABLE[i.type], i.value) for i in identifiers if i.type in ERASABLE]
        if not targets:
            return Rejected(item_id="forget", reason="no e-mail or phone number to erase by")
        refused: list[str] = []
        for attribute, value in dict.fromkeys(targets):
            try:
                await self.client.post(DELETION_JOBS_PATH, json=deletion_body(attribute, value))
            except KlaviyoRefusal as exc:
                refused.append(f"{attribute}: {exc.vendor_message}")
        log.info("forget: %d deletion job(s), %d refused", len(targets), len(refused))
        if len(refused) == len(targets):
            return Rejected(item_id="forget", reason=f"Klaviyo refused the erasure: {refused[0]}")
        return Delivered(item_id="forget")

    async def aclose(self) -> None:
        await self.client.aclose()


def _wait(exc: Exception) -> float:
    return exc.retry_after if isinstance(exc, Throttled) else RETRY_SECONDS


def _matches(attributes: Mapping[str, Any]) -> bool:
    return any(attributes.get(key) for key in ("email", "phone_number", "external_id"))


def _what(change: Change) -> str:
    return "event" if isinstance(change, TrackEvent) else "profile"


def _profile_id(response: httpx.Response) -> str | None:
    """The profile id of a profile-import answer; ``None`` for an event (202, no body)."""
    if response.status_code == 202 or not response.content:
        return None
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        # Klaviyo made the profile but its answer was unreadable: it is delivered, the
        # hub just learns no id this time (the next upsert answers it).
        return None
    return str(data["id"]) if isinstance(data, Mapping) and data.get("id") else None
