"""A sandbox of HubSpot's CRM API, for tests, demos and trying the spoke offline.

Built from HubSpot's documented request and response shapes on the conformance kit's
server base, for one portal, under both the numbered paths (``/crm/v3/objects/…``,
``/crm/v4/associations/…``) and the dated ones (``/crm/objects/2026-03/…``,
``/crm/associations/2026-03/…``):

- ``GET …/objects/{type}`` (paged with ``limit`` and ``after``, ``properties``) and
  ``GET …/objects/{type}/{id}`` (``idProperty`` to read by e-mail or domain);
- ``POST …/objects/{type}/batch/upsert`` (``inputs`` of ``idProperty``, ``id``,
  ``properties``, ``objectWriteTraceId``; contacts by ``email``, companies by ``domain``)
  and ``batch/update`` (by object id), at most 100 inputs: 200 with ``results``, 207
  Multi-Status with ``errors`` naming inputs by ``objectWriteTraceId`` in their
  ``context``, 400 ``VALIDATION_ERROR`` for a batch refused whole (an invalid e-mail, a
  duplicate id, a property the portal lacks with ``strict_properties``);
- ``POST …/objects/{type}/merge`` (``primaryObjectId``, ``objectIdToMerge``): 200 with
  the merged object (the primary's id), 404 for an id it does not hold;
- ``POST /communication-preferences/v3/subscribe`` and ``…/unsubscribe``
  (``emailAddress``, ``subscriptionId``, ``legalBasis``): 200 with the new status, 400
  for an address already in it or a subscription type the portal lacks
  (:data:`SUBSCRIPTION_TYPES`);
- ``POST …/objects/contacts/gdpr-delete`` (``objectId``, ``idProperty``): 204, the contact
  and its associations gone, an unknown address blocklisted;
- ``POST …/associations/{from}/{to}/batch/create`` (201, 207 for unknown objects) and
  ``batch/archive`` (204);
- HubSpot's error body (``status``, ``message``, ``correlationId``, ``category``,
  ``errors``): 401 ``INVALID_AUTHENTICATION`` for a token it does not know, 403
  ``MISSING_SCOPES`` for a write with :data:`SANDBOX_READ_ONLY_TOKEN`, and 429 with
  ``errorType`` ``RATE_LIMIT`` and ``policyName`` ``TEN_SECONDLY_ROLLING`` past the burst
  limit (100 requests in any ten seconds unless ``rate_limit`` says otherwise) or
  ``DAILY`` past ``daily_limit``.

State is kept for tests and demos to read: :attr:`HubSpotSandbox.contacts` and
:attr:`~HubSpotSandbox.companies` by id, found by e-mail or domain with
:meth:`~HubSpotSandbox.contact` and :meth:`~HubSpotSandbox.company`, and
:attr:`~HubSpotSandbox.associations`. Every write stamps ``lastmodifieddate`` (contacts)
or ``hs_lastmodifieddate`` (companies) from ``now``, which the source side reads changes
by:

- ``POST …/objects/{type}/search`` (``filterGroups`` of ``filters`` with ``EQ``, ``GT``,
  ``GTE``, ``LT``, ``LTE``, ``HAS_PROPERTY``; ``sorts``; ``properties``; ``limit`` up to
  200; ``after``): ``total``, ``results`` and ``paging.next.after``, no further than
  10,000 results a query (400 ``VALIDATION_ERROR`` past them), with the search API's own
  limit (:data:`SEARCH_LIMIT`, five requests a second) answered 429 with ``policyName``
  ``SECONDLY``;
- ``POST …/associations/contacts/companies/batch/read``: each contact's companies.

:meth:`HubSpotSandbox.seed` fills the portal with made-up contacts, companies and
associations, and :meth:`HubSpotSandbox.touch` changes one object as a user would.
Serve it with::

    python -m spokehub_hubspot.testing --port 8765

and point a connection's ``base_url`` at the URL it prints, with ``access_token:``
:data:`SANDBOX_ACCESS_TOKEN`.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from spokehub_contracts import RateLimit
from spokehub_contracts.testing import Sandbox, SandboxRequest, SandboxResponse, route

#: The private app token the sandbox accepts, with every scope.
SANDBOX_ACCESS_TOKEN = "pat-na1-sandbox-0000-0000-000000000000"
#: A token that may read but not write: writes get 403 ``MISSING_SCOPES``.
SANDBOX_READ_ONLY_TOKEN = "pat-na1-sandbox-read-only-0000-00000000"
#: HubSpot's burst limit for the smallest accounts: 100 requests in any ten seconds.
BURST_LIMIT = RateLimit(requests=100, per_seconds=10.0)
#: The search API's own limit: five requests a second per token.
SEARCH_LIMIT = RateLimit(requests=5, per_seconds=1.0)
#: The most results the search API pages one query through.
SEARCH_RESULT_CAP = 10_000
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda have, want: have == want,
    "NEQ": lambda have, want: have != want,
    "GT": lambda have, want: have > want,
    "GTE": lambda have, want: have >= want,
    "LT": lambda have, want: have < want,
    "LTE": lambda have, want: have <= want,
}

#: The portal's subscription types (Settings → Marketing → Email → Subscriptions): id → name.
SUBSCRIPTION_TYPES = {"7": "Marketing Information", "8": "SMS Marketing", "9": "One to One"}

#: Object type names and ids HubSpot accepts in paths.
OBJECT_TYPES = {
    "contacts": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "0-2": "companies",
}
TYPE_IDS = {"contacts": "0-1", "companies": "0-2"}
#: Properties whose values are unique in a portal, usable as ``idProperty``.
UNIQUE_PROPERTIES = {"contacts": ("email", "hs_object_id"), "companies": ("domain", "hs_object_id")}
#: Each type's last-modified property, the one an incremental reader filters on.
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
#: Properties every portal has (a selection of HubSpot's defaults).
STANDARD_PROPERTIES = {
    "contacts": frozenset(
        {
            "email",
            "firstname",
            "lastname",
            "phone",
            "mobilephone",
            "jobtitle",
            "company",
            "website",
            "address",
            "city",
            "state",
            "zip",
            "country",
            "date_of_birth",
            "lifecyclestage",
            "hubspot_owner_id",
            "hs_object_id",
            "createdate",
            "lastmodifieddate",
        }
    ),
    "companies": frozenset(
        {
            "name",
            "domain",
            "website",
            "industry",
            "numberofemployees",
            "annualrevenue",
            "phone",
            "address",
            "city",
            "state",
            "zip",
            "country",
            "description",
            "hs_object_id",
            "createdate",
            "hs_lastmodifieddate",
        }
    ),
}
#: What ``GET`` shows of an object when no ``properties`` are asked for.
SHOWN_BY_DEFAULT = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATED = re.compile(r"^20\d\d-(0[1-9]|1[0-2])$")
_DEFAULT: Any = object()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rate_limited(
    limit: str, policy: str, headers: Mapping[str, str] | None = None
) -> SandboxResponse:
    """HubSpot's 429 body, which names the spent limit and its policy (no ``category``)."""
    return SandboxResponse.json(
        {
            "status": "error",
            "message": f"You have reached your {limit} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": str(uuid.uuid4()),
        },
        status=429,
        headers=headers,
    )


