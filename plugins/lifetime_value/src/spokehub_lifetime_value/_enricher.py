"""Lifetime value from ``Order Completed`` events, as the Segment e-commerce spec names
their amounts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from spokehub_contracts import Enricher, Event, Identifier, ScoredTrait, utcnow

#: The ``model`` every score of this enricher carries: where the value came from.
MODEL = "spokehub-lifetime-value/1"

#: Properties that hold an order's amount, in the order they are read. The Segment spec's
#: ``total`` is what the customer paid; ``revenue`` (without shipping and tax) stands in
#: when a shop sends only that.
AMOUNT_PROPERTIES = ("total", "revenue")


def order_amount(properties: Mapping[str, Any]) -> Decimal | None:
    """An order's amount, or ``None`` when it names none (or not a number)."""
    for key in AMOUNT_PROPERTIES:
        value = properties.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            continue
        if amount.is_finite():
            return amount
    return None


class LifetimeValue(Enricher):
    """``lifetime_value``: the sum of a person's order amounts, in the shop's currency,
    rounded to cents; ``order_count``: their orders; ``last_order_at``: when the latest
    was placed. An order without an amount counts as an order of no value. A refund is
    not subtracted: send it as an ``Order Refunded`` event and keep it apart.

    Each score's ``computed_at`` is the time of the latest order, so a recomputation over
    the same orders does not change it.
    """

    name: ClassVar[str] = "lifetime_value"
    events: ClassVar[tuple[str, ...]] = ("Order Completed",)

    def enrich(
        self,
        contact_id: str,
        traits: Mapping[str, Any],
        identifiers: Sequence[Identifier],
        events: Sequence[Event] = (),
    ) -> Sequence[ScoredTrait]:
        orders = [e for e in events if e.event in self.events]
        if not orders:
            return []
        total = sum((order_amount(e.properties) or Decimal(0) for e in orders), Decimal(0))
        times = [e.timestamp for e in orders if e.timestamp is not None]
        latest = max(times) if times else utcnow()
        value = float(total.quantize(Decimal("0.01")))
        return [
            ScoredTrait(name="lifetime_value", value=value, model=MODEL, computed_at=latest),
            ScoredTrait(name="order_count", value=len(orders), model=MODEL, computed_at=latest),
            ScoredTrait(
                name="last_order_at", value=latest.isoformat(), model=MODEL, computed_at=latest
            ),
        ]
