"""The HubSpot destination: the hub's people, companies and memberships in the CRM."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from spokehub_contracts import (
    AudienceEntered,
    AudienceExited,
    Capabilities,
    Change,
    CheckResult,
    ConsentChanged,
    Delivered,
    Destination,
    Identifier,
    MergeContacts,
    Outcome,
    PermanentError,
    RateLimit,
    Rejected,
    RetryAfter,
    TrackEvent,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
    ValidationFailed,
    normalize_email,
)

from ._batches import MAX_INPUTS, BatchInput, Written, associate, dissociate, write_objects
from ._client import check_access, hubspot_client
from ._config import PRODUCTION_URL, HubSpotConfig
from ._contacts import change_subscription, merge_contacts
from ._errors import BURST_WINDOW_SECONDS
from ._mapping import (
    CONTACT_ID_TYPE,
    account_domain,
    account_source,
    audience_property,
    audience_value,
    contact_email,
    contact_id_of,
    domain_of,
    event_source,
    person_source,
    properties_of,
)

log = logging.getLogger(__name__)

#: HubSpot's burst limit for the accounts with the least: 100 requests in any rolling
#: ten seconds (Free and Starter, and every OAuth app). Higher tiers allow more; the
#: spoke keeps to the floor, and waits out HubSpot's 429 if other apps of the portal
#: spend the budget too.
BURST_LIMIT = RateLimit(requests=100, per_seconds=BURST_WINDOW_SECONDS)
#: Accounts (domains) and people (e-mail addresses) the spoke remembers, each.
_KEPT = 100_000


@dataclass
class _Plan:
    """What one batch asks of HubSpot: the contacts and companies to write (one input per
    object, the properties of every change about it merged in batch order), which of
    them each item needs, and the associations to make or end."""

    contacts: dict[str, BatchInput] = field(default_factory=dict)
    companies: dict[str, BatchInput] = field(default_factory=dict)
    #: item → its contact's key, for items whose outcome carries the contact id.
    contact_of: dict[str, str] = field(default_factory=dict)
    #: item → its company's key.
    company_of: dict[str, str] = field(default_factory=dict)
    #: item → whether its membership has ended (the association is removed).
    ended: dict[str, bool] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def contact(self, item_id: str, key: BatchInput) -> None:
        self.contact_of[item_id] = _merge(self.contacts, key)

    def company(self, item_id: str, key: BatchInput) -> None:
        self.company_of[item_id] = _merge(self.companies, key)

    def reject(self, item_id: str, reason: str) -> None:
        self.outcomes[item_id] = Rejected(item_id=item_id, reason=reason)


def _merge(inputs: dict[str, BatchInput], new: BatchInput) -> str:
    known = inputs.get(new.key)
    if known is None:
        inputs[new.key] = new
    else:
        known.properties.update(new.properties)
    return new.key


class HubSpotDestination(Destination):
    """Keeps HubSpot's CRM in step with the hub: people as contacts (upserted by e-mail),
    accounts as companies (upserted by domain), memberships as contact-to-company
    associations, order facts and audience membership as contact properties.

    Every change about one contact in a batch goes out as one input, its properties
    merged in batch order. Each item's outcome carries the HubSpot id of its object:
    the contact's (people, events, audiences, memberships) or the company's (accounts).
    """

    name: ClassVar[str] = "hubspot"
    Config: ClassVar[type[HubSpotConfig]] = HubSpotConfig
    description: ClassVar[str] = "HubSpot CRM: contacts, companies and their associations"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=(
            "upsert_person",
            "upsert_account",
            "upsert_membership",
            "event",
            "audience_entered",
            "audience_exited",
            "merge",
            "consent",
        ),
        batch_size=MAX_INPUTS,
        rate_limit=BURST_LIMIT,
        identifier_types=("email", CONTACT_ID_TYPE),
        can_delete=True,
        base_url=PRODUCTION_URL,
        # Each delivered contact answers its HubSpot id; the hub records it on the contact.
        external_id_type=CONTACT_ID_TYPE,
        # The CRM holds the customer for service (an order, a support case); a marketing
        # opt-out reaches it as a subscription status, not as a withheld contact.
        purposes=("service",),
        merges=True,
    )

    config: HubSpotConfig

    def __init__(self, config: HubSpotConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self.api = config.api
        self.contact_mapping = config.contact_mapping()
        self.company_mapping = config.company_mapping()
        self.event_mappings = config.event_mappings()
        # One client for the spoke's life: its rate limit is shared by every call.
        self.client = hubspot_client(self.capabilities, config)
        # Hub account id → company domain, learned from account changes, for the
        # memberships that name the account alone; hub contact id → e-mail address, for
        # the changes that name the person by a user id alone.
        self._domains: dict[str, str] = {}
        self._emails: dict[str, str] = {}

    async def check(self) -> CheckResult:
        """Read one contact (``GET /crm/v3/objects/contacts?limit=1``): tells a refused
        token or a missing scope from an outage from a wrong ``base_url``."""
        return await check_access(
            self.client.get(self.api.objects("contacts"), params={"limit": 1}),
            scopes="the crm.objects.contacts scopes",
            missing=f"HubSpot's contacts are not readable at {self.config.base_url}",
        )

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        """Write ``batch`` to HubSpot and answer one outcome per item: companies first
        (a membership needs its company's id), then contacts, then associations.

        :raises AuthError: the token was refused or lacks a scope.
        :raises Throttled: HubSpot asked to wait longer than the client waits itself (its
            daily limit).
        :raises TransientError: HubSpot stayed unreachable or answered without JSON.
        """
        plan = _Plan()
        # Merges first: the upserts of the same batch then find the merged contact.
        for change in batch:
            if isinstance(change, MergeContacts):
                plan.outcomes[change.item_id] = await merge_contacts(
                    self.client, self.api, change, self._emails
                )
        for change in batch:
            if isinstance(change, ConsentChanged):
                plan.outcomes[change.item_id] = await self._consent(change)
            elif not isinstance(change, MergeContacts):
                self._plan(plan, change)
        companies = await write_objects(
            self.client, self.api, "companies", list(plan.companies.values()), what="company"
        )
        contacts = await write_objects(
            self.client, self.api, "contacts", list(plan.contacts.values()), what="contact"
        )
        links = await self._link(plan, contacts, companies)
        outcomes = []
        for change in batch:
            item = change.item_id
            outcome = plan.outcomes.get(item) or _outcome(
                item,
                contacts.get(plan.contact_of.get(item, "")),
                companies.get(plan.company_of.get(item, "")),
                links.get(item),
            )
            outcomes.append(outcome)
        delivered = sum(1 for o in outcomes if isinstance(o, Delivered))
        log.info("wrote %d changes to HubSpot: %d delivered", len(batch), delivered)
        return outcomes

    async def forget(self, identifiers: Sequence[Identifier]) -> Outcome:
        """Erase the person for good with HubSpot's GDPR delete
        (``POST /crm/v3/objects/contacts/gdpr-delete``), once per e-mail address (with
        ``idProperty: email``) and per HubSpot contact id. HubSpot also blocks an
        address it held no contact for, so it is never recreated by a form."""
        requests: list[dict[str, str]] = []
        for identifier in identifiers:
            if identifier.type == "email":
                try:
                    email = normalize_email(identifier.value)
                except ValidationFailed:
                    continue
                requests.append({"objectId": email, "idProperty": "email"})
            elif identifier.type == CONTACT_ID_TYPE:
                requests.append({"objectId": identifier.value})
        if not requests:
            return Rejected(item_id="forget", reason="no e-mail address or HubSpot contact id")
        # The spoke forgets the addresses too, not only HubSpot.
        erased = {body["objectId"] for body in requests}
        for key in [k for k, email in self._emails.items() if email in erased]:
            del self._emails[key]
        refused: list[str] = []
        for body in requests:
            try:
                await self.client.post(self.api.gdpr_delete(), json=body)
            except PermanentError as exc:
                if exc.status_code != 404:  # a contact id that is gone already
                    refused.append(exc.vendor_message or str(exc.status_code))
        log.info("forget: %d GDPR deletes, %d refused", len(requests), len(refused))
        if refused:
            return Rejected(item_id="forget", reason=f"HubSpot refused the erasure: {refused[0]}")
        return Delivered(item_id="forget")

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _consent(self, change: ConsentChanged) -> Outcome:
        email = contact_email(change)
        if email is None and change.contact_id:
            email = self._emails.get(change.contact_id)
        return await change_subscription(
            self.client,
            self.api,
            change,
            subscription_ids=self.config.subscription_ids,
            email=email,
            legal_basis=self.config.legal_basis,
            legal_basis_explanation=self.config.legal_basis_explanation,
        )

    # -- planning ------------------------------------------------------------------------

    def _plan(self, plan: _Plan, change: Change) -> None:
        item = change.item_id
        if isinstance(change, UpsertAccount):
            company = self._company_input(change)
            if company is None:
                plan.reject(
                    item,
                    "no domain to match a HubSpot company on: give the account"
                    " a website or a 'domain' attribute",
                )
            else:
                plan.company(item, company)
            return
        if isinstance(change, UpsertPerson):
            properties = properties_of(person_source(change), self.contact_mapping)
        elif isinstance(change, TrackEvent):
            name = change.event.event or change.event.name or change.event.type.value
            mapping = self.event_mappings.get(name)
            if mapping is None:
                plan.reject(
                    item,
                    f"no contact properties are mapped for event {name!r}: map"
                    " it under the connection's events",
                )
                return
            properties = properties_of(event_source(change.event), mapping)
        elif isinstance(change, AudienceEntered | AudienceExited):
            prop = audience_property(
                change.audience,
                self.config.audience_properties,
                self.config.audience_property_prefix,
            )
            properties = {prop: audience_value(change)}
        elif isinstance(change, UpsertMembership):
            properties = {}
            company = self._membership_company(change.membership.account_id)
            if company is None:
                plan.reject(
                    item,
                    f"no HubSpot company known for account {change.membership.account_id!r}:"
                    " send the account (with a website or domain) before its memberships",
                )
                return
            plan.company(item, company)
            plan.ended[item] = change.membership.ended_at is not None
        else:
            plan.reject(item, f"{self.name} does not take {change.kind!r} changes")
            return
        contact = self._contact_input(change, properties)
        if contact is None:
            plan.company_of.pop(item, None)
            plan.ended.pop(item, None)
            plan.reject(item, "no e-mail address or HubSpot contact id to find the contact by")
            return
        plan.contact(item, contact)

    def _contact_input(self, change: Change, properties: dict[str, str]) -> BatchInput | None:
        """The contact ``change`` is about: by e-mail (upserted), else by the HubSpot
        contact id the hub recorded (updated). A change that names the person by neither
        (an order or a membership carries the identifiers of its own call, often a user
        id alone) uses the address of the hub contact's last change that had one."""
        email = contact_email(change)
        if email is not None and change.contact_id:
            _remember(self._emails, change.contact_id, email)
        contact_id = contact_id_of(change.identifiers)
        if email is None and contact_id is None and change.contact_id:
            email = self._emails.get(change.contact_id)
        if email is not None:
            return BatchInput(f"email:{email}", email, "email", {**properties, "email": email})
        if contact_id is not None:
            properties.pop("email", None)
            return BatchInput(f"id:{contact_id}", contact_id, None, properties)
        return None

    def _company_input(self, change: UpsertAccount) -> BatchInput | None:
        account = change.account
        domain = account_domain(account)
        if domain is None:
            return None
        _remember(self._domains, account.account_id, domain)
        properties = properties_of(account_source(account), self.company_mapping)
        properties["domain"] = domain
        return BatchInput(f"domain:{domain}", domain, "domain", properties)

    def _membership_company(self, account_id: str) -> BatchInput | None:
        domain = self._domains.get(account_id) or domain_of(account_id)
        if domain is None:
            return None
        return BatchInput(f"domain:{domain}", domain, "domain", {"domain": domain})

    async def _link(
        self, plan: _Plan, contacts: dict[str, Written], companies: dict[str, Written]
    ) -> dict[str, Written]:
        """Make or end the association of each membership whose contact and company were
        written; answer each membership item's :class:`Written`."""
        pairs: dict[str, tuple[str, str]] = {}
        for item in plan.ended:
            contact = contacts.get(plan.contact_of.get(item, ""))
            company = companies.get(plan.company_of.get(item, ""))
            if contact and company and contact.ok and company.ok:
                assert contact.object_id and company.object_id
                pairs[item] = (contact.object_id, company.object_id)
        made = await associate(
            self.client,
            self.api,
            [pair for item, pair in pairs.items() if not plan.ended[item]],
            category=self.config.association_category,
            type_id=self.config.association_type_id,
        )
        ended = await dissociate(
            self.client, self.api, [pair for item, pair in pairs.items() if plan.ended[item]]
        )
        return {item: (ended if plan.ended[item] else made)[pair] for item, pair in pairs.items()}


def _remember(memory: dict[str, str], key: str, value: str) -> None:
    """Remember ``key`` as the latest, forgetting the oldest beyond :data:`_KEPT`."""
    memory.pop(key, None)
    if len(memory) >= _KEPT:
        memory.pop(next(iter(memory)))
    memory[key] = value


def _outcome(
    item: str, contact: Written | None, company: Written | None, link: Written | None
) -> Outcome:
    """One item's outcome from what came of the objects it needed."""
    needed = [w for w in (company, contact, link) if w is not None]
    for written in needed:
        if written.reason and written.retry_after is None:
            return Rejected(item_id=item, reason=written.reason)
    waits = [w for w in needed if w.retry_after is not None]
    if waits:
        longest = max(waits, key=lambda w: w.retry_after or 0.0)
        return RetryAfter(item_id=item, seconds=longest.retry_after or 0.0, reason=longest.reason)
    main = contact or company
    return Delivered(item_id=item, external_id=main.object_id if main else None)
