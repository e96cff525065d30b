"""Requests about one contact at a time: merging two contacts, and a contact's
subscription status for a consent purpose.

Both are rare beside upserts and HubSpot takes them one per request:
``POST /crm/v3/objects/contacts/merge`` (``primaryObjectId``, ``objectIdToMerge``) and
``POST /communication-preferences/v3/subscribe`` or ``…/unsubscribe`` (``emailAddress``,
``subscriptionId``, for a subscribe the ``legalBasis`` and its explanation).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from spokehub_contracts import (
    ConsentChanged,
    Delivered,
    Identifier,
    MergeContacts,
    Outcome,
    PermanentError,
    Rejected,
    SpokeClient,
    ValidationFailed,
    normalize_email,
)

from ._api import HubSpotApi
from ._batches import json_of
from ._mapping import contact_id_of

log = logging.getLogger(__name__)


def emails_of(identifiers: Iterable[Identifier]) -> list[str]:
    """The valid e-mail addresses among ``identifiers``, normalized."""
    found = []
    for identifier in identifiers:
        if identifier.type == "email":
            try:
                found.append(normalize_email(identifier.value))
            except ValidationFailed:
                continue
    return found


async def find_contact(client: SpokeClient, api: HubSpotApi, emails: Iterable[str]) -> str | None:
    """The id of the contact HubSpot holds for the first of ``emails`` it knows."""
    for email in emails:
        path = f"{api.objects('contacts')}/{quote(email, safe='@')}"
        try:
            response = await client.get(path, params={"idProperty": "email"})
        except PermanentError as exc:
            if exc.status_code == 404:
                continue
            raise
        found = _object_id(response, path)
        if found:
            return str(found)
    return None


async def merge_contacts(
    client: SpokeClient, api: HubSpotApi, change: MergeContacts, known: Mapping[str, str]
) -> Outcome:
    """Fold the absorbed contact into the survivor's; answer the merged contact's id.

    Each side is found by the HubSpot id the hub knows, else by its e-mail addresses
    (``known`` holds the last address each hub contact was sent with). A side HubSpot
    does not hold leaves nothing to merge: the item is delivered with the id of the side
    it does hold, and the survivor's upsert that follows the merge brings it up to date.
    """
    item = change.item_id
    primary = (
        change.external_id
        or contact_id_of(change.identifiers)
        or await find_contact(client, api, _addresses(change.identifiers, known, change.contact_id))
    )
    absorbed = (
        change.absorbed_external_id
        or contact_id_of(change.absorbed_identifiers)
        or await find_contact(
            client,
            api,
            _addresses(change.absorbed_identifiers, known, change.absorbed_contact_id),
        )
    )
    if primary is None or absorbed is None or primary == absorbed:
        return Delivered(item_id=item, external_id=primary or absorbed)
    body = {"primaryObjectId": primary, "objectIdToMerge": absorbed}
    try:
        response = await client.post(api.merge("contacts"), json=body)
    except PermanentError as exc:
        if exc.status_code == 404:
            # Merged or deleted already (a merge sent again after a lost answer).
            return Delivered(item_id=item, external_id=primary)
        reason = exc.vendor_message or str(exc.status_code)
        return Rejected(item_id=item, reason=f"HubSpot refused the merge: {reason}")
    # HubSpot answers the merged contact, whose id need not be the primary's.
    merged = _object_id(response, api.merge("contacts")) or primary
    log.info("merged two HubSpot contacts")
    return Delivered(item_id=item, external_id=str(merged))


def _object_id(response: Any, path: str) -> str | None:
    body = json_of(response, path)
    found = body.get("id") if isinstance(body, dict) else None
    return str(found) if found else None


def _addresses(
    identifiers: Iterable[Identifier], known: Mapping[str, str], contact_id: str | None
) -> list[str]:
    found = emails_of(identifiers)
    if contact_id and contact_id in known:
        found.append(known[contact_id])
    return list(dict.fromkeys(found))


async def change_subscription(
    client: SpokeClient,
    api: HubSpotApi,
    change: ConsentChanged,
    *,
    subscription_ids: Mapping[str, str],
    email: str | None,
    legal_basis: str | None,
    legal_basis_explanation: str,
) -> Outcome:
    """Subscribe or unsubscribe the contact's address to the subscription type mapped to
    the consent's purpose. A status HubSpot already has is delivered as it is."""
    item = change.item_id
    purpose = change.consent.purpose.value
    subscription = subscription_ids.get(purpose)
    if subscription is None:
        return Rejected(
            item_id=item,
            reason=f"no HubSpot subscription type for purpose {purpose!r}: map it under"
            " subscription_ids (Settings → Marketing → Email → Subscriptions)",
        )
    if email is None:
        return Rejected(item_id=item, reason="no e-mail address to change the subscription of")
    granted = change.consent.granted
    body: dict[str, str] = {"emailAddress": email, "subscriptionId": subscription}
    if granted and legal_basis:
        body["legalBasis"] = legal_basis
        body["legalBasisExplanation"] = legal_basis_explanation
    try:
        await client.post(api.subscription("subscribe" if granted else "unsubscribe"), json=body)
    except PermanentError as exc:
        said = exc.vendor_message or ""
        if exc.status_code == 400 and "already" in said.lower():
            return Delivered(item_id=item)
        return Rejected(
            item_id=item, reason=f"HubSpot refused the subscription change: {said or exc}"
        )
    return Delivered(item_id=item)
