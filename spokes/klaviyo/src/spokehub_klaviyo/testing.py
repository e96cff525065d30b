"""A sandbox of Klaviyo's API, for tests, demos and trying the spoke offline.

Built from Klaviyo's documented request and response shapes on the conformance kit's
server base: JSON:API documents in and out, ``Authorization: Klaviyo-API-Key …`` and the
``revision`` header on every request, one profile or event a request, each endpoint's
burst limit answered with a 429, ``Retry-After`` and a ``throttled`` error, 401
``not_authenticated`` and 403 ``permission_denied``, 400 ``invalid`` pointing at the field.
Serve it with::

    python -m spokehub_klaviyo.testing --port 8765

and point a connection's ``base_url`` at the URL it prints, with
``api_key: pk_sandbox_klaviyo``. :attr:`KlaviyoSandbox.profiles` and
:attr:`KlaviyoSandbox.events` hold what it received, for tests and demos to read.

Klaviyo's consent lives on the profile (``subscriptions``), which this sandbox keeps per
profile in :attr:`KlaviyoSandbox.subscriptions`; the bulk subscription jobs
(``/api/profile-subscription-bulk-create-jobs``, up to 1,000 profiles, and
``…-delete-jobs``, up to 100) write there, and add subscribed profiles to a list of
:data:`SANDBOX_LISTS` when the job names one. :meth:`KlaviyoSandbox.set_consent` is a
person clicking subscribe or unsubscribe: it records the change in
:attr:`KlaviyoSandbox.consent_changes` and as an event of Klaviyo's consent metric
(``Unsubscribed from Email Marketing``), which ``GET /api/metrics`` and ``GET /api/events``
serve to a pull, and :meth:`KlaviyoSandbox.send_consent_webhooks` posts the changes not
yet sent as a system webhook, signed as Klaviyo signs them: ``Klaviyo-Signature`` is the
hex HMAC-SHA256 of the body followed by ``Klaviyo-Timestamp``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from spokehub_contracts import RateLimit
from spokehub_contracts.testing import Sandbox, SandboxRequest, SandboxResponse, route

#: The private API key the sandbox accepts for everything.
SANDBOX_API_KEY = "pk_sandbox_klaviyo"
#: A key with read scopes only: writes are answered 403 ``permission_denied``.
SANDBOX_READ_ONLY_KEY = "pk_sandbox_klaviyo_read_only"
#: Each endpoint's burst limit, as Klaviyo documents it (its steady per-minute limits
#: are higher than a burst run in a test reaches).
BURST_LIMITS: Mapping[str, RateLimit] = {
    "profiles": RateLimit(requests=75, per_seconds=1),
    "events": RateLimit(requests=350, per_seconds=1),
    "accounts": RateLimit(requests=1, per_seconds=1),
    "privacy": RateLimit(requests=3, per_seconds=1),
    "subscriptions": RateLimit(requests=75, per_seconds=1),
}
#: The most profiles a bulk subscribe and a bulk unsubscribe job take.
SUBSCRIBE_LIMIT = 1000
UNSUBSCRIBE_LIMIT = 100
#: The account's lists: id → name.
SANDBOX_LISTS = {"Y6nRLr": "Newsletter"}
#: The identifiers a profile is found by, in Klaviyo's order of precedence.
IDENTIFIERS = ("email", "phone_number", "external_id")
#: Profile attributes a profile import may set besides the identifiers.
PROFILE_FIELDS = frozenset(
    {"first_name", "last_name", "organization", "title", "image", "locale", "location"}
)
# Klaviyo's own checks, as loose as its documentation states them.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_REVISION = re.compile(r"^20\d\d-\d\d-\d\d(\.pre)?$")
#: The system webhook the sandbox sends as.
SANDBOX_WEBHOOK_ID = "01JSANDBOXWEBHOOK0000000001"
#: Klaviyo's consent metrics by (channel, consent), and their webhook topics.
CONSENT_METRIC_NAMES: Mapping[tuple[str, str], str] = {
    ("email", "SUBSCRIBED"): "Subscribed to Email Marketing",
    ("email", "UNSUBSCRIBED"): "Unsubscribed from Email Marketing",
    ("sms", "SUBSCRIBED"): "Subscribed to SMS Marketing",
    ("sms", "UNSUBSCRIBED"): "Unsubscribed from SMS Marketing",
}
#: Events a page of ``GET /api/events`` holds.
EVENTS_PAGE_SIZE = 200
_FILTER_METRIC = re.compile(r'equals\(metric_id,"([^"]+)"\)')
_FILTER_SINCE = re.compile(r"greater-(or-equal|than)\(datetime,([^)]+)\)")


def jsonapi_error(
    status: int,
    code: str,
    title: str,
    detail: str,
    pointer: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> SandboxResponse:
    """Klaviyo's error document: ``{"errors": [{"id", "status", "code", "title",
    "detail", "source": {"pointer"}}]}``."""
    error: dict[str, Any] = {
        "id": f"sandbox-{status}-{code}",
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
        "source": {"pointer": pointer or "/data/"},
    }
    return SandboxResponse.json({"errors": [error]}, status=status, headers=headers)


def invalid(detail: str, pointer: str = "/data/") -> SandboxResponse:
    """A 400 ``invalid`` about the field at ``pointer``."""
    return jsonapi_error(400, "invalid", "Invalid input.", detail, pointer)


class KlaviyoSandbox(Sandbox):
    """Klaviyo's API: ``GET /api/accounts``, ``POST /api/profile-import`` (201 created,
    200 updated, with the profile), ``POST /api/events`` (202, no body) and
    ``POST /api/data-privacy-deletion-jobs`` (202, the profile and its events gone).

    :ivar profiles: profile id → ``{"id", "attributes", "created", "updated"}``.
    :ivar events: every event accepted, in order: ``{"id", "metric", "profile_id",
        "properties", "time", "value", "unique_id"}``.
    :ivar deletion_jobs: the identifier each deletion job named, in order.
    :ivar subscriptions: profile id → Klaviyo's ``subscriptions`` object.
    :ivar consent_changes: ``(profile id, channel, consent)`` in the order they happened.
    """

    name = "klaviyo"
    tokens = (SANDBOX_API_KEY, SANDBOX_READ_ONLY_KEY)
    webhook_timestamped = True
    # One profile or one event a request.
    max_batch = 1

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rate_limit", dict(BURST_LIMITS))
        super().__init__(**kwargs)
        self.profiles: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.deletion_jobs: list[dict[str, str]] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.consent_changes: list[tuple[str, str, str]] = []
        #: list id → the ids of its profiles; every bulk job accepted, in order.
        self.list_members: dict[str, set[str]] = {list_id: set() for list_id in SANDBOX_LISTS}
        self.subscription_jobs: list[dict[str, Any]] = []
        #: Metric name → id, as ``GET /api/metrics`` lists them.
        self.metrics: dict[str, str] = {}
        #: Events a page of ``GET /api/events`` holds (Klaviyo's is 200).
        self.events_page_size = EVENTS_PAGE_SIZE
        #: How many of :attr:`consent_changes` a webhook has carried.
        self.webhooks_sent = 0
        self._consent_events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    # -- vendor shapes -------------------------------------------------------------------

    def authorized(self, request: SandboxRequest) -> bool:
        return _key(request) in self.accepted_tokens

    def auth_failed_response(self, request: SandboxRequest) -> SandboxResponse:
        if not request.headers.get("Authorization"):
            detail = "Authentication credentials were not provided."
        else:
            detail = "Incorrect authentication credentials."
        return jsonapi_error(401, "not_authenticated", detail, detail)

    def throttle_response(self, request: SandboxRequest, retry_after: float) -> SandboxResponse:
        seconds = max(1, round(retry_after + 0.499))
        return jsonapi_error(
            429,
            "throttled",
            "Request was throttled.",
            f"Request was throttled. Expected available in {seconds} second"
            f"{'s' if seconds != 1 else ''}.",
            headers={"Retry-After": str(seconds)},
        )

    def error_response(self, request: SandboxRequest, status: int) -> SandboxResponse:
        if status in (401, 403):
            return self.auth_failed_response(request)
        return jsonapi_error(
            status, "error", "A server error occurred.", "A server error occurred."
        )

    def not_found_response(self, request: SandboxRequest) -> SandboxResponse:
        return jsonapi_error(404, "not_found", "Not found.", f"No route for {request.path}.")

    def batch_too_large_response(self, request: SandboxRequest, count: int) -> SandboxResponse:
        return invalid("A request carries one resource object under data.")

    # -- routes --------------------------------------------------------------------------

    @route("GET", "/api/accounts", budget="accounts")
    def accounts(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request, write=False):
            return refusal
        account = {
            "type": "account",
            "id": "SbXkLv",
            "attributes": {
                "contact_information": {"organization_name": "Klaviyo sandbox"},
                "industry": None,
                "timezone": "UTC",
                "preferred_currency": "USD",
                "public_api_key": "SbXkLv",
            },
            "links": {"self": "/api/accounts/SbXkLv/"},
        }
        return _document([account])

    @route("POST", "/api/profile-import", budget="profiles")
    def profile_import(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request):
            return refusal
        attributes, refusal = self._resource(request, "profile")
        if refusal:
            return refusal
        # One item a request, counted into the log; a scripted ``partial`` fault refuses it.
        if self.check_batch(request, 1) or self.partial_failures(request, 1):
            return invalid("Invalid email address", "/data/attributes/email")
        if refusal := _check_profile(attributes):
            return refusal
        profile, created = self._upsert(attributes)
        return _document(_shown(profile), status=201 if created else 200)

    @route("POST", "/api/events", budget="events")
    def create_event(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request):
            return refusal
        attributes, refusal = self._resource(request, "event")
        if refusal:
            return refusal
        if self.check_batch(request, 1) or self.partial_failures(request, 1):
            return invalid("Metric name is required.", "/data/attributes/metric")
        properties = attributes.get("properties")
        if not isinstance(properties, dict):
            return invalid("This field is required.", "/data/attributes/properties")
        name = _get(attributes, "metric", "data", "attributes", "name")
        if not isinstance(name, str) or not name:
            return invalid("Metric name is required.", "/data/attributes/metric/data/attributes")
        who = _get(attributes, "profile", "data", "attributes")
        if not isinstance(who, dict) or not any(who.get(k) for k in IDENTIFIERS):
            return invalid(
                "A profile identifier (email, phone_number or external_id) is required.",
                "/data/attributes/profile/data/attributes",
            )
        if refusal := _check_profile(who, pointer="/data/attributes/profile/data/attributes"):
            return refusal
        profile, _ = self._upsert(who)
        unique_id = attributes.get("unique_id")
        duplicate = unique_id is not None and any(
            e["unique_id"] == unique_id and e["metric"] == name and e["profile_id"] == profile["id"]
            for e in self.events
        )
        if not duplicate:
            self.events.append(
                {
                    "id": f"evt_{next(self._ids)}",
                    "metric": name,
                    "profile_id": profile["id"],
                    "properties": properties,
                    "time": attributes.get("time") or _now(),
                    "value": attributes.get("value"),
                    "unique_id": unique_id,
                }
            )
        return SandboxResponse.empty(202)

    @route("GET", "/api/metrics", budget="events")
    def list_metrics(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request, write=False):
            return refusal
        for name in {e["metric"] for e in self.events + self._consent_events}:
            self._metric_id(name)
        metrics = [
            {
                "type": "metric",
                "id": metric_id,
                "attributes": {"name": name, "integration": {"name": "Klaviyo"}},
            }
            for name, metric_id in sorted(self.metrics.items())
        ]
        return _document(metrics)

    @route("GET", "/api/events", budget="events")
    def list_events(self, request: SandboxRequest) -> SandboxResponse:
        """Klaviyo's events, filtered by ``equals(metric_id,…)`` and a datetime bound,
        ``sort=datetime``, ``include=profile``, paged with ``page[cursor]``."""
        if refusal := self._admit(request, write=False):
            return refusal
        condition = request.query.get("filter", "")
        wanted = _FILTER_METRIC.search(condition)
        bound = _FILTER_SINCE.search(condition)
        ids = {v: k for k, v in self.metrics.items()}
        chosen = [
            e
            for e in sorted(self.events + self._consent_events, key=lambda e: e["time"])
            if wanted is None or ids.get(wanted.group(1)) == e["metric"]
        ]
        if bound is not None:
            edge = _time(bound.group(2))
            if edge is None:
                return invalid("Invalid datetime in filter.", "/query/filter")
            inclusive = bound.group(1) == "or-equal"
            chosen = [
                e
                for e in chosen
                if (t := _time(e["time"])) is not None and (t >= edge if inclusive else t > edge)
            ]
        cursor = request.query.get("page[cursor]", "0")
        if not cursor.isdigit():
            return invalid("Invalid page cursor.", "/query/page[cursor]")
        page = self.paginate(request, chosen, int(cursor), self.events_page_size)
        body: dict[str, Any] = {"data": [self._event_resource(e) for e in page.items]}
        if request.query.get("include") == "profile":
            body["included"] = self._included(page.items)
        following = page.next_start
        # Klaviyo's next link carries the whole query, the cursor changed.
        query = {**request.query, "page[cursor]": str(following)}
        body["links"] = {
            "self": request.path,
            "next": f"{self.url}{request.path}?{urlencode(query)}" if following else None,
        }
        return SandboxResponse.json(body)

    @route("POST", "/api/data-privacy-deletion-jobs", budget="privacy")
    def deletion_job(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request):
            return refusal
        attributes, refusal = self._resource(request, "data-privacy-deletion-job")
        if refusal:
            return refusal
        who = _get(attributes, "profile", "data", "attributes")
        pointer = "/data/attributes/profile/data/attributes"
        named = {k: v for k, v in (who or {}).items() if k in ("email", "phone_number", "id")}
        if not isinstance(who, dict) or len(named) != 1:
            return invalid("Exactly one of email, phone_number or id is required.", pointer)
        [(key, value)] = named.items()
        self.deletion_jobs.append({key: str(value)})
        found = self.profiles.get(str(value)) if key == "id" else self.find(key, str(value))
        if found is not None:
            self.profiles.pop(found["id"], None)
            self.subscriptions.pop(found["id"], None)
            self.events = [e for e in self.events if e["profile_id"] != found["id"]]
        return SandboxResponse.empty(202)

    @route("POST", "/api/profile-subscription-bulk-create-jobs", budget="subscriptions")
    def subscribe_job(self, request: SandboxRequest) -> SandboxResponse:
        return self._subscription_job(request, subscribe=True)

    @route("POST", "/api/profile-subscription-bulk-delete-jobs", budget="subscriptions")
    def unsubscribe_job(self, request: SandboxRequest) -> SandboxResponse:
        return self._subscription_job(request, subscribe=False)

    def _subscription_job(self, request: SandboxRequest, *, subscribe: bool) -> SandboxResponse:
        """A bulk job, whole or not at all: 202 and every profile's channel consent set,
        or 400 pointing at the first profile Klaviyo refuses."""
        if refusal := self._admit(request):
            return refusal
        kind = "profile-subscription-bulk-" + ("create-job" if subscribe else "delete-job")
        attributes, refusal = self._resource(request, kind)
        if refusal:
            return refusal
        profiles = _get(attributes, "profiles", "data")
        pointer = "/data/attributes/profiles/data"
        if not isinstance(profiles, list) or not profiles:
            return invalid("At least one profile is required.", pointer)
        limit = SUBSCRIBE_LIMIT if subscribe else UNSUBSCRIBE_LIMIT
        if len(profiles) > limit:
            return invalid(f"A job takes at most {limit} profiles.", pointer)
        list_id = _get(request.json(), "data", "relationships", "list", "data", "id")
        if list_id is not None and list_id not in self.list_members:
            return jsonapi_error(404, "not_found", "Not found.", f"List {list_id} not found.")
        wanted = "SUBSCRIBED" if subscribe else "UNSUBSCRIBED"
        changes: list[tuple[dict[str, Any], str]] = []
        for n, entry in enumerate(profiles):
            where = f"{pointer}/{n}/attributes"
            who = _get(entry, "attributes")
            if not isinstance(who, dict):
                return invalid("This field is required.", where)
            if refusal := _check_profile(who, pointer=where):
                return refusal
            channels = who.get("subscriptions")
            if not isinstance(channels, dict) or not channels:
                return invalid("This field is required.", f"{where}/subscriptions")
            for channel, status in channels.items():
                consent = _get(status, "marketing", "consent")
                if channel not in ("email", "sms") or consent != wanted:
                    return invalid(
                        f"Consent must be {wanted} on the email or sms channel.",
                        f"{where}/subscriptions/{channel}/marketing/consent",
                    )
                needed = "email" if channel == "email" else "phone_number"
                if not who.get(needed):
                    return invalid(f"A {channel} subscription needs {needed}.", f"{where}/{needed}")
                changes.append((who, channel))
        self.subscription_jobs.append({"kind": kind, "profiles": len(profiles), "list": list_id})
        for who, channel in changes:
            identifiers = {k: who[k] for k in IDENTIFIERS if who.get(k)}
            profile, _ = self._upsert(identifiers)
            self.set_consent(profile["id"], channel, wanted)
            if subscribe and list_id is not None:
                self.list_members[list_id].add(profile["id"])
        return SandboxResponse.empty(202)

    # -- what tests and demos read -------------------------------------------------------

    def find(self, key: str, value: str) -> dict[str, Any] | None:
        """The profile whose ``key`` (``email``, ``phone_number``, ``external_id``) is
        ``value`` (e-mails compared without case), or ``None``."""
        wanted = _fold(key, value)
        return next(
            (
                p
                for p in self.profiles.values()
                if p["attributes"].get(key) and _fold(key, p["attributes"][key]) == wanted
            ),
            None,
        )

    def profile_by_email(self, email: str) -> dict[str, Any] | None:
        return self.find("email", email)

    def events_of(self, email: str, metric: str | None = None) -> list[dict[str, Any]]:
        """The events of the profile with ``email``, of one ``metric`` if named."""
        profile = self.profile_by_email(email)
        if profile is None:
            return []
        return [
            e
            for e in self.events
            if e["profile_id"] == profile["id"] and (metric is None or e["metric"] == metric)
        ]

    def consent_of(self, email: str, channel: str = "email") -> str | None:
        """The marketing consent on ``channel`` of the profile with ``email``."""
        profile = self.profile_by_email(email)
        if profile is None:
            return None
        return str(self.subscriptions[profile["id"]][channel]["marketing"]["consent"])

    def set_consent(
        self, profile_id: str, channel: str, consent: str, *, at: datetime | None = None
    ) -> None:
        """Set a profile's marketing consent on ``channel`` (``email``, ``sms``) to
        ``SUBSCRIBED`` or ``UNSUBSCRIBED``, as a person clicking in Klaviyo does, and
        record the change for the consent webhooks to come."""
        subscriptions = self.subscriptions.setdefault(profile_id, _subscriptions())
        subscriptions[channel]["marketing"]["consent"] = consent
        self.consent_changes.append((profile_id, channel, consent))
        metric = CONSENT_METRIC_NAMES.get((channel, consent))
        if metric is not None:
            self._consent_events.append(
                {
                    "id": f"evt_{next(self._ids)}",
                    "metric": metric,
                    "profile_id": profile_id,
                    "properties": {},
                    "time": at.isoformat(timespec="seconds") if at else _now(),
                    "value": None,
                    "unique_id": None,
                }
            )

    def unsubscribe(self, email: str, channel: str = "email") -> str:
        """The person with ``email`` unsubscribes from ``channel`` marketing (a profile is
        made if Klaviyo has none); returns the profile id."""
        profile = self.find("email", email)
        if profile is None:
            profile, _ = self._upsert({"email": email})
        self.set_consent(profile["id"], channel, "UNSUBSCRIBED")
        return str(profile["id"])

    # -- consent webhooks ----------------------------------------------------------------

    def sign_webhook(self, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
        stamp = datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
        digest = hmac.new(
            secret.encode("utf-8"), body + stamp.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        return {"Klaviyo-Timestamp": stamp, "Klaviyo-Signature": digest}

    def consent_webhook(self, events: list[dict[str, Any]] | None = None) -> bytes:
        """The body of a system webhook carrying consent ``events`` (by default the
        latest): each item's ``payload`` has the shape of ``GET /api/events/{id}`` with
        the profile included."""
        chosen = events if events is not None else self._consent_events[-1:]
        items = []
        for event in chosen:
            topic = "event:klaviyo." + re.sub(r"\W+", "_", event["metric"].lower())
            items.append(
                {
                    "topic": topic,
                    "external_id": event["id"],
                    "payload": {
                        "data": self._event_resource(event),
                        "included": self._included([event]),
                    },
                }
            )
        meta = {
            "klaviyo_account_id": "SbXkLv",
            "klaviyo_webhook_id": SANDBOX_WEBHOOK_ID,
            "timestamp": _now(),
        }
        return json.dumps({"data": items, "meta": meta}).encode("utf-8")

    def example_webhook(self) -> tuple[bytes, dict[str, str]]:
        if not self._consent_events:
            self.unsubscribe("webhook.example@example.com")
        return self.consent_webhook(), {
            "Klaviyo-Webhook-Id": SANDBOX_WEBHOOK_ID,
            "Content-Type": "application/json",
        }

    def send_consent_webhooks(self, url: str, secret: str) -> httpx.Response | None:
        """POST the consent changes no webhook has carried yet to ``url``, as one signed
        system webhook; ``None`` when there were none."""
        fresh = self._consent_events[self.webhooks_sent :]
        if not fresh:
            return None
        body = self.consent_webhook(fresh)
        headers = {"Klaviyo-Webhook-Id": SANDBOX_WEBHOOK_ID, "Content-Type": "application/json"}
        signed = self.webhook_request(secret, body=body, headers=headers)
        answer = httpx.post(url, content=signed.body, headers=dict(signed.headers), timeout=30)
        if answer.status_code < 300:
            self.webhooks_sent += len(fresh)
        return answer

    # -- helpers -------------------------------------------------------------------------

    def _metric_id(self, name: str) -> str:
        if name not in self.metrics:
            self.metrics[name] = f"M{next(self._ids):05d}"
        return self.metrics[name]

    def _event_resource(self, event: Mapping[str, Any]) -> dict[str, Any]:
        moment = _time(event["time"])
        return {
            "type": "event",
            "id": event["id"],
            "attributes": {
                "timestamp": int(moment.timestamp()) if moment else None,
                "datetime": event["time"],
                "event_properties": event["properties"],
                "uuid": event["id"],
            },
            "relationships": {
                "profile": {"data": {"type": "profile", "id": event["profile_id"]}},
                "metric": {"data": {"type": "metric", "id": self._metric_id(event["metric"])}},
            },
        }

    def _included(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = dict.fromkeys(e["profile_id"] for e in events)
        return [_shown(self.profiles[i]) for i in ids if i in self.profiles]

    def _admit(self, request: SandboxRequest, *, write: bool = True) -> SandboxResponse | None:
        """The checks every route makes first: the key's scopes, the ``revision`` header."""
        if write and _key(request) == SANDBOX_READ_ONLY_KEY:
            detail = "You do not have permission to perform this action."
            return jsonapi_error(403, "permission_denied", detail, detail)
        revision = request.headers.get("revision")
        if not revision:
            return jsonapi_error(
                400,
                "invalid",
                "Invalid input.",
                "The 'revision' header is required.",
                "/headers/revision",
            )
        if not _REVISION.match(revision):
            return jsonapi_error(
                400,
                "invalid_revision",
                "Invalid revision.",
                f"'{revision}' is not a valid revision.",
                "/headers/revision",
            )
        return None

    def _resource(
        self, request: SandboxRequest, kind: str
    ) -> tuple[dict[str, Any], SandboxResponse | None]:
        try:
            body = request.json()
        except ValueError:
            return {}, jsonapi_error(400, "parse_error", "Malformed request.", "JSON parse error.")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return {}, invalid("This field is required.", "/data")
        if data.get("type") != kind:
            return {}, jsonapi_error(
                409,
                "conflict",
                "Conflict.",
                f"The resource object's type ({data.get('type')}) is not the type that"
                f" constitute the collection represented by the endpoint ({kind}).",
                "/data/type",
            )
        attributes = data.get("attributes")
        if not isinstance(attributes, dict):
            return {}, invalid("This field is required.", "/data/attributes")
        return attributes, None

    def _upsert(self, attributes: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        found = next(
            (
                p
                for key in IDENTIFIERS
                if attributes.get(key) and (p := self.find(key, str(attributes[key])))
            ),
            None,
        )
        stamp = _now()
        created = found is None
        if found is None:
            profile_id = f"01JSANDBOX{next(self._ids):016d}"
            found = {"id": profile_id, "attributes": {}, "created": stamp}
            self.profiles[profile_id] = found
            self.subscriptions[profile_id] = _subscriptions()
        stored = found["attributes"]
        for key, value in attributes.items():
            if key == "properties" and isinstance(value, dict):
                stored.setdefault("properties", {}).update(value)
            elif key in IDENTIFIERS or key in PROFILE_FIELDS:
                stored[key] = value
        found["updated"] = stamp
        return found, created


def _check_profile(
    attributes: Mapping[str, Any], pointer: str = "/data/attributes"
) -> SandboxResponse | None:
    if not any(attributes.get(k) for k in IDENTIFIERS):
        return invalid(
            "One of email, phone_number or external_id is required to identify a profile.",
            pointer,
        )
    email = attributes.get("email")
    if email is not None and not (isinstance(email, str) and _EMAIL.match(email)):
        return invalid("Invalid email address", f"{pointer}/email")
    phone = attributes.get("phone_number")
    if phone is not None and not (isinstance(phone, str) and _PHONE.match(phone)):
        return invalid(
            "Invalid phone number format (Example of a valid format: +12345678901)",
            f"{pointer}/phone_number",
        )
    properties = attributes.get("properties")
    if properties is not None and not isinstance(properties, dict):
        return invalid("Properties must be an object.", f"{pointer}/properties")
    return None


def _shown(profile: Mapping[str, Any]) -> dict[str, Any]:
    stored = profile["attributes"]
    attributes: dict[str, Any] = {key: stored.get(key) for key in IDENTIFIERS}
    attributes.update({key: stored.get(key) for key in sorted(PROFILE_FIELDS)})
    attributes["properties"] = stored.get("properties", {})
    attributes["created"] = profile["created"]
    attributes["updated"] = profile["updated"]
    return {
        "type": "profile",
        "id": profile["id"],
        "attributes": attributes,
        "links": {"self": f"/api/profiles/{profile['id']}/"},
    }


def _document(data: Any, status: int = 200) -> SandboxResponse:
    return SandboxResponse.json({"data": data}, status=status)


def _subscriptions() -> dict[str, Any]:
    return {
        "email": {"marketing": {"consent": "NEVER_SUBSCRIBED"}},
        "sms": {"marketing": {"consent": "NEVER_SUBSCRIBED"}},
    }


def _key(request: SandboxRequest) -> str:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key if scheme == "Klaviyo-API-Key" else ""


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _fold(key: str, value: Any) -> str:
    return str(value).strip().lower() if key == "email" else str(value).strip()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


if __name__ == "__main__":
    KlaviyoSandbox.main()
