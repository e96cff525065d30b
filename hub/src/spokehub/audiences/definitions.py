"""How audiences, journeys and their schedule are written in the project file.

.. code-block:: yaml

    audiences:
      customers:                       # bought in the last 30 days
        where: {event: Order Completed, within_days: 30}
        to: [meta, crm]
        purpose: ads_personalization   # entries wait for this consent; exits never do
    journeys:
      onboarding:
        trigger: {event: Order Completed}
        after: 3d
        if: {not: {consent: email_marketing, granted: false}}
        send:
          event: Onboarding Due
          to: klaviyo
          fields: {recommended_products: scores.recommended_products}
        purpose: email_marketing
    activation: {reconcile_seconds: 900, timer_poll_seconds: 1}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from spokehub_contracts import ConfigError, ConsentPurpose

from .conditions import Condition

#: An audience's or a journey's name: it names the ad platform's audience and the CRM's
#: property too, so it stays plain.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``3d``, ``12h``, ``30m``, ``45s``, ``2w`` or a number of seconds.

    :raises ValueError: naming the forms it takes.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        found = _DURATION.match(str(value)) if isinstance(value, str) else None
        if found is None:
            raise ValueError("a duration is a number with s, m, h, d or w (3d, 12h, 90s)")
        seconds = float(found.group(1)) * _UNITS[found.group(2)]
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Audience(_Strict):
    """A named set of profiles: those for whom ``where`` holds.

    Each profile entering it is sent ``audience_entered`` and each leaving it
    ``audience_exited`` to every destination of ``to`` (an ad platform adds and removes
    the person; a CRM sets a contact property). ``purpose``: the consent purpose the
    entries serve, checked at send time; exits are never held back, so a person who
    withdrew consent is still taken out.
    """

    description: str = ""
    where: Condition
    to: list[str] = Field(default_factory=list)
    purpose: ConsentPurpose | None = None


class JourneyTrigger(_Strict):
    """What starts a journey for a profile: a track event of this name."""

    event: str = Field(min_length=1)


#: Where a journey's ``fields`` may read from.
FIELD_SOURCES = ("traits", "scores", "trigger")


class JourneySend(_Strict):
    """The event a journey sends: ``event`` to the destination ``to``, with the literal
    ``properties`` and the ``fields`` read at send time from the profile
    (``traits.first_name``, ``scores.recommended_products``) or from the event that
    started it (``trigger.order_id``)."""

    event: str = Field(min_length=1)
    to: str
    properties: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _sources(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            source, _, key = ref.partition(".")
            if source not in FIELD_SOURCES or not key:
                raise ValueError(
                    f"{name}: {ref!r} must be traits.NAME, scores.NAME or trigger.PROPERTY"
                )
        return value


class Journey(_Strict):
    """``after`` the ``trigger`` event, if ``if`` still holds, send ``send``.

    Once per profile unless ``reenter`` (then once more after each send or
    cancellation); a timer whose condition stops holding is cancelled, and consent for
    ``purpose`` is checked when the event is delivered, as for every delivery.
    """

    description: str = ""
    trigger: JourneyTrigger
    after: Duration
    if_: Condition | None = Field(default=None, alias="if")
    send: JourneySend
    purpose: ConsentPurpose | None = None
    reenter: bool = False


class ActivationSettings(_Strict):
    """How often the daemon reconciles time-based audiences and looks for due timers."""

    reconcile_seconds: float = Field(
        default=900, gt=0, description="seconds between reconciles of time-based audiences"
    )
    timer_poll_seconds: float = Field(
        default=1.0, gt=0, description="seconds between looks for due journey timers"
    )
    timer_batch: int = Field(default=100, ge=1, le=10_000)


def check_names_and_targets(
    audiences: dict[str, Audience],
    journeys: dict[str, Journey],
    kinds: dict[str, str],
    names: set[str],
) -> list[ConfigError]:
    """Names are plain, and every ``to`` names a destination connection.

    :param kinds: the kind of each valid connection.
    :param names: every connection name in the file (a broken connection is blamed for
        its own problem, not the audience naming it).
    """

    def missing(to: str) -> bool:
        return to not in names if to not in kinds else kinds[to] != "destination"

    errors: list[ConfigError] = []
    for name, audience in audiences.items():
        if not NAME.match(name):
            errors.append(ConfigError(f"audiences.{name}", f"name must match {NAME.pattern}"))
        for i, to in enumerate(audience.to):
            if missing(to):
                errors.append(
                    ConfigError(f"audiences.{name}.to[{i}]", f"no destination connection {to!r}")
                )
    for name, journey in journeys.items():
        if not NAME.match(name):
            errors.append(ConfigError(f"journeys.{name}", f"name must match {NAME.pattern}"))
        if missing(journey.send.to):
            errors.append(
                ConfigError(
                    f"journeys.{name}.send.to", f"no destination connection {journey.send.to!r}"
                )
            )
    return errors


def check_accepted(
    audiences: dict[str, Audience],
    journeys: dict[str, Journey],
    accepts: Mapping[str, tuple[str, ...]],
) -> list[ConfigError]:
    """Each audience's destinations take audience changes, each journey's takes events.

    :param accepts: per destination connection whose spoke is installed, the change kinds
        its spoke declares (empty: any).
    """
    errors: list[ConfigError] = []

    def refused(to: str, kinds: tuple[str, ...]) -> str | None:
        taken = accepts.get(to)
        if not taken or all(k in taken for k in kinds):
            return None
        return (
            f"destination {to!r} does not take {' or '.join(kinds)} changes"
            f" (it takes: {', '.join(taken)})"
        )

    for name, audience in audiences.items():
        for i, to in enumerate(audience.to):
            why = refused(to, ("audience_entered", "audience_exited"))
            if why:
                errors.append(ConfigError(f"audiences.{name}.to[{i}]", why))
    for name, journey in journeys.items():
        why = refused(journey.send.to, ("event",))
        if why:
            errors.append(ConfigError(f"journeys.{name}.send.to", why))
    return errors
