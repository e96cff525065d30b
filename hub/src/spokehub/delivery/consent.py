"""The consent gate: may this item go to this destination for the purposes it serves?

Checked at send time, not at routing time, so a consent withdrawn while an item waited
in the outbox (or in a retry) is still honoured. An item serves its route's ``purpose:``
when the route names one, otherwise every purpose of its destination connection
(``purposes:``, or the spoke's suggestion). It is suppressed when the profile's current
decision for any of those purposes is a denial. A purpose with no recorded decision
passes (opt-out, as Segment's and RudderStack's consent filters read it), and
``forget`` and ``consent`` changes are never held back: an erasure and a withdrawal must
reach the tool however the person decided. A suppressed item is recorded as
``suppressed`` with the purpose and the reason, never dropped silently.

:func:`read_consents` is the only place delivery reads consent decisions from the
profile store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Engine, select

from spokehub.profiles.tables import consents
from spokehub.store.driver_sql import transaction

#: ``{contact_id: {purpose: granted}}`` for the given contact IDs.
ConsentReader = Callable[[Engine, Sequence[str]], Mapping[str, Mapping[str, bool]]]


def read_consents(engine: Engine, contact_ids: Sequence[str]) -> dict[str, dict[str, bool]]:
    """Each profile's current decision per purpose (the latest recorded wins).

    Profiles with no decision are absent.
    """
    if not contact_ids:
        return {}
    found: dict[str, dict[str, bool]] = {}
    # A store error propagates: answering "no decisions" would send past a denial.
    with transaction(engine, readonly=True) as conn:
        rows = conn.execute(
            select(consents.c.contact_id, consents.c.purpose, consents.c.granted).where(
                consents.c.contact_id.in_(sorted(set(contact_ids)))
            )
        )
        for contact_id, purpose, granted in rows:
            found.setdefault(contact_id, {})[purpose] = bool(granted)
    return found


#: Change kinds that go out whatever the profile decided. A merge markets nothing: it
#: keeps a tool from holding one person twice (and so from sending them everything twice).
UNGATED_KINDS = frozenset({"forget", "consent", "merge"})


def denied_purpose(
    kind: str, purposes: Sequence[str], decisions: Mapping[str, bool] | None
) -> str | None:
    """The first of ``purposes`` the profile denied, or ``None`` when the item may go."""
    if kind in UNGATED_KINDS or not purposes or not decisions:
        return None
    return next((p for p in purposes if decisions.get(p) is False), None)


def suppression_reason(
    kind: str, purpose: str | None, decisions: Mapping[str, bool] | None
) -> str | None:
    """Why an item serving ``purpose`` must not be sent, or ``None`` when it may be."""
    denied = denied_purpose(kind, (purpose,) if purpose else (), decisions)
    return None if denied is None else reason_for(denied)


def reason_for(purpose: str) -> str:
    """The recorded reason of an item suppressed for ``purpose``."""
    return f"consent for {purpose} denied on the profile"
