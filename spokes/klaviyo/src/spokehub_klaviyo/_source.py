"""The Klaviyo source: marketing consent as it changes in Klaviyo, pushed or pulled.

Klaviyo records a person's subscribe, unsubscribe or spam complaint as an event of one
of its consent metrics. A *system webhook* on those topics pushes each one as it happens
(``POST /v1/webhooks/{connection}``), signed with the webhook's secret:
``Klaviyo-Signature`` is the hex HMAC-SHA256 of the raw body followed by the
``Klaviyo-Timestamp`` header. Accounts without webhooks (they need Klaviyo's advanced
data platform) schedule a pull of the same events instead (``GET /api/events`` per
metric, from the last event seen). Either way each event becomes a ``consent`` record:
the purpose and decision, when the person decided, and Klaviyo's event id as evidence.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import SecretStr, model_validator

from spokehub_contracts import (
    Capabilities,
    CheckResult,
    CheckStatus,
    Consent,
    ConsentPurpose,
    Identifier,
    RejectedRecord,
    Source,
    SourceRecord,
    SpokeClient,
    SpokeConfig,
    StateCheckpoint,
    Stream,
    WebhookRequest,
)

from ._config import DEFAULT_REVISION, PRODUCTION_URL, Revision
from ._destination import EVENTS_PATH, RATE_LIMIT, check_api_key, klaviyo_client

METRICS_PATH = "/api/metrics"
#: Klaviyo's consent metrics: name → (topic of its system webhook, purpose, granted).
CONSENT_METRICS: Mapping[str, tuple[str, ConsentPurpose, bool]] = {
    "Subscribed to Email Marketing": (
        "event:klaviyo.subscribed_to_email_marketing",
        ConsentPurpose.EMAIL_MARKETING,
        True,
    ),
    "Unsubscribed from Email Marketing": (
        "event:klaviyo.unsubscribed_from_email_marketing",
        ConsentPurpose.EMAIL_MARKETING,
        False,
    ),
    "Marked Email as Spam": (
        "event:klaviyo.marked_email_as_spam",
        ConsentPurpose.EMAIL_MARKETING,
        False,
    ),
    "Subscribed to SMS Marketing": (
        "event:klaviyo.subscribed_to_sms_marketing",
        ConsentPurpose.SMS_MARKETING,
        True,
    ),
    "Unsubscribed from SMS Marketing": (
        "event:klaviyo.unsubscribed_from_sms_marketing",
        ConsentPurpose.SMS_MARKETING,
        False,
    ),
}
#: Topic → (purpose, granted), for webhooks.
CONSENT_TOPICS: Mapping[str, tuple[ConsentPurpose, bool]] = {
    topic: (purpose, granted) for topic, purpose, granted in CONSENT_METRICS.values()
}
#: The stream a pull reads and the webhooks' records belong to.
STREAM = "consent"
#: The identifier a Klaviyo profile id becomes in the hub.
PROFILE_ID_TYPE = "klaviyo:profile_id"


class KlaviyoSourceConfig(SpokeConfig):
    """Configuration of a Klaviyo source connection.

    :param webhook_secret: the secret of the system webhook subscribed to the consent
        topics (``${KLAVIYO_WEBHOOK_SECRET}``); without it webhooks are refused.
    :param api_key: a private key with ``events:read`` and ``metrics:read``, for accounts
        that pull instead (give the connection a ``schedule``).
    :param base_url: the API root, Klaviyo's production API unless set.
    :param revision: the dated API revision of every request.
    :param max_webhook_age_seconds: a webhook signed longer ago than this is refused, so a
        captured request cannot be replayed later.
    """

    webhook_secret: SecretStr | None = None
    api_key: SecretStr | None = None
    base_url: str = PRODUCTION_URL
    revision: Revision = DEFAULT_REVISION
    max_webhook_age_seconds: float = 300.0

    @model_validator(mode="after")
    def _some_way_in(self) -> KlaviyoSourceConfig:
        if self.webhook_secret is None and self.api_key is None:
            raise ValueError("set webhook_secret (webhooks), api_key (a scheduled pull) or both")
        return self


def signature(secret: str, body: bytes, timestamp: str) -> str:
    """``Klaviyo-Signature`` of ``body`` sent at ``timestamp`` (the header's text)."""
    return hmac.new(
        secret.encode("utf-8"), body + timestamp.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def _moment(value: Any) -> datetime | None:
    """A Klaviyo time: ISO-8601 text, or seconds (or milliseconds) since the epoch."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        seconds = float(value)
        return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def identifiers_of(profile_id: str | None, attributes: Mapping[str, Any]) -> list[Identifier]:
    """The hub's identifiers of a Klaviyo profile: its id, e-mail, phone number and
    external id (as ``user_id``). One that breaks its type's rule is left out."""
    found: list[Identifier] = []
    candidates = [
        (PROFILE_ID_TYPE, profile_id),
        ("email", attributes.get("email")),
        ("phone", attributes.get("phone_number")),
        ("user_id", attributes.get("external_id")),
    ]
    for kind, value in candidates:
        if not isinstance(value, str) or not value:
            continue
        try:
            found.append(Identifier(type=kind, value=value))
        except ValueError:
            continue
    return found


def consent_record(
    event: Mapping[str, Any],
    included: Sequence[Any],
    purpose: ConsentPurpose,
    granted: bool,
    source: str,
) -> SourceRecord | RejectedRecord:
    """One consent event of Klaviyo's events API (the shape a webhook's ``payload`` has,
    too) as a ``consent`` record."""
    event_id = event.get("id")
    location = f"event {event_id}" if event_id else "event"
    attributes = event.get("attributes") or {}
    moment = _moment(attributes.get("datetime")) or _moment(attributes.get("timestamp"))
    if moment is None:
        return RejectedRecord(
            stream=STREAM, location=location, field="attributes.datetime", rule="is required"
        )
    profile_id = _get(event, "relationships", "profile", "data", "id")
    profile = next(
        (
            p
            for p in included
            if isinstance(p, Mapping) and p.get("type") == "profile" and p.get("id") == profile_id
        ),
        {},
    )
    identifiers = identifiers_of(profile_id, profile.get("attributes") or {})
    if not identifiers:
        return RejectedRecord(
            stream=STREAM,
            location=location,
            field="relationships.profile",
            rule="names no profile",
        )
    return SourceRecord(
        stream=STREAM,
        record_id=str(event_id) if event_id else None,
        identifiers=tuple(identifiers),
        data=Consent(purpose=purpose, granted=granted, source=source, recorded_at=moment),
        observed_at=moment,
    )


class KlaviyoSource(Source):
    """Marketing consent from Klaviyo: system webhooks and a pull of consent events."""

    name: ClassVar[str] = "klaviyo"
    Config: ClassVar[type[KlaviyoSourceConfig]] = KlaviyoSourceConfig
    description: ClassVar[str] = "Klaviyo e-mail and SMS consent (webhooks or a pull)"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("consent",),
        rate_limit=RATE_LIMIT,
        identifier_types=("email", "phone", "user_id", PROFILE_ID_TYPE),
        base_url=PRODUCTION_URL,
        incremental=True,
        webhooks=True,
    )

    config: KlaviyoSourceConfig

    def __init__(self, config: KlaviyoSourceConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self._client: SpokeClient | None = None

    @property
    def client(self) -> SpokeClient:
        if self.config.api_key is None:
            raise RuntimeError("the Klaviyo source pulls only with an api_key")
        if self._client is None:
            self._client = klaviyo_client(
                self.capabilities, self.config.base_url, self.config.api_key, self.config.revision
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def check(self) -> CheckResult:
        """With a key, list its account (a refused key tells itself apart from an
        outage); webhooks alone have nothing to call."""
        if self.config.api_key is None:
            return CheckResult(status=CheckStatus.OK, message="webhooks only: nothing to call")
        return await check_api_key(self.client, self.config.base_url)

    # -- push --------------------------------------------------------------------------

    async def verify_webhook(self, request: WebhookRequest) -> bool:
        """The body is signed with the webhook's secret at a recent ``Klaviyo-Timestamp``,
        and names the webhook its ``Klaviyo-Webhook-Id`` header names."""
        secret = self.config.webhook_secret
        if secret is None:
            return False
        headers = {k.lower(): v for k, v in request.headers.items()}
        given = headers.get("klaviyo-signature", "")
        stamp = headers.get("klaviyo-timestamp", "")
        if not given or not stamp:
            return False
        expected = signature(secret.get_secret_value(), request.body, stamp)
        if not hmac.compare_digest(expected, given.strip().lower()):
            return False
        sent = _moment(stamp)
        if (
            sent is None
            or abs(time.time() - sent.timestamp()) > self.config.max_webhook_age_seconds
        ):
            return False
        webhook_id = headers.get("klaviyo-webhook-id")
        if webhook_id:
            try:
                named = _get(orjson.loads(request.body), "meta", "klaviyo_webhook_id")
            except orjson.JSONDecodeError:
                return False
            # Klaviyo: a body naming another webhook than its header is not to be trusted.
            if named is not None and named != webhook_id:
                return False
        return True

    async def parse_webhook(self, request: WebhookRequest) -> Sequence[SourceRecord]:
        """The consent events of the webhook's ``data`` as records; other topics (a
        webhook may carry e-mail opens too) are left out."""
        body = orjson.loads(request.body)
        items = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise ValueError("data: must be a list of webhook events")
        records: list[SourceRecord] = []
        for item in items:
            meaning = CONSENT_TOPICS.get(str(_get(item, "topic")))
            if meaning is None:
                continue
            payload = _get(item, "payload") or {}
            event = payload.get("data") if isinstance(payload, Mapping) else None
            if not isinstance(event, Mapping):
                raise ValueError("data[].payload.data: must be an event resource")
            if "id" not in event and _get(item, "external_id"):
                event = {**event, "id": item["external_id"]}
            record = consent_record(
                event, payload.get("included") or [], *meaning, source=self.connection or self.name
            )
            if isinstance(record, RejectedRecord):
                raise ValueError(f"{record.location}: {record.field} {record.rule}")
            records.append(record)
        return records

    # -- pull --------------------------------------------------------------------------

    async def streams(self) -> Sequence[Stream]:
        if self.config.api_key is None:
            return []
        return [
            Stream(
                name=STREAM,
                kind="consent",
                incremental=True,
                description="subscribes, unsubscribes and spam complaints, e-mail and SMS",
            )
        ]

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        """Each consent metric's events since the last one read, oldest first, with a
        checkpoint after every page: ``{"since": {metric: datetime}, "at": {metric: [event
        ids at that datetime]}}``. Klaviyo's times are whole seconds, so the read resumes at
        the last second seen and passes over the events of it already read."""
        if stream != STREAM:
            raise ValueError(f"unknown stream {stream!r} (the Klaviyo source has {STREAM!r})")
        since: dict[str, str] = dict((state or {}).get("since") or {})
        at: dict[str, list[str]] = {k: list(v) for k, v in ((state or {}).get("at") or {}).items()}
        metric_ids = await self._metric_ids()
        source = self.connection or self.name
        for name, (_topic, purpose, granted) in CONSENT_METRICS.items():
            metric_id = metric_ids.get(name)
            if metric_id is None:
                continue
            condition = f'equals(metric_id,"{metric_id}")'
            if name in since:
                condition = f"and({condition},greater-or-equal(datetime,{since[name]}))"
            read: set[str] = set(at.get(name, ()))
            url: str | None = EVENTS_PATH
            params: dict[str, str] | None = {
                "filter": condition,
                "include": "profile",
                "sort": "datetime",
            }
            while url:
                doc = (await self.client.get(url, params=params)).json()
                for event in doc.get("data") or []:
                    event_id = str(event.get("id"))
                    if event_id in read:
                        continue  # read before this second's resume, or a page served twice
                    read.add(event_id)
                    yield consent_record(event, doc.get("included") or [], purpose, granted, source)
                    text = _get(event, "attributes", "datetime")
                    seen = _moment(text)
                    last = _moment(since[name]) if name in since else None
                    # The latest second seen, whatever order a page came in.
                    if seen is not None and (last is None or seen > last):
                        since[name], at[name] = str(text), [event_id]
                    elif seen is not None and seen == last:
                        at.setdefault(name, []).append(event_id)
                yield StateCheckpoint(
                    stream=STREAM,
                    state={"since": dict(since), "at": {k: list(v) for k, v in at.items()}},
                )
                url = _get(doc, "links", "next")
                params = None

    async def _metric_ids(self) -> dict[str, str]:
        found: dict[str, str] = {}
        url: str | None = METRICS_PATH
        while url:
            doc = (await self.client.get(url)).json()
            for metric in doc.get("data") or []:
                name = _get(metric, "attributes", "name")
                if name in CONSENT_METRICS and isinstance(metric.get("id"), str):
                    found[name] = metric["id"]
            url = _get(doc, "links", "next")
        return found