def hubspot_error(
    message: str,
    category: str,
    *,
    status: int = 400,
    errors: Iterable[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> SandboxResponse:
    """HubSpot's error body: ``status``, ``message``, ``correlationId``, ``category``,
    ``errors`` when there are details, and any ``extra`` fields."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    details = list(errors)
    if details:
        body["errors"] = details
    body.update(extra)
    return SandboxResponse.json(body, status=status, headers=headers)


class HubSpotSandbox(Sandbox):
    """HubSpot's CRM for one portal.

    :param rate_limit: the burst limit, :data:`BURST_LIMIT` unless given (``None``: none).
    :param daily_limit: requests a day before 429 ``DAILY`` (none unless given).
    :param strict_properties: refuse a property the portal lacks (400
        ``PROPERTY_DOESNT_EXIST``), as HubSpot does; off by default, so that a mapping to
        custom properties can be tried without defining them (:meth:`define_property`).
    :param now: the wall clock for ``createdAt`` and the last-modified properties.
    """

    name = "hubspot"
    tokens = (SANDBOX_ACCESS_TOKEN, SANDBOX_READ_ONLY_TOKEN)
    max_batch = 100

    def __init__(
        self,
        *,
        rate_limit: RateLimit | Mapping[str, RateLimit] | None = _DEFAULT,
        daily_limit: int | None = None,
        strict_properties: bool = False,
        now: Callable[[], datetime] | None = None,
        **kwargs: Any,
    ) -> None:
        if rate_limit is _DEFAULT:
            rate_limit = {"default": BURST_LIMIT, "search": SEARCH_LIMIT}
        super().__init__(rate_limit=rate_limit, **kwargs)
        self.daily_limit = daily_limit
        self.daily_used = 0
        self.strict_properties = strict_properties
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        #: Objects by type and id: ``{"id", "properties", "createdAt", "updatedAt", "archived"}``.
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"contacts": {}, "companies": {}}
        #: Contact-to-company associations: ``(contact id, company id)`` → type ids.
        self.associations: dict[tuple[str, str], set[int]] = {}
        #: Ids of contacts erased by GDPR delete, and addresses blocked by it.
        self.gdpr_deleted: list[str] = []
        self.blocklist: set[str] = set()
        self.properties: dict[str, set[str]] = {k: set(v) for k, v in STANDARD_PROPERTIES.items()}
        #: ``(address, subscription type id)`` → ``SUBSCRIBED`` or ``NOT_SUBSCRIBED``, and
        #: the legal basis recorded with each subscribe.
        self.subscriptions: dict[tuple[str, str], str] = {}
        self.legal_bases: dict[tuple[str, str], str] = {}
        #: Merged-away object ids → the id of the object they were merged into.
        self.merged: dict[str, str] = {}
        self._ids = itertools.count(101)
        # The unique properties' values (lowercased) → object id, as HubSpot finds them.
        self._indexes: dict[str, dict[str, dict[str, str]]] = {
            object_type: {name: {} for name in names if name != "hs_object_id"}
            for object_type, names in UNIQUE_PROPERTIES.items()
        }

    # -- what the sandbox holds ----------------------------------------------------------

    @property
    def contacts(self) -> dict[str, dict[str, Any]]:
        return self.objects["contacts"]

    @property
    def companies(self) -> dict[str, dict[str, Any]]:
        return self.objects["companies"]

    def contact(self, email: str) -> dict[str, Any] | None:
        """The contact with this e-mail address (any case), or ``None``."""
        return self._find("contacts", "email", email)

    def company(self, domain: str) -> dict[str, Any] | None:
        """The company with this domain, or ``None``."""
        return self._find("companies", "domain", domain)

    def companies_of(self, contact_id: str) -> set[str]:
        """The ids of the companies a contact is associated with."""
        return {company for contact, company in self.associations if contact == contact_id}

    def subscription(self, email: str, subscription_id: str) -> str | None:
        """An address's status for a subscription type, or ``None`` if it has none."""
        return self.subscriptions.get((email.strip().lower(), subscription_id))

    def define_property(self, object_type: str, name: str) -> None:
        """Create a custom property in the portal (Settings → Properties)."""
        with self.lock:
            self.properties[object_type].add(name)

    def exhaust_daily_limit(self) -> None:
        """Spend the day's requests: the next one gets 429 ``DAILY``."""
        with self.lock:
            self.daily_limit = self.daily_used

    def stats(self) -> dict[str, Any]:
        """The base's figures (the burst window's busiest count as ``max_in_window``),
        what the portal holds, the inputs received, and when each 429 was answered."""
        figures = super().stats()
        with self.lock:
            figures.update(
                contacts=len(self.contacts),
                companies=len(self.companies),
                associations=len(self.associations),
                inputs=sum(r.items or 0 for r in self.requests),
                max_in_window=self.max_in_window(self._window()),
                throttled_at=[r.at for r in self.requests if r.status == 429],
            )
        return figures

    # -- HubSpot's answers ---------------------------------------------------------------

    def auth_failed_response(self, request: SandboxRequest) -> SandboxResponse:
        return hubspot_error(
            "Authentication credentials not found. This API supports OAuth 2.0"
            " authentication and you can find more details at"
            " https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "INVALID_AUTHENTICATION",
            status=401,
        )

    def _missing_scopes(self, scope: str) -> SandboxResponse:
        return hubspot_error(
            "This app hasn't been granted all required scopes to make this call. Read more"
            " about required scopes here: https://developers.hubspot.com/scopes.",
            "MISSING_SCOPES",
            status=403,
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": [scope]},
                }
            ],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )

    def throttle_response(self, request: SandboxRequest, retry_after: float) -> SandboxResponse:
        if request.route.endswith("/search"):
            # The search API's own limit, counted per second, without the burst headers.
            return _rate_limited("secondly", "SECONDLY")
        window = self._window()
        limit = self.rate_limits.get("default")
        return _rate_limited(
            "ten_secondly_rolling",
            "TEN_SECONDLY_ROLLING",
            {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000)),
                "X-HubSpot-RateLimit-Max": str(limit.requests if limit else 100),
                "X-HubSpot-RateLimit-Remaining": "0",
            },
        )

    def _daily_response(self) -> SandboxResponse:
        return _rate_limited(
            "daily",
            "DAILY",
            {
                "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                "X-HubSpot-RateLimit-Daily-Remaining": "0",
            },
        )

    def error_response(self, request: SandboxRequest, status: int) -> SandboxResponse:
        if status == 401:
            return self.auth_failed_response(request)
        if status == 403:
            return self._missing_scopes("crm.objects.contacts.write")
        return hubspot_error(
            "An internal error occurred. Please try again later.", "INTERNAL_ERROR", status=status
        )

    def batch_too_large_response(self, request: SandboxRequest, count: int) -> SandboxResponse:
        return hubspot_error(
            f"Batch input size exceeds the limit of {self.max_batch}: got {count} inputs",
            "VALIDATION_ERROR",
        )

    def not_found_response(self, request: SandboxRequest) -> SandboxResponse:
        return hubspot_error("resource not found", "OBJECT_NOT_FOUND", status=404)

    # -- routes --------------------------------------------------------------------------

    @route("GET", "/crm/v3/objects/{object_type}")
    @route("GET", "/crm/objects/{version}/{object_type}")
    def list_objects(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request):
            return refusal
        object_type = self._type(request)
        try:
            limit = min(max(1, int(request.query.get("limit", "10"))), 100)
            start = int(request.query.get("after") or "0")
        except ValueError:
            return hubspot_error("limit and after must be numbers", "VALIDATION_ERROR")
        found = sorted(self.objects[object_type].values(), key=lambda o: int(o["id"]))
        page = self.paginate(request, found, start, limit)
        wanted = _wanted(request, object_type)
        body: dict[str, Any] = {"results": [_shown(o, wanted) for o in page.items]}
        if page.next_start is not None:
            after = str(page.next_start)
            link = f"{request.path}?limit={limit}&after={after}"
            body["paging"] = {"next": {"after": after, "link": link}}
        return SandboxResponse.json(body)

    @route("POST", "/crm/v3/objects/{object_type}/search", budget="search")
    @route("POST", "/crm/objects/{version}/{object_type}/search", budget="search")
    def search(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request):
            return refusal
        object_type = self._type(request)
        body = _body(request)
        if not isinstance(body, dict):
            return hubspot_error("Invalid input JSON on line 1", "VALIDATION_ERROR")
        try:
            limit = int(body.get("limit", 10))
            start = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return hubspot_error("limit and after must be numbers", "VALIDATION_ERROR")
        if not 1 <= limit <= 200:
            return hubspot_error(
                "limit must be between 1 and 200", "VALIDATION_ERROR", subCategory="INVALID_LIMIT"
            )
        if start + limit > SEARCH_RESULT_CAP:
            return hubspot_error(
                f"Paging through search results is limited to {SEARCH_RESULT_CAP} results;"
                " narrow the query's filters instead",
                "VALIDATION_ERROR",
            )
        groups = body.get("filterGroups") or []
        found = [
            o
            for o in self.objects[object_type].values()
            if not groups or any(_passes(o, g.get("filters") or []) for g in groups)
        ]
        for sort in reversed(body.get("sorts") or [{"propertyName": "hs_object_id"}]):
            name = sort.get("propertyName") if isinstance(sort, dict) else str(sort)
            found.sort(key=lambda o: (_sortable(o, name), int(o["id"])))
            if isinstance(sort, dict) and sort.get("direction") == "DESCENDING":
                found.reverse()
        page = self.paginate(request, found, start, limit)
        wanted = tuple(body.get("properties") or SHOWN_BY_DEFAULT[object_type])
        answer: dict[str, Any] = {
            "total": len(found),
            "results": [_shown(o, wanted) for o in page.items],
        }
        if page.next_start is not None:
            answer["paging"] = {"next": {"after": str(page.next_start)}}
        return SandboxResponse.json(answer)

    @route("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/read")
    @route("POST", "/crm/associations/{version}/{from_type}/{to_type}/batch/read")
    def read_associations(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request):
            return refusal
        (from_type, _), refusal = self._ends(request)
        if refusal:
            return refusal
        inputs = _inputs(request)
        if inputs is None:
            return hubspot_error("inputs must be a list", "VALIDATION_ERROR")
        results = []
        for item in inputs:
            wanted = str((item or {}).get("id"))
            pairs = [
                (pair, types)
                for pair, types in sorted(self.associations.items())
                if (pair[0] if from_type == "contacts" else pair[1]) == wanted
            ]
            if not pairs:
                continue
            results.append(
                {
                    "from": {"id": wanted},
                    "to": [
                        {
                            "toObjectId": int(pair[1] if from_type == "contacts" else pair[0]),
                            "associationTypes": [
                                {
                                    "category": "HUBSPOT_DEFINED",
                                    "typeId": type_id,
                                    "label": "Primary" if type_id == 1 else None,
                                }
                                for type_id in sorted(types)
                            ],
                        }
                        for pair, types in pairs
                    ],
                }
            )
        return self._batch_answer(results, [], success=200)

    # -- seeding, for tests and demos ----------------------------------------------------

    def seed(self, contacts: int = 0, companies: int = 0) -> None:
        """Add made-up companies (``org<n>.example.com``) and contacts
        (``person<n>@example.com``), each contact associated with company ``n % companies``."""
        with self.lock:
            made = [
                self._write(
                    "companies",
                    None,
                    {
                        "name": f"Org {n}",
                        "domain": f"org{n}.example.com",
                        "industry": "COMPUTER_SOFTWARE",
                        "numberofemployees": str(10 + n),
                    },
                )[0]["id"]
                for n in range(companies)
            ]
            for n in range(contacts):
                contact, _ = self._write(
                    "contacts",
                    None,
                    {
                        "email": f"person{n}@example.com",
                        "firstname": f"Person{n}",
                        "lastname": "Example",
                        "jobtitle": "Buyer",
                        "lifecyclestage": "customer" if n % 2 else "lead",
                    },
                )
                if made:
                    self.associations[(contact["id"], made[n % len(made)])] = {279}

    def touch(self, object_type: str, object_id: str, **properties: Any) -> dict[str, Any]:
        """Change an object as a user in HubSpot would: ``properties`` set, its
        last-modified date now."""
        with self.lock:
            found = self.objects[object_type][object_id]
            return self._write(object_type, found, {k: _text(v) for k, v in properties.items()})[0]

    @route("GET", "/crm/v3/objects/{object_type}/{object_id}")
    @route("GET", "/crm/objects/{version}/{object_type}/{object_id}")
    def read_object(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request):
            return refusal
        object_type = self._type(request)
        id_property = request.query.get("idProperty") or "hs_object_id"
        found = self._find(object_type, id_property, request.params["object_id"])
        if found is None:
            return hubspot_error("Object not found.", "OBJECT_NOT_FOUND", status=404)
        return SandboxResponse.json(_shown(found, _wanted(request, object_type)))

    @route("POST", "/crm/v3/objects/{object_type}/batch/upsert")
    @route("POST", "/crm/objects/{version}/{object_type}/batch/upsert")
    def batch_upsert(self, request: SandboxRequest) -> SandboxResponse:
        return self._batch_write(request, upsert=True)

    @route("POST", "/crm/v3/objects/{object_type}/batch/update")
    @route("POST", "/crm/objects/{version}/{object_type}/batch/update")
    def batch_update(self, request: SandboxRequest) -> SandboxResponse:
        return self._batch_write(request, upsert=False)

    @route("POST", "/crm/v3/objects/contacts/gdpr-delete")
    @route("POST", "/crm/objects/{version}/contacts/gdpr-delete")
    def gdpr_delete(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._admit(request, write=True):
            return refusal
        body = _body(request)
        object_id = body.get("objectId") if isinstance(body, dict) else None
        if not isinstance(object_id, str) or not object_id:
            return hubspot_error("objectId is required", "VALIDATION_ERROR")
        id_property = body.get("idProperty") or "hs_object_id"
        if id_property not in UNIQUE_PROPERTIES["contacts"]:
            return hubspot_error(f"{id_property} is not a unique property", "VALIDATION_ERROR")
        found = self._find("contacts", id_property, object_id)
        if found is None:
            if id_property != "email":
                return hubspot_error("Object not found.", "OBJECT_NOT_FOUND", status=404)
            self.blocklist.add(object_id.lower())
            return SandboxResponse.empty(204)
        del self.contacts[found["id"]]
        self._unindex("contacts", found)
        for pair in [pair for pair in self.associations if pair[0] == found["id"]]:
            del self.associations[pair]
        self.gdpr_deleted.append(found["id"])
        email = found["properties"].get("email")
        if email:
            self.blocklist.add(email.lower())
        return SandboxResponse.empty(204)

    @route("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/create")
    @route("POST", "/crm/associations/{version}/{from_type}/{to_type}/batch/create")
    def associate(self, request: SandboxRequest) -> SandboxResponse:
        ends, inputs, refusal = self._association_batch(request)
        if refusal:
            return refusal
        refused = self.partial_failures(request, len(inputs))
        results, errors = [], []
        for position, entry in enumerate(inputs):
            try:
                from_id = str(entry["from"]["id"])
                to_id = str(entry["to"]["id"])
                types = [int(t["associationTypeId"]) for t in entry["types"]]
            except (KeyError, TypeError, ValueError):
                return hubspot_error(
                    "each input needs from.id, to.id and types", "VALIDATION_ERROR"
                )
            pair = _contact_first(ends, from_id, to_id)
            unknown = [
                (key, object_id)
                for key, object_id, object_type in (
                    ("fromObjectId", from_id, ends[0]),
                    ("toObjectId", to_id, ends[1]),
                )
                if object_id not in self.objects[object_type]
            ]
            if unknown or position in refused:
                context = {key: [object_id] for key, object_id in unknown} or {
                    "fromObjectId": [from_id],
                    "toObjectId": [to_id],
                }
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "No object exists with the given id"
                        if unknown
                        else "The association could not be made",
                        "context": context,
                    }
                )
                continue
            self.associations.setdefault(pair, set()).update(types)
            results.append(
                {
                    "fromObjectTypeId": TYPE_IDS[ends[0]],
                    "fromObjectId": int(from_id),
                    "toObjectTypeId": TYPE_IDS[ends[1]],
                    "toObjectId": int(to_id),
                    "labels": [],
                }
            )
        return self._batch_answer(results, errors, success=201)

    @route("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/archive")
    @route("POST", "/crm/associations/{version}/{from_type}/{to_type}/batch/archive")
    def dissociate(self, request: SandboxRequest) -> SandboxResponse:
        ends, inputs, refusal = self._association_batch(request)
        if refusal:
            return refusal
        for entry in inputs:
            try:
                from_id = str(entry["from"]["id"])
                to_ids = [str(to["id"]) for to in entry["to"]]
            except (KeyError, TypeError):
                return hubspot_error("each input needs from.id and to[].id", "VALIDATION_ERROR")
            for to_id in to_ids:
                pair = _contact_first(ends, from_id, to_id)
                self.associations.pop(pair, None)
        return SandboxResponse.empty(204)

    # -- batch writes --------------------------------------------------------------------

    def _batch_write(self, request: SandboxRequest, *, upsert: bool) -> SandboxResponse:
        if refusal := self._admit(request, write=True):
            return refusal
        object_type = self._type(request)
        inputs, refusal = self._batch_inputs(request)
        if refusal:
            return refusal
        if refusal := self._validate(object_type, inputs, upsert=upsert):
            return refusal
        refused = self.partial_failures(request, len(inputs))
        results, errors = [], []
        for position, entry in enumerate(inputs):
            trace = entry.get("objectWriteTraceId")
            context = {"objectWriteTraceId": [str(trace)]} if trace is not None else {}
            if position in refused:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "Property values were not valid",
                        "context": context or {"ids": [str(entry["id"])]},
                    }
                )
                continue
            id_property = entry.get("idProperty") or "hs_object_id"
            found = self._find(object_type, id_property, str(entry["id"]))
            if found is None and not upsert:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "Object not found. objectId are usually numeric.",
                        "context": {**context, "ids": [str(entry["id"])]},
                    }
                )
                continue
            properties = {k: _text(v) for k, v in (entry.get("properties") or {}).items()}
            if found is None and id_property != "hs_object_id":
                properties.setdefault(id_property, str(entry["id"]))
            written, new = self._write(object_type, found, properties)
            result = {**_shown(written, (*properties, *SHOWN_BY_DEFAULT[object_type]))}
            if upsert:
                result["new"] = new
            if trace is not None:
                result["objectWriteTraceId"] = str(trace)
            results.append(result)
        return self._batch_answer(results, errors, success=200)

    def _validate(
        self, object_type: str, inputs: list[Any], *, upsert: bool
    ) -> SandboxResponse | None:
        """What makes HubSpot refuse the whole batch: a malformed input, an id property
        that is not unique, the same id twice, an invalid e-mail, a missing property."""
        seen: set[tuple[str, str]] = set()
        duplicates: list[str] = []
        missing: set[str] = set()
        for entry in inputs:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str | int):
                return hubspot_error("each input needs an id", "VALIDATION_ERROR")
            properties = entry.get("properties")
            if not isinstance(properties, dict):
                return hubspot_error("each input needs properties", "VALIDATION_ERROR")
            id_property = entry.get("idProperty") or "hs_object_id"
            if id_property not in UNIQUE_PROPERTIES[object_type]:
                return hubspot_error(
                    f"{id_property} is not a unique property of {object_type}",
                    "VALIDATION_ERROR",
                )
            key = (id_property, str(entry["id"]).lower())
            if key in seen:
                duplicates.append(str(entry["id"]))
            seen.add(key)
            email = properties.get("email") or (entry["id"] if id_property == "email" else None)
            if object_type == "contacts" and email is not None and not _EMAIL.match(str(email)):
                invalid = {
                    "isValid": False,
                    "message": f"Email address {email} is invalid",
                    "error": "INVALID_EMAIL",
                    "name": "email",
                }
                return hubspot_error(
                    f"Property values were not valid: {_json([invalid])}",
                    "VALIDATION_ERROR",
                    errors=[
                        {
                            "message": invalid["message"],
                            "code": "INVALID_EMAIL",
                            "context": {"propertyName": ["email"]},
                        }
                    ],
                )
            if self.strict_properties:
                missing |= set(properties) - self.properties[object_type]
        if duplicates:
            return hubspot_error(
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
                "VALIDATION_ERROR",
            )
        if missing:
            entries = [
                {
                    "isValid": False,
                    "message": f'Property "{name}" does not exist',
                    "error": "PROPERTY_DOESNT_EXIST",
                    "name": name,
                    "localizedErrorMessage": f'Property "{name}" does not exist',
                }
                for name in sorted(missing)
            ]
            return hubspot_error(
                f"Property values were not valid: {_json(entries)}",
                "VALIDATION_ERROR",
                errors=[
                    {
                        "message": entry["message"],
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [entry["name"]]},
                    }
                    for entry in entries
                ],
            )
        return None

    def _write(
        self, object_type: str, found: dict[str, Any] | None, properties: dict[str, str]
    ) -> tuple[dict[str, Any], bool]:
        stamp = _iso(self.now())
        new = found is None
        if found is None:
            object_id = str(next(self._ids))
            found = {
                "id": object_id,
                "properties": {"hs_object_id": object_id, "createdate": stamp},
                "createdAt": stamp,
                "archived": False,
            }
            self.objects[object_type][object_id] = found
        self._unindex(object_type, found)
        found["properties"].update(properties)
        self._index(object_type, found)
        found["properties"][MODIFIED_PROPERTY[object_type]] = stamp
        found["updatedAt"] = stamp
        return found, new

    def _batch_answer(
        self, results: list[dict[str, Any]], errors: list[dict[str, Any]], *, success: int
    ) -> SandboxResponse:
        stamp = _iso(self.now())
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": stamp,
            "completedAt": stamp,
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = [{"links": {}, "errors": [], **e} for e in errors]
            return SandboxResponse.json(body, status=207)
        return SandboxResponse.json(body, status=success)

    @route("POST", "/crm/v3/objects/{object_type}/merge")
    @route("POST", "/crm/objects/{version}/{object_type}/merge")
    def merge(self, request: SandboxRequest) -> SandboxResponse:
        """Fold ``objectIdToMerge`` into ``primaryObjectId``: the primary keeps its id and
        its values, takes the other's where it has none (an e-mail address becomes one of
        ``hs_additional_emails``) and its associations; the merged id reads as the primary
        from then on (``hs_merged_object_ids``)."""
        if refusal := self._admit(request, write=True):
            return refusal
        object_type = self._type(request)
        body = _body(request)
        if not isinstance(body, dict):
            return hubspot_error("Invalid input JSON", "VALIDATION_ERROR")
        primary_id, other_id = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if not isinstance(primary_id, str) or not isinstance(other_id, str):
            return hubspot_error(
                "primaryObjectId and objectIdToMerge are required strings", "VALIDATION_ERROR"
            )
        objects = self.objects[object_type]
        primary, other = objects.get(primary_id), objects.get(other_id)
        if primary is None or other is None:
            missing = primary_id if primary is None else other_id
            return hubspot_error(f"Object {missing} was not found", "OBJECT_NOT_FOUND", status=404)
        if primary_id == other_id:
            return hubspot_error("Cannot merge an object with itself", "VALIDATION_ERROR")
        mine, theirs = primary["properties"], other["properties"]
        self._unindex(object_type, other)
        for name, value in theirs.items():
            if name in ("hs_object_id", "createdate") or value in (None, ""):
                continue
            if name == "email" and mine.get("email"):
                extra = [e for e in (mine.get("hs_additional_emails") or "").split(";") if e]
                mine["hs_additional_emails"] = ";".join([*extra, value])
                self._indexes[object_type]["email"][str(value).strip().lower()] = primary_id
            elif mine.get(name) in (None, ""):
                mine[name] = value
        merged_ids = [i for i in (mine.get("hs_merged_object_ids") or "").split(";") if i]
        mine["hs_merged_object_ids"] = ";".join([*merged_ids, other_id])
        del objects[other_id]
        self.merged[other_id] = primary_id
        for pair in [pair for pair in self.associations if other_id in pair]:
            types = self.associations.pop(pair)
            moved = tuple(primary_id if end == other_id else end for end in pair)
            self.associations.setdefault(moved, set()).update(types)  # type: ignore[arg-type]
        self._index(object_type, primary)
        stamp = _iso(self.now())
        primary["updatedAt"] = stamp
        mine[MODIFIED_PROPERTY[object_type]] = stamp
        return SandboxResponse.json(_shown(primary, mine))

    @route("POST", "/communication-preferences/v3/subscribe")
    def subscribe(self, request: SandboxRequest) -> SandboxResponse:
        return self._subscription(request, subscribe=True)

    @route("POST", "/communication-preferences/v3/unsubscribe")
    def unsubscribe(self, request: SandboxRequest) -> SandboxResponse:
        return self._subscription(request, subscribe=False)

    def _subscription(self, request: SandboxRequest, *, subscribe: bool) -> SandboxResponse:
        """HubSpot's communication preferences: 200 with the new status, 400 for an
        address already in it, an unknown subscription type or an invalid address."""
        if refusal := self._admit(request, write=True):
            return refusal
        body = _body(request)
        if not isinstance(body, dict):
            return hubspot_error("Invalid input JSON", "VALIDATION_ERROR")
        email, subscription = body.get("emailAddress"), body.get("subscriptionId")
        if not isinstance(email, str) or not _EMAIL.match(email.strip()):
            return hubspot_error(f"Invalid email address: {email}", "VALIDATION_ERROR")
        if str(subscription) not in SUBSCRIPTION_TYPES:
            return hubspot_error(
                f"Subscription with ID {subscription} does not exist", "VALIDATION_ERROR"
            )
        key = (email.strip().lower(), str(subscription))
        status = "SUBSCRIBED" if subscribe else "NOT_SUBSCRIBED"
        if self.subscriptions.get(key, "NOT_SUBSCRIBED" if subscribe else None) == status:
            word = "subscribed to" if subscribe else "unsubscribed from"
            return hubspot_error(
                f"{email} is already {word} subscription {subscription}", "VALIDATION_ERROR"
            )
        self.subscriptions[key] = status
        if subscribe and body.get("legalBasis"):
            self.legal_bases[key] = str(body["legalBasis"])
        return SandboxResponse.json(
            {
                "recipient": email,
                "subscriptionId": str(subscription),
                "subscriptionName": SUBSCRIPTION_TYPES[str(subscription)],
                "subscriptionStatus": status,
                "sourceOfStatus": "SUBSCRIPTION_STATUS",
                "legalBasis": body.get("legalBasis") if subscribe else None,
                "legalBasisExplanation": body.get("legalBasisExplanation") if subscribe else None,
            }
        )

    # -- helpers -------------------------------------------------------------------------

    def _admit(self, request: SandboxRequest, *, write: bool = False) -> SandboxResponse | None:
        """The checks every route makes first: the path's version and object type, the
        token's scopes, the daily limit (which counts the request)."""
        version = request.params.get("version")
        if version is not None and not _DATED.match(version):
            return self.not_found_response(request)
        for key in ("object_type", "from_type", "to_type"):
            if key in request.params and request.params[key] not in OBJECT_TYPES:
                return hubspot_error(
                    f"Unable to infer object type from: {request.params[key]}",
                    "VALIDATION_ERROR",
                )
        if write and _token(request) == SANDBOX_READ_ONLY_TOKEN:
            object_type = OBJECT_TYPES[request.params.get("object_type", "contacts")]
            return self._missing_scopes(f"crm.objects.{object_type}.write")
        if self.daily_limit is not None and self.daily_used >= self.daily_limit:
            return self._daily_response()
        self.daily_used += 1
        return None

    def _type(self, request: SandboxRequest) -> str:
        return OBJECT_TYPES[request.params.get("object_type", "contacts")]

    def _ends(self, request: SandboxRequest) -> tuple[tuple[str, str], SandboxResponse | None]:
        ends = (OBJECT_TYPES[request.params["from_type"]], OBJECT_TYPES[request.params["to_type"]])
        if set(ends) != {"contacts", "companies"}:
            refusal = hubspot_error(
                "this sandbox associates contacts and companies only", "VALIDATION_ERROR"
            )
            return ends, refusal
        return ends, None

    def _batch_inputs(self, request: SandboxRequest) -> tuple[list[Any], SandboxResponse | None]:
        """A batch's inputs, or the refusal of a body without a list of them or of too
        many."""
        inputs = _inputs(request)
        if inputs is None:
            refusal = hubspot_error("Invalid input JSON: inputs must be a list", "VALIDATION_ERROR")
            return [], refusal
        return inputs, self.check_batch(request, len(inputs))

    def _association_batch(
        self, request: SandboxRequest
    ) -> tuple[tuple[str, str], list[Any], SandboxResponse | None]:
        """The checks an association batch (made or archived) passes first, in HubSpot's
        order: admission, the two ends, the inputs."""
        if refusal := self._admit(request, write=True):
            return ("", ""), [], refusal
        ends, refusal = self._ends(request)
        if refusal:
            return ends, [], refusal
        inputs, refusal = self._batch_inputs(request)
        return ends, inputs, refusal

    def _find(self, object_type: str, id_property: str, value: str) -> dict[str, Any] | None:
        objects = self.objects[object_type]
        if id_property in ("hs_object_id", "id"):
            return objects.get(self.merged.get(value, value))
        index = self._indexes[object_type].get(id_property)
        if index is not None:
            object_id = index.get(value.strip().lower())
            return objects.get(object_id) if object_id is not None else None
        wanted = value.strip().lower()
        return next(
            (
                o
                for o in objects.values()
                if str(o["properties"].get(id_property, "")).lower() == wanted
            ),
            None,
        )

    def _index(self, object_type: str, found: dict[str, Any]) -> None:
        for name, index in self._indexes[object_type].items():
            value = found["properties"].get(name)
            if value:
                index[str(value).strip().lower()] = found["id"]

    def _unindex(self, object_type: str, found: dict[str, Any]) -> None:
        for name, index in self._indexes[object_type].items():
            value = found["properties"].get(name)
            if value and index.get(str(value).strip().lower()) == found["id"]:
                del index[str(value).strip().lower()]

    def _window(self) -> float:
        limit = self.rate_limits.get("default")
        return limit.per_seconds if limit else BURST_LIMIT.per_seconds


