"""The Meta Custom Audiences destination: audience membership as Custom Audience users."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from spokehub_contracts import (
    AudienceEntered,
    AudienceExited,
    AuthError,
    Capabilities,
    Change,
    CheckResult,
    CheckStatus,
    Delivered,
    Destination,
    Identifier,
    Outcome,
    PermanentError,
    RateLimit,
    Rejected,
    SpokeClient,
    Throttled,
    TransientError,
    bearer_auth,
)

from ._audiences import AudienceDirectory
from ._config import PRODUCTION_URL, MetaAudiencesConfig
from ._graph import graph_signal
from ._matching import MAX_USERS_PER_REQUEST, Row, payload, rows_of

log = logging.getLogger(__name__)

Operation = Literal["add", "remove"]
_METHOD: dict[Operation, str] = {"add": "POST", "remove": "DELETE"}


@dataclass
class _Group:
    """The changes of one batch that go to one audience the same way, as one session."""

    audience: str
    operation: Operation
    items: list[tuple[str, list[Row]]] = field(default_factory=list)

    @property
    def rows(self) -> list[tuple[str, Row]]:
        return [(item_id, row) for item_id, rows in self.items for row in rows]


#: Sessions (one audience and direction each) a batch sends at once.
CONCURRENT_SESSIONS = 4


class MetaAudiencesDestination(Destination):
    """Keeps Meta Custom Audiences in step with the hub's audiences: a person entering an
    audience is added to the Custom Audience of that name, one leaving it is removed.

    People are sent as SHA-256 hashes of their e-mail addresses and phone numbers,
    normalized by Meta's rules, never in clear. The changes of a batch go as one session
    per audience and direction, at most 10,000 rows a request
    (``POST``/``DELETE /{api_version}/{audience_id}/users``). Adding and removing are
    idempotent at Meta, so a batch sent again after a failure does no harm.
    """

    name: ClassVar[str] = "meta_audiences"
    Config: ClassVar[type[MetaAudiencesConfig]] = MetaAudiencesConfig
    description: ClassVar[str] = "Meta (Facebook, Instagram) Custom Audiences"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("audience_entered", "audience_exited"),
        batch_size=MAX_USERS_PER_REQUEST,
        # The floor of Meta's custom-audience budget (it grows with the app's access
        # tier and the number of audiences); Graph's own throttle answer is always obeyed.
        rate_limit=RateLimit(requests=5000, per_seconds=3600),
        identifier_types=("email", "phone"),
        can_delete=True,
        base_url=PRODUCTION_URL,
        purposes=("ads_personalization",),
    )

    config: MetaAudiencesConfig

    def __init__(self, config: MetaAudiencesConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        # One client for the spoke's life: its rate limit is shared by every call.
        self.client = SpokeClient.from_capabilities(
            self.capabilities,
            base_url=config.base_url,
            auth=bearer_auth(config.access_token),
            throttle_signal=graph_signal,
        )
        self.audiences = AudienceDirectory(self.client, config)

    async def check(self) -> CheckResult:
        """Read the ad account: tells a refused token from an outage from an ad account
        the token cannot see."""
        account = f"act_{self.config.ad_account_id}"
        try:
            await self.client.get(
                self.config.account_path, params={"fields": "id,name,account_status"}
            )
        except AuthError as exc:
            message = f"Meta refused the access token: {exc.vendor_message}"
            return CheckResult(status=CheckStatus.AUTH_ERROR, message=message)
        except (TransientError, Throttled) as exc:
            return CheckResult(status=CheckStatus.UNREACHABLE, message=str(exc))
        except PermanentError as exc:
            message = f"ad account {account} is not readable with this token: {exc.vendor_message}"
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message=message)
        return CheckResult(status=CheckStatus.OK, message=f"ad account {account} is readable")

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        """Add the people of ``audience_entered`` changes to their audience's Custom
        Audience and remove those of ``audience_exited`` changes, one outcome per item.

        Of several changes about the same person and audience in one batch the last one
        counts, and the earlier ones share its outcome. A change without an e-mail or a
        phone cannot be matched and is rejected without a request; items Meta reports
        invalid are rejected; a request Meta refuses rejects the items it carried.

        :raises AuthError: the token was refused or lacks ``ads_management``.
        :raises Throttled: Meta asked to wait longer than the client waits itself.
        :raises TransientError: Meta stayed unreachable or answered something else.
        """
        outcomes: dict[str, Outcome] = {}
        # (audience, the person's rows) → the last change about them: (item, operation, rows)
        latest: dict[tuple[str, tuple[Row, ...]], tuple[str, Operation, list[Row]]] = {}
        earlier: dict[tuple[str, tuple[Row, ...]], list[str]] = {}
        for change in batch:
            if not isinstance(change, AudienceEntered | AudienceExited):
                reason = f"{self.name} takes audience_entered and audience_exited changes only"
                outcomes[change.item_id] = Rejected(item_id=change.item_id, reason=reason)
                continue
            rows = rows_of(change.identifiers)
            if not rows:
                reason = "no e-mail address or phone number to match on"
                outcomes[change.item_id] = Rejected(item_id=change.item_id, reason=reason)
                continue
            key = (change.audience, tuple(rows))
            if key in latest:
                earlier.setdefault(key, []).append(latest[key][0])
            operation: Operation = "add" if isinstance(change, AudienceEntered) else "remove"
            latest[key] = (change.item_id, operation, rows)
        groups: dict[tuple[str, Operation], _Group] = {}
        for (audience, _), (item_id, operation, rows) in latest.items():
            group = groups.setdefault((audience, operation), _Group(audience, operation))
            group.items.append((item_id, rows))
        # Audiences are found or created one at a time, so that two groups of one
        # audience never both create it; then the sessions go a few at once, each a round
        # trip Meta answers on its own (a buyer enters and leaves several audiences).
        for audience in dict.fromkeys(group.audience for group in groups.values()):
            with contextlib.suppress(PermanentError):
                await self.audiences.resolve(audience)
        slots = asyncio.Semaphore(CONCURRENT_SESSIONS)

        async def send(group: _Group) -> dict[str, Outcome]:
            async with slots:
                return await self._send_group(group)

        answers = await asyncio.gather(
            *(send(group) for group in groups.values()), return_exceptions=True
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            outcomes.update(answer)
        for key, superseded in earlier.items():
            # Earlier changes about the same person and audience share the last one's fate.
            last = outcomes[latest[key][0]]
            for item_id in superseded:
                outcomes[item_id] = last.model_copy(update={"item_id": item_id})
        return [outcomes[change.item_id] for change in batch]

    async def forget(self, identifiers: Sequence[Identifier]) -> Outcome:
        """Remove the person from every customer-file Custom Audience of the ad account.

        Meta keeps no customer record a spoke could delete: matched hashes are discarded
        once matched, and what remains is membership in audiences, which this ends.
        """
        rows = rows_of(identifiers)
        if not rows:
            return Rejected(item_id="forget", reason="no e-mail address or phone number")
        audience_ids = [
            str(a["id"]) async for a in self.audiences.listing() if a.get("subtype") == "CUSTOM"
        ]
        failed: list[str] = []
        for audience_id in audience_ids:
            try:
                await self._send(audience_id, "remove", rows, _session(len(rows)), 1, True)
            except PermanentError as exc:
                failed.append(exc.vendor_message or str(exc.status_code))
        log.info("forget: removed from %d audiences, %d refused", len(audience_ids), len(failed))
        if failed:
            reason = f"Meta refused the removal from {len(failed)} of {len(audience_ids)}"
            return Rejected(item_id="forget", reason=f"{reason} audiences: {failed[0]}")
        return Delivered(item_id="forget")

    async def create_lookalike(
        self, name: str, seed: str, *, country: str, ratio: float = 0.01
    ) -> str:
        """Create (or find) the lookalike audience ``name`` of hub audience ``seed`` in
        ``country``, the most similar ``ratio`` (0.01 to 0.20) of its people; answer its
        Custom Audience id. See :meth:`AudienceDirectory.create_lookalike`."""
        return await self.audiences.create_lookalike(name, seed, country=country, ratio=ratio)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _send_group(self, group: _Group) -> dict[str, Outcome]:
        """Send one group as one session and answer its items' outcomes."""
        item_ids = [item_id for item_id, _ in group.items]
        try:
            audience_id = await self.audiences.resolve(group.audience)
        except PermanentError as exc:
            reason = f"no Custom Audience for {group.audience!r}: {exc.vendor_message or exc}"
            return {i: Rejected(item_id=i, reason=reason) for i in item_ids}
        rows = group.rows
        session = _session(len(rows))
        invalid: dict[str, str] = {}
        chunks = [
            rows[start : start + MAX_USERS_PER_REQUEST]
            for start in range(0, len(rows), MAX_USERS_PER_REQUEST)
        ]
        for number, chunk in enumerate(chunks, start=1):
            try:
                answer = await self._send(
                    audience_id,
                    group.operation,
                    [row for _, row in chunk],
                    session,
                    number,
                    number == len(chunks),
                )
            except PermanentError as exc:
                self.audiences.forget_id(group.audience)
                reason = f"Meta refused the request: {exc.vendor_message or exc.status_code}"
                return {i: Rejected(item_id=i, reason=reason) for i in item_ids}
            invalid.update(_invalid_entries(answer))
        return {item_id: _outcome(item_id, rows, invalid) for item_id, rows in group.items}

    async def _send(
        self,
        audience_id: str,
        operation: Operation,
        rows: Sequence[Row],
        session: dict[str, Any],
        batch_seq: int,
        last: bool,
    ) -> dict[str, Any]:
        """One users request: ``rows`` as batch ``batch_seq`` of ``session``."""
        session = {**session, "batch_seq": batch_seq, "last_batch_flag": last}
        response = await self.client.request(
            _METHOD[operation],
            f"/{self.config.api_version}/{audience_id}/users",
            # A JSON body: Graph reads parameters from one as from a form, and 10,000
            # hashes stay smaller than URL-encoded.
            json={"payload": payload(rows), "session": session},
        )
        try:
            answer = response.json()
            received = int(answer["num_received"])
        except (ValueError, KeyError, TypeError):
            raise TransientError("Graph answered the users request without its JSON") from None
        log.info(
            "%s %d rows on audience %s: %d received, %s invalid",
            operation,
            len(rows),
            audience_id,
            received,
            answer.get("num_invalid_entries", 0),
        )
        return dict(answer)


def _session(total: int) -> dict[str, Any]:
    """A new upload session for ``total`` rows (Meta tracks the batches by its id)."""
    return {"session_id": secrets.randbits(62), "estimated_num_total": total}


def _invalid_entries(answer: dict[str, Any]) -> dict[str, str]:
    """Meta's ``invalid_entry_samples``: each invalid value (a hash as sent) → why."""
    samples = answer.get("invalid_entry_samples")
    if not isinstance(samples, dict):
        return {}
    return {str(value): str(reason) for value, reason in samples.items()}


def _outcome(item_id: str, rows: Sequence[Row], invalid: dict[str, str]) -> Outcome:
    """Rejected when Meta named every row of the item invalid, else delivered. Meta names
    a sample of the invalid entries only: an item it did not name counts as delivered."""
    reasons = [
        next(invalid[value] for value in row if value in invalid)
        for row in rows
        if any(value in invalid for value in row if value)
    ]
    if rows and len(reasons) == len(rows):
        return Rejected(item_id=item_id, reason=f"Meta found the entry invalid: {reasons[0]}")
    return Delivered(item_id=item_id)
