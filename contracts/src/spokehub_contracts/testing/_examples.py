"""Example changes for the conformance suite, when a vendor gives none of their own: made-up
people (``example.com`` addresses, phone numbers from a range kept for drama) in every
change kind a destination declares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .._records import (
    AudienceEntered,
    AudienceExited,
    Change,
    ConsentChanged,
    Forget,
    MergeContacts,
    TrackEvent,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
)
from .._schema import Account, Consent, ConsentPurpose, Event, Identifier, Membership, Person


def example_identifiers(n: int, types: Iterable[str] = ()) -> tuple[Identifier, ...]:
    """The identifiers of example person ``n``: an e-mail address, a phone number when the
    destination matches on phones, and a namespaced id of each namespaced type it declares."""
    wanted = set(types)
    found = [Identifier(type="email", value=f"person{n}@example.com")]
    if "phone" in wanted:
        found.append(Identifier(type="phone", value=f"+4477009{n % 100000:05d}"))
    if "user_id" in wanted:
        found.append(Identifier(type="user_id", value=f"user-{n}"))
    found.extend(Identifier(type=t, value=f"{n}") for t in sorted(wanted) if ":" in t)
    return tuple(found)


def example_change(kind: str, n: int, identifier_types: Iterable[str] = ()) -> Change:
    """One change of ``kind`` about example person ``n``, with item id ``item-<n>``."""
    ids = example_identifiers(n, identifier_types)
    common = {"item_id": f"item-{n}", "contact_id": f"contact-{n}", "identifiers": ids}
    email = ids[0].value
    phone = next((i.value for i in ids if i.type == "phone"), None)
    if kind == "upsert_person":
        person = Person(first_name="Ada", last_name=f"Example{n}", email=email, phone=phone)
        return UpsertPerson(**common, person=person)
    if kind == "upsert_account":
        return UpsertAccount(**common, account=Account(account_id=f"acct-{n}", name=f"Org {n}"))
    if kind == "upsert_membership":
        return UpsertMembership(**common, membership=Membership(account_id=f"acct-{n}"))
    if kind == "event":
        event = Event.model_validate(
            {
                "type": "track",
                "event": "Order Completed",
                "userId": f"user-{n}",
                "messageId": f"message-{n}",
                "properties": {"order_id": f"order-{n}", "total": 42.5, "currency": "EUR"},
            }
        )
        return TrackEvent(**common, event=event)
    if kind == "audience_entered":
        return AudienceEntered(**common, audience="recent_buyers")
    if kind == "audience_exited":
        return AudienceExited(**common, audience="recent_buyers")
    if kind == "forget":
        return Forget(**common)
    if kind == "merge":
        absorbed = Identifier(type="email", value=f"person{n}.old@example.com")
        return MergeContacts(
            **common, absorbed_contact_id=f"contact-{n}-old", absorbed_identifiers=(absorbed,)
        )
    if kind == "consent":
        consent = Consent(purpose=ConsentPurpose.EMAIL_MARKETING, granted=False, source="example")
        return ConsentChanged(**common, consent=consent)
    raise ValueError(f"no example for change kind {kind!r}")


def example_changes(
    kinds: Sequence[str], count: int, identifier_types: Iterable[str] = (), *, first: int = 1
) -> list[Change]:
    """``count`` changes cycling through ``kinds``, each about its own example person."""
    types = tuple(identifier_types)
    if not kinds:
        raise ValueError("no change kinds to make examples of")
    return [example_change(kinds[i % len(kinds)], first + i, types) for i in range(count)]


def personal_values(changes: Iterable[Change]) -> set[str]:
    """The raw e-mail addresses and phone numbers in ``changes``: what must not be logged."""
    found: set[str] = set()
    for change in changes:
        found.update(i.value for i in change.identifiers if i.type in ("email", "phone"))
        person = getattr(change, "person", None)
        if person is not None:
            found.update(v for v in (person.email, person.phone) if v)
    return found
