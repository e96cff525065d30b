"""Deliberately broken spokes: the suite fails each one, at the test for its fault, with a
message that says what to fix (and never quotes the credential)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import pytest
from demo_vendor import (
    API_KEY,
    DESTINATION_CONFIG,
    PAGE,
    SOURCE_CONFIG,
    WEBHOOK_SECRET,
    DemoDestination,
    DemoSandbox,
    DemoSource,
)

from spokehub_contracts import (
    Change,
    Outcome,
    SourceRecord,
    StateCheckpoint,
    WebhookRequest,
)
from spokehub_contracts.testing import SpokeConformance

pytest_plugins = ["pytester"]
logger = logging.getLogger("spokehub_demo")


class RaisesOn429(DemoDestination):
    """Talks to the vendor with bare httpx and lets every error status out."""

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        key = self.config.api_key.get_secret_value()
        async with httpx.AsyncClient(base_url=self.config.base_url) as client:
            response = await client.post(
                "/v1/contacts/batch",
                json={"contacts": [self.contact(c) for c in batch]},
                headers={"Authorization": f"Bearer {key}"},
            )
            response.raise_for_status()
        return await super().write(batch)


class LogsItsToken(DemoDestination):
    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        logger.debug(
            "sending %d contacts with key %s", len(batch), self.config.api_key.get_secret_value()
        )
        return await super().write(batch)


class IgnoresItsBatchSize(DemoDestination):
    """Declares 50 a call where the vendor takes 10, and sends them all at once."""

    capabilities = DemoDestination.capabilities.model_copy(update={"batch_size": 50})


class IgnoresItsRateLimit(DemoDestination):
    """A new client for every call: each one starts with a full budget."""

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        await self.client.aclose()
        self.client = self._client()
        return await super().write(batch)


class SkipsAPageOnResume(DemoSource):
    """Saves the offset of the next page, then skips it on resume, taking it for read."""

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint]:
        offset: int | None = state["offset"] + PAGE if state else 0
        while offset is not None:
            body = (await self.client.get("/v1/contacts", params={"offset": offset})).json()
            for contact in body["contacts"]:
                yield self.record(contact)
            following = body["next_offset"]
            position = following if following is not None else offset + len(body["contacts"])
            yield StateCheckpoint(stream=stream, state={"offset": position})
            offset = following


class AcceptsUnsignedWebhooks(DemoSource):
    async def verify_webhook(self, request: WebhookRequest) -> bool:
        if "X-Signature" not in request.headers:
            return True  # "signatures are optional while we migrate"
        return await super().verify_webhook(request)


def suite(spoke: type, **attributes: Any) -> SpokeConformance:
    """The suite a vendor would subclass, for ``spoke``, built here rather than collected."""
    source = issubclass(spoke, DemoSource)
    config = SOURCE_CONFIG if source else DESTINATION_CONFIG
    cls = type(
        f"Suite{spoke.__name__}",
        (SpokeConformance,),
        {"spoke": spoke, "config": config, "sandbox": DemoSandbox, **attributes},
    )
    return cls()


@pytest.mark.parametrize(
    ("spoke", "test", "says"),
    [
        (
            RaisesOn429,
            "test_destination_waits_out_429_with_retry_after",
            "RaisesOn429.write() raised HTTPStatusError on a 429 with Retry-After: 7: raise"
            " Throttled(retry_after=7) so the hub waits as the vendor asked",
        ),
        (
            LogsItsToken,
            "test_logs_hold_no_secret_or_raw_personal_data",
            "a log line of 'spokehub_demo' holds a secret of the config: mask it or leave it out",
        ),
        (
            IgnoresItsBatchSize,
            "test_destination_keeps_to_the_vendors_batch_size",
            "IgnoresItsBatchSize sent 50 items in one request, but the vendor takes at most 10:"
            " declare capabilities.batch_size=10 or split the batch in write()",
        ),
        (
            IgnoresItsRateLimit,
            "test_destination_keeps_to_its_rate_limit",
            "more than the declared 5: build one SpokeClient per spoke with the declared"
            " rate_limit",
        ),
        (
            SkipsAPageOnResume,
            "test_source_resumes_from_every_checkpoint",
            "SkipsAPageOnResume.read('contacts') lost 5 record(s) when resumed from checkpoint 1"
            " of 5: c006, c007, c008, c009, c010. A checkpoint's state must point at the first"
            " record not yet yielded",
        ),
        (
            AcceptsUnsignedWebhooks,
            "test_webhook_without_a_signature_is_rejected",
            "AcceptsUnsignedWebhooks.verify_webhook() accepted a request without a signature:"
            " refuse it when the signature header (X-Timestamp, X-Signature) is missing",
        ),
    ],
)
def test_a_broken_spoke_fails_with_what_to_fix(spoke: type, test: str, says: str) -> None:
    with pytest.raises(AssertionError) as caught:
        getattr(suite(spoke), test)()
    message = str(caught.value)
    assert says in message
    assert API_KEY not in message and WEBHOOK_SECRET not in message


def test_the_conforming_spokes_pass_those_same_tests() -> None:
    for spoke, test in [
        (DemoDestination, "test_destination_waits_out_429_with_retry_after"),
        (DemoDestination, "test_logs_hold_no_secret_or_raw_personal_data"),
        (DemoDestination, "test_destination_keeps_to_the_vendors_batch_size"),
        (DemoDestination, "test_destination_keeps_to_its_rate_limit"),
        (DemoSource, "test_source_resumes_from_every_checkpoint"),
        (DemoSource, "test_webhook_without_a_signature_is_rejected"),
    ]:
        getattr(suite(spoke), test)()


def test_a_broken_source_is_caught_by_each_resumption_test() -> None:
    broken = suite(SkipsAPageOnResume)
    with pytest.raises(AssertionError, match="when the run died after 11 record"):
        broken.test_source_resumes_after_a_crash()
    with pytest.raises(AssertionError, match=r"lost .* when the vendor served a page twice"):
        broken.test_source_absorbs_a_page_served_twice()


class CountsPagesItself(DemoSource):
    """Moves on by its own page size, not by the vendor's next offset."""

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint]:
        offset = int((state or {}).get("offset", 0))
        while True:
            body = (await self.client.get("/v1/contacts", params={"offset": offset})).json()
            for contact in body["contacts"]:
                yield self.record(contact)
            offset += PAGE
            yield StateCheckpoint(stream=stream, state={"offset": offset})
            if body["next_offset"] is None:
                return


