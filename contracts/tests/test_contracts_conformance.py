"""The conformance kit, exercised on a tiny spoke written the way a vendor would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import pluggy
import pytest
from pydantic import ConfigDict, HttpUrl, SecretStr

from spokehub_contracts import (
    AudienceEntered,
    Capabilities,
    Delivered,
    Destination,
    Forget,
    Identifier,
    Outcome,
    Person,
    RateLimit,
    Rejected,
    Source,
    SourceRecord,
    SpokeClient,
    SpokeConfig,
    StateCheckpoint,
    Stream,
    TransientError,
    UpsertPerson,
    bearer_auth,
    hookspecs,
)
from spokehub_contracts.testing import (
    Fault,
    FaultInjectingTransport,
    assert_no_secrets,
    check_capabilities,
    check_config,
    check_destination,
    check_source,
    temporary_spokes,
)

pytest_plugins = ["pytester"]

API_KEY = "dk_test_51Hc8e2f1a9b7c6d5e4f3a"
CONFIG = {"api_key": API_KEY, "list_id": "newsletter"}


def vendor_api(request: httpx.Request) -> httpx.Response:
    """The fake vendor: accepts a batch, refuses items without an e-mail."""
    if request.headers.get("Authorization") != f"Bearer {API_KEY}":
        return httpx.Response(401, json={"message": "bad key"})
    results = {}
    for item in json.loads(request.content):
        emails = [i["value"] for i in item["identifiers"] if i["type"] == "email"]
        results[item["item_id"]] = (
            {"id": f"v-{item['item_id']}"} if emails else {"error": "no email"}
        )
    return httpx.Response(200, json={"results": results})


class DummyConfig(SpokeConfig):
    api_key: SecretStr
    list_id: str
    base_url: HttpUrl | None = None
    token_url: str = "https://auth.dummy.test/token"  # named like a secret, holds none


class DummyDestination(Destination):
    """A destination as small as one can be, built on the toolkit."""

    name = "dummy"
    Config = DummyConfig
    capabilities = Capabilities(
        record_kinds=("upsert_person", "audience_entered"),
        batch_size=10,
        rate_limit=RateLimit(requests=100),
        identifier_types=("email",),
        base_url="https://api.dummy.test/v1",
    )
    # Tests hand the vendor in here; a real spoke would leave it None.
    transport: ClassVar[httpx.AsyncBaseTransport | None] = None

    def __init__(self, config: DummyConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self.client = SpokeClient.from_capabilities(
            self.capabilities,
            base_url=str(config.base_url) if config.base_url else None,
            auth=bearer_auth(config.api_key),
            transport=self.transport,
            attempts=4,
            backoff=0.001,
        )

    async def write(self, batch: Sequence[Any]) -> Sequence[Outcome]:
        payload = [change.model_dump(mode="json") for change in batch]
        response = await self.client.post("batch", json=payload)
        try:
            results = response.json()["results"]
        except (ValueError, KeyError):
            raise TransientError("the vendor answered malformed JSON") from None
        outcomes: list[Outcome] = []
        for change in batch:
            result = results[change.item_id]
            if "error" in result:
                outcomes.append(Rejected(item_id=change.item_id, reason=result["error"]))
            else:
                outcomes.append(Delivered(item_id=change.item_id, external_id=result["id"]))
        return outcomes

    async def aclose(self) -> None:
        await self.client.aclose()


EMAIL = Identifier(type="email", value="ada@example.com")
BATCH = [
    UpsertPerson(item_id="1", identifiers=(EMAIL,), person=Person(first_name="Ada")),
    AudienceEntered(item_id="2", identifiers=(EMAIL,), audience="buyers"),
    UpsertPerson(item_id="3", person=Person(first_name="Anonymous")),
]


def with_vendor(
    cls: type[DummyDestination], script: Sequence[Fault | str] = ()
) -> tuple[type[DummyDestination], FaultInjectingTransport]:
    transport = FaultInjectingTransport(vendor_api, script)
    return type(cls.__name__, (cls,), {"transport": transport}), transport


async def test_a_conforming_destination_passes() -> None:
    dest_cls, transport = with_vendor(DummyDestination)
    outcomes = await check_destination(dest_cls, CONFIG, BATCH)
    assert [o.status for o in outcomes] == ["delivered", "delivered", "rejected"]
    assert len(transport.requests) == 1


async def test_it_survives_throttling_errors_and_timeouts() -> None:
    dest_cls, transport = with_vendor(
        DummyDestination, [Fault.throttle(retry_after=0), "500", "timeout"]
    )
    outcomes = await check_destination(dest_cls, CONFIG, BATCH)
    assert len(outcomes) == 3
    assert len(transport.requests) == 4
    assert transport.pending == 0


async def test_malformed_json_surfaces_as_a_contract_error() -> None:
    dest_cls, _ = with_vendor(DummyDestination, ["malformed_json"])
    with pytest.raises(TransientError, match="malformed JSON"):
        await check_destination(dest_cls, CONFIG, BATCH)


async def test_persistent_outage_surfaces_without_secrets() -> None:
    dest_cls, transport = with_vendor(DummyDestination, ["503"] * 4)
    with pytest.raises(TransientError) as caught:
        await check_destination(dest_cls, CONFIG, BATCH)
    assert len(transport.requests) == 4
    assert API_KEY not in str(caught.value)


class LossyDestination(DummyDestination):
    name = "lossy"

    async def write(self, batch: Sequence[Any]) -> Sequence[Outcome]:
        return list(await super().write(batch))[:-1]


class LeakyDestination(DummyDestination):
    name = "leaky"

    async def write(self, batch: Sequence[Any]) -> Sequence[Outcome]:
        secret = self.config.api_key.get_secret_value()  # type: ignore[attr-defined]
        raise TransientError(f"vendor down (key {secret})")


class LeakyOutcomeDestination(DummyDestination):
    name = "leaky-outcome"

    async def write(self, batch: Sequence[Any]) -> Sequence[Outcome]:
        secret = self.config.api_key.get_secret_value()  # type: ignore[attr-defined]
        return [Rejected(item_id=c.item_id, reason=f"refused {secret}") for c in batch]


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (LossyDestination, "exactly one outcome per item: got 2 for 3 items (missing ['3']"),
        (LeakyDestination, "a secret of the config appears in the error"),
        (LeakyOutcomeDestination, "a secret of the config appears in an outcome"),
    ],
)
async def test_a_broken_destination_fails_with_a_clear_message(
    cls: type[DummyDestination], message: str
) -> None:
    dest_cls, _ = with_vendor(cls)
    with pytest.raises(AssertionError) as caught:
        await check_destination(dest_cls, CONFIG, BATCH)
    assert message in str(caught.value)
    assert API_KEY not in str(caught.value)


async def test_the_batch_must_fit_the_declared_capabilities() -> None:
    dest_cls, _ = with_vendor(DummyDestination)
    too_many = [UpsertPerson(item_id=str(i), person=Person()) for i in range(11)]
    with pytest.raises(AssertionError, match="more than batch_size"):
        await check_destination(dest_cls, CONFIG, too_many)
    with pytest.raises(AssertionError, match="kinds \\['forget'\\]"):
        await check_destination(dest_cls, CONFIG, [Forget(item_id="1")])


class OpenConfig(SpokeConfig):
    model_config = ConfigDict(extra="allow")
    api_key: SecretStr
    list_id: str


class PlainSecretConfig(SpokeConfig):
    api_key: str
    list_id: str


class LeakyReprConfig(DummyConfig):
    def __repr__(self) -> str:
        return f"LeakyReprConfig(api_key={self.api_key.get_secret_value()!r})"


@pytest.mark.parametrize(
    ("config_cls", "message"),
    [
        (OpenConfig, "must refuse unknown keys"),
        (PlainSecretConfig, "Config.api_key holds a credential: type it SecretStr"),
        (LeakyReprConfig, "a secret of the config appears in"),
    ],
)
def test_check_config_catches(config_cls: type[SpokeConfig], message: str) -> None:
    cls = type("Spoke", (DummyDestination,), {"Config": config_cls})
    with pytest.raises(AssertionError, match=message):
        check_config(cls, CONFIG)


def test_check_config_returns_the_model_and_refuses_bad_configs() -> None:
    model = check_config(DummyDestination, CONFIG)
    assert isinstance(model, DummyConfig)
    assert model.api_key.get_secret_value() == API_KEY
    with pytest.raises(AssertionError, match="refused the test config"):
        check_config(DummyDestination, {"api_key": API_KEY})
    not_a_model = type("Spoke", (DummyDestination,), {"Config": dict})
    with pytest.raises(AssertionError, match="must be a pydantic model"):
        check_config(not_a_model, CONFIG)


def _variant(base: type, **attributes: Any) -> type:
    return type("Variant", (base,), attributes)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (_variant(DummyDestination, name="Dummy Spoke"), "name must be lowercase"),
        (_variant(DummyDestination, capabilities={"batch_size": 5}), "Capabilities instance"),
        (_variant(DummyDestination, capabilities=Capabilities()), "must list the change kinds"),
        (
            _variant(DummyDestination, capabilities=Capabilities(record_kinds=("upsert_order",))),
            "unknown kinds ['upsert_order']",
        ),
        (
            _variant(
                DummyDestination,
                capabilities=Capabilities(record_kinds=("forget",), can_delete=True),
            ),
            "declares can_delete but does not implement forget",
        ),
        (
            _variant(
                DummyDestination,
                capabilities=Capabilities(
                    record_kinds=("upsert_person",), identifier_types=("Email",)
                ),
            ),
            "unknown identifier type",
        ),
    ],
)
def test_check_capabilities_catches(cls: type, message: str) -> None:
    with pytest.raises(AssertionError) as caught:
        check_capabilities(cls)
    assert message in str(caught.value)


def test_assert_no_secrets() -> None:
    config = DummyConfig(api_key=SecretStr(API_KEY), list_id="x")
    assert_no_secrets(config, "all clear", ValueError("nothing here"), config)
    with pytest.raises(AssertionError, match="appears in log output"):
        assert_no_secrets(config, f"sent {API_KEY}", where="log output")


class FilesLikeSource(Source):
    name = "shop"
    Config = DummyConfig
    capabilities = Capabilities(record_kinds=("person",), incremental=True)

    async def streams(self) -> Sequence[Stream]:
        return [Stream(name="customers", kind="person", incremental=True)]

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint]:
        start = int((state or {}).get("after", 0))
        for n in range(start, start + 3):
            yield SourceRecord(stream=stream, record_id=str(n), data=Person(first_name=f"P{n}"))
        yield StateCheckpoint(stream=stream, state={"after": start + 3})


async def test_check_source() -> None:
    items = await check_source(FilesLikeSource, CONFIG, state={"after": 5})
    assert [i.record_id for i in items if isinstance(i, SourceRecord)] == ["5", "6", "7"]
    assert items[-1] == StateCheckpoint(stream="customers", state={"after": 8})
    assert len(await check_source(FilesLikeSource, CONFIG, max_items=2)) == 2


class WrongStreamSource(FilesLikeSource):
    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint]:
        yield StateCheckpoint(stream="orders", state={})


class WrongKindSource(FilesLikeSource):
    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint]:
        yield SourceRecord(stream=stream, data={"account_id": "acme", "name": "Acme"})


class ListSource(FilesLikeSource):
    def read(self, stream: str, state: Mapping[str, Any] | None) -> Any:  # type: ignore[override]
        return []


class NoStreamsSource(Source):
    name = "empty"
    Config = DummyConfig


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (WrongStreamSource, "yielded an item of stream 'orders'"),
        (WrongKindSource, "yielded a 'account' record"),
        (ListSource, "must be an async generator"),
        (NoStreamsSource, "must implement streams()"),
        (
            _variant(FilesLikeSource, capabilities=Capabilities(webhooks=True)),
            "declares webhooks but lacks verify_webhook()",
        ),
    ],
)
async def test_check_source_catches(cls: type[Source], message: str) -> None:
    with pytest.raises(AssertionError) as caught:
        await check_source(cls, CONFIG)
    assert message in str(caught.value)


def _collect(pm: pluggy.PluginManager) -> list[type]:
    found: list[type] = []
    pm.hook.register_sources(register=found.append)
    pm.hook.register_destinations(register=found.append)
    return found


def test_plugin_manager_fixture(spokehub_plugin_manager: pluggy.PluginManager) -> None:
    assert spokehub_plugin_manager.project_name == "spokehub"
    assert spokehub_plugin_manager.get_plugins() == set()
    assert hasattr(spokehub_plugin_manager.hook, "register_destinations")


def test_register_fixture(
    spokehub_plugin_manager: pluggy.PluginManager, spokehub_register: Callable[..., object]
) -> None:
    plugin = spokehub_register(spokehub_plugin_manager, DummyDestination, FilesLikeSource)
    assert spokehub_plugin_manager.is_registered(plugin)
    spokehub_plugin_manager.check_pending()
    assert _collect(spokehub_plugin_manager) == [FilesLikeSource, DummyDestination]


def test_temporary_spokes_unregisters_even_on_failure() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    with pytest.raises(RuntimeError), temporary_spokes(pm, DummyDestination):
        assert _collect(pm) == [DummyDestination]
        raise RuntimeError("test failed inside")
    assert pm.get_plugins() == set()
    assert _collect(pm) == []


def test_temporary_spokes_refuses_what_is_not_a_spoke() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    with pytest.raises(TypeError, match="not a Source, Destination"):
        temporary_spokes(pm, dict).__enter__()
    with pytest.raises(ValueError, match="PluginManager\\('spokehub'\\)"):
        temporary_spokes(pluggy.PluginManager("other"), DummyDestination).__enter__()


def test_fixtures_reach_other_suites_and_clean_up(pytester: pytest.Pytester) -> None:
    """The entry-point plugin works in a vendor's own test run, and the registration made
    by a failing test is gone for the next one."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pluggy
        import pytest
        from spokehub_contracts import Destination, hookspecs

        PM = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        PM.add_hookspecs(hookspecs)

        class Mine(Destination):
            name = "mine"

        def test_registers_then_fails(spokehub_register):
            spokehub_register(PM, Mine)
            found = []
            PM.hook.register_destinations(register=found.append)
            assert found == [Mine]
            raise RuntimeError("boom")

        def test_next_test_sees_a_clean_manager():
            found = []
            PM.hook.register_destinations(register=found.append)
            assert found == []
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)


