"""The HubSpot source: contacts and companies read incrementally through the CRM search
API, with each contact's companies as memberships."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import ValidationError

from spokehub_contracts import (
    Account,
    Address,
    Capabilities,
    CheckResult,
    ConfigError,
    Identifier,
    Membership,
    ModifiedSince,
    PermanentError,
    Person,
    RateLimit,
    RejectedRecord,
    Source,
    SourceRecord,
    SpokeClient,
    StateCheckpoint,
    Stream,
    ValidationFailed,
)

from ._client import check_access, hubspot_client
from ._config import PRODUCTION_URL
from ._mapping import CONTACT_ID_TYPE
from ._source_config import HubSpotSourceConfig

#: The most results HubSpot's search API pages through for one query; past it, the
#: reader starts a new query from the newest modification it has read.
SEARCH_RESULT_CAP = 10_000
#: The search API's own limit: five requests a second per token. The reader keeps below.
SEARCH_LIMIT = RateLimit(requests=4, per_seconds=1.0)
#: Each object type's last-modified property, the one an incremental read filters on.
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
#: How an account read from HubSpot is named in the hub: its company id, namespaced.
ACCOUNT_PREFIX = "hubspot:company:"

CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "jobtitle",
    "website",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "date_of_birth",
    "lifecyclestage",
    "createdate",
    "lastmodifieddate",
)
COMPANY_PROPERTIES = (
    "name",
    "domain",
    "website",
    "industry",
    "numberofemployees",
    "phone",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "createdate",
    "hs_lastmodifieddate",
)
_STATE_RULE = (
    'must look like {"since": "<ISO time>" or null, "boundary": [<ids>], "after": ...};'
    " reset the stream's state to read it whole again"
)


def _moment(value: Any) -> datetime | None:
    """HubSpot's times: ISO 8601 (``2026-03-10T09:00:00.123Z``) or epoch milliseconds."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def contact_identifiers(result: Mapping[str, Any]) -> tuple[Identifier, ...]:
    """A contact's HubSpot id, e-mail and phone; a value that is no address or number is
    left out (the trait keeps it)."""
    properties = result.get("properties") or {}
    found: list[Identifier] = []
    for type_, value in (
        (CONTACT_ID_TYPE, result.get("id")),
        ("email", properties.get("email")),
        ("phone", properties.get("phone")),
    ):
        if _text(value):
            with contextlib.suppress(ValueError, ValidationFailed):
                found.append(Identifier(type=type_, value=str(value)))
    return tuple(found)


def _address(p: Mapping[str, Any]) -> Address | None:
    values = {
        "street": _text(p.get("address")),
        "city": _text(p.get("city")),
        "state": _text(p.get("state")),
        "postal_code": _text(p.get("zip")),
        "country": _text(p.get("country")),
    }
    return Address(**values) if any(values.values()) else None


def contact_person(result: Mapping[str, Any], extra: Sequence[str] = ()) -> Person:
    """A contact search result as a person.

    :raises ValidationError: a property breaks the schema (``birthday``).
    """
    p = result.get("properties") or {}
    attributes = {
        name: p[name] for name in ("lifecyclestage", *extra) if p.get(name) not in (None, "")
    }
    # Text as HubSpot keeps it; Person reads it as a date and refuses one that is not.
    birthday: Any = _text(p.get("date_of_birth"))
    return Person(
        first_name=_text(p.get("firstname")),
        last_name=_text(p.get("lastname")),
        email=_text(p.get("email")),
        phone=_text(p.get("phone")),
        title=_text(p.get("jobtitle")),
        website=_text(p.get("website")),
        address=_address(p),
        birthday=birthday,
        created_at=_moment(p.get("createdate")),
        attributes=attributes,
    )


