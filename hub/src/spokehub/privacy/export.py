"""The access export: everything the hub holds about a person, as one JSON document.

The profile (every trait with where it came from, identifiers, memberships, consents
and their history, scores, audiences) and every event on its timeline, for each profile
the identifiers lead to. Each trait carries ``personal``: its PII class from the
contract (``contact``, ``sensitive``, ``none``; a trait the contract does not reserve
is ``unclassified``), and each identifier of type e-mail or phone is ``contact``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import Connection, select

from spokehub_contracts import Identifier, Person, pii_classes

from ..identity import IdentityRules
from ..identity.tables import profiles
from ..profiles import profile_view
from ..store.driver_sql import utc, utcnow
from ..store.tables import events
from .erase import find_subject

_PERSON_CLASSES = pii_classes(Person)
_CONTACT_TYPES = frozenset({"email", "phone"})


def personal_class(trait: str) -> str:
    """The PII class of a profile trait by its name (``unclassified`` when the contract
    does not reserve it)."""
    return _PERSON_CLASSES.get(trait, "unclassified")


def export_subject(
    conn: Connection, rules: IdentityRules, given: Iterable[Identifier]
) -> dict[str, Any]:
    """The subject's data; ``profiles`` is empty when the hub holds nothing about them."""
    given = list(given)
    subject = find_subject(conn, given)
    live = sorted(
        {cid for cid in subject.contact_ids if _is_live(conn, cid)} or subject.contact_ids
    )
    out: dict[str, Any] = {
        "subject": [str(i) for i in given],
        "generated_at": utcnow().isoformat(),
        "profiles": [],
    }
    for contact_id in live:
        view = jsonable_encoder(profile_view(conn, contact_id, rules, events=0))
        for name, trait in view.get("traits", {}).items():
            trait["personal"] = personal_class(name)
        for ident in view.get("identifiers", []):
            ident["personal"] = "contact" if ident["type"] in _CONTACT_TYPES else "identifier"
        ids = [contact_id, *view.get("merged_ids", [])]
        view["events"] = [
            {
                "type": r.type,
                "event": r.event,
                "properties": r.properties,
                "context": r.context,
                "timestamp": utc(r.timestamp).isoformat(),
                "received_at": utc(r.received_at).isoformat(),
                "source": r.connection,
                "message_id": r.message_id,
            }
            for r in conn.execute(
                select(events).where(events.c.contact_id.in_(ids)).order_by(events.c.id)
            )
        ]
        out["profiles"].append(view)
    return out


def _is_live(conn: Connection, contact_id: str) -> bool:
    merged = conn.execute(
        select(profiles.c.merged_into).where(profiles.c.contact_id == contact_id)
    ).first()
    return merged is not None and merged[0] is None