class TestFaultInjectingTransport:
    async def test_script_then_passthrough(self) -> None:
        transport = FaultInjectingTransport(
            vendor_api,
            [Fault.throttle(retry_after=3), "502", Fault.error(400), "malformed_json", "pass"],
        )
        async with httpx.AsyncClient(transport=transport, base_url="https://x.test") as client:
            throttled = await client.get("/")
            assert throttled.status_code == 429
            assert throttled.headers["Retry-After"] == "3"
            assert (await client.get("/")).status_code == 502
            assert (await client.get("/")).json() == {"message": "injected failure"}
            malformed = await client.get("/")
            with pytest.raises(json.JSONDecodeError):
                malformed.json()
            assert transport.pending == 1
            passed = await client.get("/")
            assert passed.status_code == 401  # the handler answered: no credentials sent
            assert (await client.get("/")).status_code == 401
        assert len(transport.requests) == 6

    @pytest.mark.parametrize(
        ("fault", "error"),
        [("timeout", httpx.ReadTimeout), ("connect_error", httpx.ConnectError)],
    )
    async def test_raised_faults(self, fault: str, error: type[Exception]) -> None:
        transport = FaultInjectingTransport(script=[fault])
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(error):
                await client.get("https://x.test/")
            assert (await client.get("https://x.test/")).json() == {}

    async def test_async_handler_and_wrapped_transport(self) -> None:
        async def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"async": True})

        inner = httpx.MockTransport(lambda request: httpx.Response(204))
        for target, status in ((handler, 200), (inner, 204)):
            transport = FaultInjectingTransport(target)
            transport.add("429")
            async with httpx.AsyncClient(transport=transport) as client:
                assert (await client.get("https://x.test/")).status_code == 429
                assert (await client.get("https://x.test/")).status_code == status

    def test_parse(self) -> None:
        assert Fault.parse("429") == Fault.throttle()
        assert Fault.parse("503") == Fault.error(503)
        assert Fault.parse("pass") == Fault.passthrough()
        assert Fault.throttle(None).retry_after is None
        with pytest.raises(ValueError, match="unknown fault 'explode'"):
            Fault.parse("explode")
