"""Consent changes as Klaviyo's bulk subscription jobs.

A granted ``email_marketing`` or ``sms_marketing`` consent subscribes the profile on that
channel (``POST /api/profile-subscription-bulk-create-jobs``, up to 1,000 profiles a
job); a denied one unsubscribes it (``POST /api/profile-subscription-bulk-delete-jobs``,
up to 100). Klaviyo keeps no status for the other purposes. Pure functions, so every
rule is testable without a request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spokehub_contracts import ConsentChanged

from ._mapping import match_keys

SUBSCRIBE_PATH = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE_PATH = "/api/profile-subscription-bulk-delete-jobs"
#: The most profiles one job takes, by path.
JOB_LIMITS = {SUBSCRIBE_PATH: 1000, UNSUBSCRIBE_PATH: 100}
#: Consent purpose → Klaviyo's channel, and the profile attribute that channel needs.
CHANNELS = {"email_marketing": ("email", "email"), "sms_marketing": ("sms", "phone_number")}
_PROFILE_INDEX = re.compile(r"^/data/attributes/profiles/data/(\d+)(/|$)")


@dataclass(frozen=True)
class Subscription:
    """One item's part of a job: the profile entry, and the job's path."""

    item_id: str
    path: str
    profile: dict[str, Any]


def subscription_for(change: ConsentChanged) -> Subscription | str | None:
    """The job entry of ``change``; a reason when it names nobody Klaviyo can address on
    the channel; ``None`` for a purpose Klaviyo keeps no status for."""
    purpose = change.consent.purpose.value
    if purpose not in CHANNELS:
        return None
    channel, needed = CHANNELS[purpose]
    keys = match_keys(change.identifiers)
    if not keys.get(needed):
        what = "e-mail address" if needed == "email" else "phone number"
        return f"no {what} to change the {channel} subscription of"
    granted = change.consent.granted
    status = "SUBSCRIBED" if granted else "UNSUBSCRIBED"
    attributes: dict[str, Any] = {
        key: keys[key] for key in ("email", "phone_number") if keys.get(key)
    }
    attributes["subscriptions"] = {channel: {"marketing": {"consent": status}}}
    path = SUBSCRIBE_PATH if granted else UNSUBSCRIBE_PATH
    return Subscription(change.item_id, path, {"type": "profile", "attributes": attributes})


def jobs(subscriptions: Sequence[Subscription]) -> list[list[Subscription]]:
    """The jobs that carry ``subscriptions``: by path, in order, at most each path's limit
    a job."""
    out: list[list[Subscription]] = []
    for path, limit in JOB_LIMITS.items():
        mine = [s for s in subscriptions if s.path == path]
        out += [mine[start : start + limit] for start in range(0, len(mine), limit)]
    return out


def job_body(job: Sequence[Subscription], list_id: str | None) -> dict[str, Any]:
    """The JSON:API document of one job; a subscribe adds the profiles to ``list_id``."""
    path = job[0].path
    kind = (
        "profile-subscription-bulk-create-job"
        if path == SUBSCRIBE_PATH
        else "profile-subscription-bulk-delete-job"
    )
    data: dict[str, Any] = {
        "type": kind,
        "attributes": {"profiles": {"data": [s.profile for s in job]}},
    }
    if path == SUBSCRIBE_PATH:
        data["attributes"]["custom_source"] = "Customer data hub"
    if list_id:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def refused_position(pointer: str | None) -> int | None:
    """The position in the job of the profile an error's pointer names, if it names one
    (``/data/attributes/profiles/data/3/attributes/email`` → 3)."""
    found = _PROFILE_INDEX.match(pointer or "")
    return int(found.group(1)) if found else None