def company_account(result: Mapping[str, Any], extra: Sequence[str] = ()) -> Account:
    """A company search result as an account, named ``hubspot:company:<id>``; its domain
    under ``attributes.domain`` (where the HubSpot destination finds a company by)."""
    p = result.get("properties") or {}
    attributes = {
        name: p[name] for name in ("domain", "phone", *extra) if p.get(name) not in (None, "")
    }
    employees = _text(p.get("numberofemployees"))
    return Account(
        account_id=f"{ACCOUNT_PREFIX}{result.get('id')}",
        name=_text(p.get("name")),
        industry=_text(p.get("industry")),
        employees=int(float(employees)) if employees else None,
        website=_text(p.get("website")),
        address=_address(p),
        created_at=_moment(p.get("createdate")),
        attributes=attributes,
    )


class HubSpotSource(Source):
    """Reads a HubSpot portal's contacts and companies as they change.

    Each stream is a search (``POST /crm/v3/objects/{type}/search``) for objects whose
    last-modified date (``lastmodifieddate``, ``hs_lastmodifieddate``) is at or after the
    last run's newest, sorted by it, paged with ``after``; the ids read at exactly that
    moment are skipped unless they changed again. HubSpot pages one query through 10,000
    results at most: the reader then starts a new query from the newest modification it
    has read. Each page of contacts brings their companies
    (``POST /crm/v4/associations/contacts/companies/batch/read``) as memberships.
    """

    name: ClassVar[str] = "hubspot"
    Config: ClassVar[type[HubSpotSourceConfig]] = HubSpotSourceConfig
    description: ClassVar[str] = "HubSpot CRM: contacts, companies and memberships as they change"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("person", "account", "membership"),
        rate_limit=SEARCH_LIMIT,
        identifier_types=(CONTACT_ID_TYPE, "email", "phone"),
        base_url=PRODUCTION_URL,
        incremental=True,
    )

    config: HubSpotSourceConfig

    def __init__(self, config: HubSpotSourceConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self.api = config.api
        self._client: SpokeClient | None = None

    @property
    def client(self) -> SpokeClient:
        if self._client is None:
            self._client = hubspot_client(self.capabilities, self.config)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check(self) -> CheckResult:
        """One search for a contact: a refused token or a missing scope, an outage and a
        ``base_url`` that is no HubSpot are told apart."""
        return await check_access(
            self.client.post(self.api.search("contacts"), json={"limit": 1}),
            scopes="the crm.objects.contacts.read scope",
            missing=f"HubSpot's search is not at {self.config.base_url}",
        )

    async def streams(self) -> Sequence[Stream]:
        offered = {
            "contacts": Stream(
                name="contacts",
                kind="person",
                incremental=True,
                description="contacts as persons, their companies as memberships",
            ),
            "companies": Stream(
                name="companies", kind="account", incremental=True, description="companies"
            ),
        }
        return [offered[name] for name in self.config.streams]

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        if stream not in MODIFIED:
            raise ConfigError(f"streams.{stream}", "must be contacts or companies")
        read, after = _read_state(stream, state)
        modified = MODIFIED[stream]
        size = self.config.page_size
        if stream == "contacts":
            properties = [*CONTACT_PROPERTIES, *self.config.contact_properties]
        else:
            properties = [*COMPANY_PROPERTIES, *self.config.company_properties]
        while True:
            if after is not None and int(after) + size > SEARCH_RESULT_CAP:
                # HubSpot pages no further: query again from the newest read.
                if read.newest is None or read.newest == read.since:
                    raise PermanentError(
                        f"more than {SEARCH_RESULT_CAP} HubSpot {stream} were modified at"
                        f" {read.since}: the search API cannot page past them"
                    )
                read.restart_from_newest()
                after = None
            body: dict[str, Any] = {
                "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                "properties": properties,
                "limit": size,
            }
            if read.since is not None:
                moment = _moment(read.since)
                assert moment is not None
                body["filterGroups"] = [
                    {
                        "filters": [
                            {"propertyName": modified, "operator": "GTE", "value": _millis(moment)}
                        ]
                    }
                ]
            if after is not None:
                body["after"] = after
            answer = (await self.client.post(self.api.search(stream), json=body)).json()
            results = [r for r in answer.get("results") or () if isinstance(r, Mapping)]
            fresh: list[Mapping[str, Any]] = []
            for result in results:
                ident = str(result.get("id"))
                at = _moment((result.get("properties") or {}).get(modified))
                stamp = _iso(at) if at else None
                if read.fresh(ident, stamp, (ident, stamp or "")):
                    fresh.append(result)
            read.page_read()
            for item in await self._records(stream, fresh):
                yield item
            following = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if following:
                after = str(following)
                yield StateCheckpoint(stream=stream, state=read.resume_state("after", after))
                continue
            yield StateCheckpoint(stream=stream, state=read.next_run_state("after"))
            return

    async def _records(
        self, stream: str, results: list[Mapping[str, Any]]
    ) -> list[SourceRecord | RejectedRecord]:
        out: list[SourceRecord | RejectedRecord] = []
        modified = MODIFIED[stream]
        companies = (
            await self._companies_of([str(r.get("id")) for r in results])
            if (stream == "contacts" and results)
            else {}
        )
        for result in results:
            ident = str(result.get("id"))
            observed = _moment((result.get("properties") or {}).get(modified))
            extra = {"observed_at": observed} if observed else {}
            try:
                if stream == "companies":
                    account = company_account(result, self.config.company_properties)
                    out.append(SourceRecord(stream=stream, record_id=ident, data=account, **extra))
                    continue
                ids = contact_identifiers(result)
                person = contact_person(result, self.config.contact_properties)
            except (ValidationError, ValueError) as exc:
                out.append(_rejected(stream, result, exc))
                continue
            out.append(
                SourceRecord(stream=stream, record_id=ident, identifiers=ids, data=person, **extra)
            )
            for company, label in companies.get(ident, ()):
                out.append(
                    SourceRecord(
                        stream=stream,
                        record_id=f"{ident}:company:{company}",
                        identifiers=ids,
                        data=Membership(account_id=f"{ACCOUNT_PREFIX}{company}", role=label),
                        **extra,
                    )
                )
        return out

    async def _companies_of(
        self, contact_ids: list[str]
    ) -> dict[str, list[tuple[str, str | None]]]:
        """Contact id → its companies (id and association label), read in one request."""
        path = self.api.associations("contacts", "companies", "read")
        answer = (
            await self.client.post(path, json={"inputs": [{"id": i} for i in contact_ids]})
        ).json()
        found: dict[str, list[tuple[str, str | None]]] = {}
        for result in answer.get("results") or ():
            contact = str((result.get("from") or {}).get("id"))
            for to in result.get("to") or ():
                labels = [
                    t.get("label") for t in to.get("associationTypes") or () if t.get("label")
                ]
                found.setdefault(contact, []).append(
                    (str(to.get("toObjectId")), labels[0] if labels else None)
                )
        return found


def _rejected(stream: str, result: Mapping[str, Any], exc: Exception) -> RejectedRecord:
    field, rule = "(object)", type(exc).__name__
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or field
        rule = first["msg"]
    return RejectedRecord(
        stream=stream,
        location=f"{stream} {result.get('id')}",
        field=field,
        rule=rule,
        raw=dict(result),
    )


def _time(value: Any) -> str | None:
    moment = _moment(value) if isinstance(value, str) else None
    return _iso(moment) if moment else None


def _read_state(stream: str, state: Mapping[str, Any] | None) -> tuple[ModifiedSince, str | None]:
    """Where a read of ``stream`` starts, and the search's ``after`` within its query."""
    if not state:
        return ModifiedSince(), None
    since, boundary, after = state.get("since"), state.get("boundary") or [], state.get("after")
    if (
        not (since is None or _time(since))
        or not isinstance(boundary, list)
        or not (after is None or (isinstance(after, str) and after.isdigit()))
    ):
        raise ConfigError(f"state of stream {stream!r}", _STATE_RULE)
    ids = [str(b) for b in boundary]
    if after is None:
        return ModifiedSince(_time(since), ids), None
    # Resumed within a run: what the pages before ``after`` found still counts.
    newest_ids = [str(i) for i in state.get("newest_ids") or ()]
    read = ModifiedSince(
        _time(since), ids, newest=_time(state.get("newest")), newest_ids=newest_ids
    )
    return read, after
