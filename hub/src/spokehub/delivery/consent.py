"""The consent gate: may this item go to this destination for the purpose it serves?

Checked at send time, not at routing time, so a consent withdrawn while an item waited
in the outbox (or in a retry) is still honoured. The rule today: an item is suppressed
when the profile holds a *denial* for the item's purpose. Items without a purpose, items
of anonymous rows and ``forget`` requests (erasure must always go out) are never held
back, and a purpose with no recorded decision passes; the privacy work refines these
rules in :func:`suppression_reason`. A suppressed item is recorded as ``suppressed`` with
the reason, never dropped silently.

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


def suppression_reason(
    kind: str, purpose: str | None, decisions: Mapping[str, bool] | None
) -> str | None:
    """Why the item must not be sent, or ``None`` when it may be."""
    if kind == "forget" or purpose is None or not decisions:
        return None
    if decisions.get(purpose) is False:
        return f"consent for {purpose} denied on the profile"
    return None
