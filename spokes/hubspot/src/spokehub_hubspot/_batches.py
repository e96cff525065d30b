"""HubSpot's batch endpoints with an answer per input: objects upserted or updated, and
contacts associated with companies, in requests of at most 100 inputs.

Each input carries an ``objectWriteTraceId`` (its position in the request), which HubSpot
echoes on the result it made and names in the ``context`` of an error about it (207
Multi-Status), so every input gets its own answer. HubSpot refuses a whole batch with 400
when one input is bad; then the batch is halved until the bad inputs stand alone and are
refused alone, the others going through. A property that does not exist in the portal is
told apart: the inputs that set it are refused with a reason that says which property to
create, and the others are sent again without waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from spokehub_contracts import PermanentError, SpokeClient, TransientError

from ._api import HubSpotApi
from ._errors import HubSpotError, HubSpotValidationError, batch_errors

log = logging.getLogger(__name__)

#: The most inputs HubSpot takes in one batch request.
MAX_INPUTS = 100
#: Error categories of a failure that may pass: the input is retried, not refused.
TRANSIENT_CATEGORIES = frozenset(
    {"RATE_LIMIT", "RATE_LIMITS", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"}
)
#: How long an input waits when HubSpot's answer leaves it out, or fails it for a
#: reason that may pass.
RETRY_SECONDS = 60.0

T = TypeVar("T")
K = TypeVar("K")


@dataclass
class BatchInput:
    """One object to write.

    :ivar key: how the caller finds the answer again (``email:ada@example.com``).
    :ivar id: the value of ``id_property``, or HubSpot's object id when that is ``None``
        (then it is updated through ``batch/update``, not upserted).
    :ivar properties: property → value, as HubSpot takes them (strings).
    """

    key: str
    id: str
    id_property: str | None
    properties: dict[str, str] = field(default_factory=dict)

    def body(self, trace: str) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "properties": self.properties}
        if self.id_property:
            body["idProperty"] = self.id_property
        body["objectWriteTraceId"] = trace
        return body


@dataclass(frozen=True)
class Written:
    """What came of one input: HubSpot's id for the object, or why it was refused, or
    how long to wait before trying it again."""

    object_id: str | None = None
    reason: str = ""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.object_id is not None and not self.reason and self.retry_after is None


def chunks(items: Sequence[T], size: int = MAX_INPUTS) -> list[list[T]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def _from_error(error: HubSpotError, what: str) -> Written:
    if error.category in TRANSIENT_CATEGORIES:
        return Written(reason=error.describe(), retry_after=RETRY_SECONDS)
    return Written(reason=f"HubSpot refused the {what}: {error.describe()}")


def json_of(response: Any, path: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TransientError(f"HubSpot answered {path} without its JSON") from None


async def _halving(
    items: list[T],
    send: Callable[[list[T]], Awaitable[dict[K, Written]]],
    key: Callable[[T], K],
    refused: str,
) -> dict[K, Written]:
    """``send`` each half of ``items`` on its own; a single item is refused for
    ``refused``."""
    if len(items) == 1:
        return {key(items[0]): Written(reason=refused)}
    middle = len(items) // 2
    return {**await send(items[:middle]), **await send(items[middle:])}


async def write_objects(
    client: SpokeClient,
    api: HubSpotApi,
    object_type: str,
    inputs: Sequence[BatchInput],
    *,
    what: str,
) -> dict[str, Written]:
    """Upsert the inputs with an id property (``batch/upsert``) and update those with
    HubSpot's id (``batch/update``); answer each input's :class:`Written` by its key.

    :param what: the object in words, for reasons (``contact``, ``company``).
    :raises AuthError, Throttled, TransientError: for the whole call, as the client does.
    """
    written: dict[str, Written] = {}
    for action, group in (
        ("upsert", [i for i in inputs if i.id_property]),
        ("update", [i for i in inputs if not i.id_property]),
    ):
        for chunk in chunks(group):
            written.update(await _send(client, api.batch(object_type, action), chunk, what))
    return written


async def _send(
    client: SpokeClient, path: str, inputs: list[BatchInput], what: str
) -> dict[str, Written]:
    body = {"inputs": [item.body(str(n)) for n, item in enumerate(inputs)]}

    async def again(part: list[BatchInput]) -> dict[str, Written]:
        return await _send(client, path, part, what)

    try:
        response = await client.post(path, json=body)
    except HubSpotValidationError as exc:
        return await _refused(inputs, exc.error, what, again)
    except PermanentError as exc:
        reason = f"HubSpot refused the {what}: {exc.vendor_message or exc.status_code}"
        if exc.status_code == 400:
            return await _halving(inputs, again, lambda i: i.key, reason)
        return {item.key: Written(reason=reason) for item in inputs}
    answer = json_of(response, path)
    written = _read_results(answer, inputs)
    errors = batch_errors(answer)
    unnamed = [error for error in errors if not error.trace_ids()]
    for error in errors:
        for trace in error.trace_ids():
            if trace.isdigit() and int(trace) < len(inputs):
                written.setdefault(inputs[int(trace)].key, _from_error(error, what))
    for item in inputs:
        if item.key in written:
            continue
        if unnamed:
            written[item.key] = _from_error(unnamed[0], what)
        else:
            reason = f"HubSpot's answer to the {what} batch did not mention it"
            written[item.key] = Written(reason=reason, retry_after=RETRY_SECONDS)
    refused = sum(1 for w in written.values() if not w.ok)
    log.info("%s %d %s(s): %d refused or deferred", path, len(inputs), what, refused)
    return written


def _read_results(answer: Any, inputs: list[BatchInput]) -> dict[str, Written]:
    """The inputs HubSpot wrote: by ``objectWriteTraceId``, else by the id property's
    value (or the object id) on the result."""
    results = answer.get("results") if isinstance(answer, Mapping) else None
    if not isinstance(results, list):
        return {}
    written: dict[str, Written] = {}
    for result in results:
        if not isinstance(result, Mapping) or not result.get("id"):
            continue
        object_id = str(result["id"])
        trace = str(result.get("objectWriteTraceId") or "")
        if trace.isdigit() and int(trace) < len(inputs):
            item: BatchInput | None = inputs[int(trace)]
        else:
            properties = result.get("properties")
            item = next((i for i in inputs if _is_result_of(i, object_id, properties)), None)
        if item is not None:
            written[item.key] = Written(object_id=object_id)
    return written


def _is_result_of(item: BatchInput, object_id: str, properties: Any) -> bool:
    if item.id_property is None:
        return item.id == object_id
    if not isinstance(properties, Mapping):
        return False
    return str(properties.get(item.id_property, "")).lower() == item.id.lower()


async def _refused(
    inputs: list[BatchInput],
    error: HubSpotError,
    what: str,
    again: Callable[[list[BatchInput]], Awaitable[dict[str, Written]]],
) -> dict[str, Written]:
    """HubSpot refused the whole batch (400 ``VALIDATION_ERROR``)."""
    missing = error.missing_properties()
    if missing and error.only_missing_properties():
        setting = [i for i in inputs if missing & i.properties.keys()]
        if setting:
            written: dict[str, Written] = {}
            for item in setting:
                names = ", ".join(sorted(missing & item.properties.keys()))
                written[item.key] = Written(
                    reason=f"HubSpot has no {what} property {names}: create it in HubSpot"
                    " (Settings > Properties) or change the connection's mapping"
                )
            rest = [i for i in inputs if i.key not in written]
            if rest:
                written.update(await again(rest))
            return written
    return await _halving(
        inputs, again, lambda i: i.key, f"HubSpot refused the {what}: {error.describe()}"
    )


Pair = tuple[str, str]


async def associate(
    client: SpokeClient,
    api: HubSpotApi,
    pairs: Sequence[Pair],
    *,
    category: str,
    type_id: int,
) -> dict[Pair, Written]:
    """Associate each ``(contact id, company id)`` pair (v4 ``batch/create``); an
    association that exists already is made again without harm."""
    written: dict[Pair, Written] = {}
    path = api.associations("contacts", "companies", "create")
    for chunk in chunks(list(dict.fromkeys(pairs))):
        written.update(await _associate(client, path, chunk, category, type_id))
    return written


async def _associate(
    client: SpokeClient, path: str, pairs: list[Pair], category: str, type_id: int
) -> dict[Pair, Written]:
    types = [{"associationCategory": category, "associationTypeId": type_id}]
    body = {"inputs": [{"from": {"id": c}, "to": {"id": o}, "types": types} for c, o in pairs]}

    async def again(part: list[Pair]) -> dict[Pair, Written]:
        return await _associate(client, path, part, category, type_id)

    try:
        response = await client.post(path, json=body)
    except PermanentError as exc:
        reason = f"HubSpot refused the association: {exc.vendor_message or exc.status_code}"
        if exc.status_code == 400:
            return await _halving(pairs, again, lambda p: p, reason)
        return {pair: Written(reason=reason) for pair in pairs}
    answer = json_of(response, path)
    results = answer.get("results") if isinstance(answer, Mapping) else None
    made = {
        (str(result.get("fromObjectId")), str(result.get("toObjectId")))
        for result in results or ()
        if isinstance(result, Mapping)
    }
    errors = batch_errors(answer)
    written: dict[Pair, Written] = {}
    for pair in pairs:
        # An error names the objects it is about in its context.
        about = [e for e in errors if set(pair) & {v for vs in e.context.values() for v in vs}]
        if pair in made or not (about or errors):
            written[pair] = Written(object_id=pair[0])
        else:
            written[pair] = _from_error((about or errors)[0], "association")
    log.info("%s %d association(s), %d errors", path, len(pairs), len(errors))
    return written


async def dissociate(
    client: SpokeClient, api: HubSpotApi, pairs: Sequence[Pair]
) -> dict[Pair, Written]:
    """Remove the association of each ``(contact id, company id)`` pair (v4
    ``batch/archive``, answered 204); removing one that does not exist does no harm."""
    path = api.associations("contacts", "companies", "archive")
    written: dict[Pair, Written] = {}
    for chunk in chunks(list(dict.fromkeys(pairs))):
        grouped: dict[str, list[str]] = {}
        for contact, company in chunk:
            grouped.setdefault(contact, []).append(company)
        body = {
            "inputs": [
                {"from": {"id": contact}, "to": [{"id": company} for company in companies]}
                for contact, companies in grouped.items()
            ]
        }
        try:
            await client.post(path, json=body)
        except PermanentError as exc:
            reason = f"HubSpot refused to end the association: {exc.vendor_message or exc}"
            written.update({pair: Written(reason=reason) for pair in chunk})
        else:
            written.update({pair: Written(object_id=pair[0]) for pair in chunk})
    return written