def _token(request: SandboxRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else ""


def _body(request: SandboxRequest) -> Any:
    try:
        return request.json()
    except ValueError:
        return None


def _contact_first(ends: tuple[str, str], from_id: str, to_id: str) -> tuple[str, str]:
    """An association's key: the contact's id first, whichever way it was asked."""
    return (from_id, to_id) if ends[0] == "contacts" else (to_id, from_id)


def _inputs(request: SandboxRequest) -> list[Any] | None:
    body = _body(request)
    inputs = body.get("inputs") if isinstance(body, dict) else None
    return inputs if isinstance(inputs, list) else None


def _text(value: Any) -> str:
    """A property value as HubSpot stores it: text (numbers and booleans written out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _wanted(request: SandboxRequest, object_type: str) -> tuple[str, ...]:
    asked = request.query.get("properties")
    return tuple(asked.split(",")) if asked else SHOWN_BY_DEFAULT[object_type]


def _sortable(found: dict[str, Any], name: str) -> Any:
    value = found["properties"].get(name)
    if name in ("hs_object_id",) and value is not None:
        return int(value)
    return "" if value is None else str(value)


def _passes(found: dict[str, Any], filters: list[Any]) -> bool:
    """Whether an object passes every filter of a group (dates as epoch milliseconds or
    ISO text, compared as times)."""
    for f in filters:
        if not isinstance(f, dict):
            return False
        name, operator = f.get("propertyName"), f.get("operator")
        have = found["properties"].get(name)
        if operator == "HAS_PROPERTY":
            if have in (None, ""):
                return False
            continue
        if operator == "NOT_HAS_PROPERTY":
            if have not in (None, ""):
                return False
            continue
        compare = _OPERATORS.get(str(operator))
        if compare is None or have in (None, ""):
            return False
        want = f.get("value")
        if name in MODIFIED_PROPERTY.values() or name == "createdate":
            have, want = _epoch_ms(have), _epoch_ms(want)
        if have is None or want is None or not compare(have, want):
            return False
    return True


def _epoch_ms(value: Any) -> int | None:
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def _shown(found: dict[str, Any], wanted: Iterable[str]) -> dict[str, Any]:
    properties = found["properties"]
    return {
        "id": found["id"],
        "properties": {name: properties.get(name) for name in dict.fromkeys(wanted)},
        "createdAt": found["createdAt"],
        "updatedAt": found["updatedAt"],
        "archived": found["archived"],
    }


if __name__ == "__main__":
    HubSpotSandbox.main()