class KeepsTheLastItemsTime(DemoSource):
    """Checkpoints the last item's time rather than the newest seen."""

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint]:
        after = (state or {}).get("updated_after")
        offset: int | None = 0
        while offset is not None:
            params: dict[str, Any] = {"offset": offset}
            if after:
                params["updated_after"] = after
            body = (await self.client.get("/v1/contacts", params=params)).json()
            last = None
            for contact in body["contacts"]:
                last = contact["updated_at"]
                yield self.record(contact)
            offset = body["next_offset"]
            yield StateCheckpoint(stream=stream, state={"updated_after": last or after})


def test_paging_mistakes_show_up_under_altered_pages() -> None:
    with pytest.raises(AssertionError, match="Follow the vendor's own next cursor"):
        suite(CountsPagesItself).test_source_absorbs_a_page_served_twice()
    with pytest.raises(AssertionError, match="Save the newest position seen on the page"):
        suite(KeepsTheLastItemsTime).test_source_absorbs_reordered_pages()


def test_a_vendors_pytest_output_reads_as_a_checklist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_vendor="""
        from demo_vendor import DESTINATION_CONFIG, DemoSandbox
        from test_contracts_broken_spokes import RaisesOn429
        from spokehub_contracts.testing import SpokeConformance

        class TestAcme(SpokeConformance):
            spoke = RaisesOn429
            config = DESTINATION_CONFIG
            sandbox = DemoSandbox
        """
    )
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(
        [
            "*TestAcme::test_config_accepts_the_example PASSED*",
            "*TestAcme::test_destination_answers_one_outcome_per_item PASSED*",
            "*TestAcme::test_destination_waits_out_429_with_retry_after FAILED*",
            "*TestAcme::test_destination_forgets PASSED*",
        ]
    )
    assert "test_source_" not in result.stdout.str()  # a destination's checklist only
    result.stdout.fnmatch_lines(["*raised HTTPStatusError on a 429 with Retry-After: 7*"])
