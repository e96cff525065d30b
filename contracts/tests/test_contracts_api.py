"""Meta-tests: the public surface, the hook specifications and the base classes keep their
promises (httpx's test_exported_members, datasette's hook tests)."""

from __future__ import annotations

import inspect
import pickle
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import pytest

import spokehub_contracts
import spokehub_contracts.testing
from spokehub_contracts import (
    AuthError,
    CheckStatus,
    ConfigError,
    Destination,
    Enricher,
    Identifier,
    Matcher,
    PermanentError,
    SourceRecord,
    SpokeConfig,
    Throttled,
    Transform,
    TransientError,
    ValidationFailed,
    WebhookRequest,
    hookimpl,
    hookspecs,
)
from spokehub_contracts import Source as SourceBase

PACKAGE_ROOT = Path(spokehub_contracts.__file__).parent
README = Path(__file__).parents[1] / "README.md"


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def _public_names(module: types.ModuleType) -> set[str]:
    # dir(), not vars(): a name the package loads on first use (the HTTP toolkit's) is
    # listed by the module's __dir__ before anything has asked for it.
    return {
        name
        for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
    }


@pytest.mark.parametrize("module", [spokehub_contracts, spokehub_contracts.testing])
def test_all_is_sorted_and_complete(module: types.ModuleType) -> None:
    assert module.__all__ == sorted(module.__all__, key=_isort_key)
    assert set(module.__all__) == _public_names(module)
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("name", spokehub_contracts.__all__)
def test_public_names_are_importable(name: str) -> None:
    assert getattr(spokehub_contracts, name) is not None


def test_package_is_typed() -> None:
    assert (PACKAGE_ROOT / "py.typed").exists()


def _hookspec_functions() -> dict[str, Callable[..., Any]]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and hasattr(fn, marker)
    }


HOOKS = sorted(_hookspec_functions())


def test_there_are_hooks_and_one_naming_scheme() -> None:
    assert HOOKS == [
        "register_destinations",
        "register_enrichers",
        "register_matchers",
        "register_sources",
        "register_transforms",
    ]
    assert hookimpl is hookspecs.hookimpl
    assert hookspecs.PROJECT_NAME == "spokehub"


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_is_documented(name: str) -> None:
    fn = _hookspec_functions()[name]
    doc = inspect.getdoc(fn) or ""
    assert doc.splitlines()[0].endswith("."), "first line is a sentence"
    assert ":param register:" in doc
    assert ".. versionadded::" in doc
    assert list(inspect.signature(fn).parameters) == ["register"]
    assert name in README.read_text(), "the README lists every hook"


class _Dummy(SourceBase, Destination, Transform, Enricher, Matcher):  # type: ignore[misc]
    name = "dummy"


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_can_be_implemented_and_called(name: str) -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)

    class Plugin:
        pass

    def impl(register: Callable[[type], None]) -> None:
        register(_Dummy)

    setattr(Plugin, name, staticmethod(hookimpl(impl)))
    pm.register(Plugin(), name="plugin-under-test")
    pm.check_pending()  # an implementation without a matching spec would fail here

    received: list[type] = []
    results = getattr(pm.hook, name)(register=received.append)
    assert received == [_Dummy]
    assert results == []  # return values are ignored: hooks hand over through register


def test_misspelled_hook_fails_fast() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)

    class Plugin:
        @hookimpl
        def register_source(self, register: Callable[[type], None]) -> None:
            register(_Dummy)

    pm.register(Plugin())
    with pytest.raises(pluggy.PluginValidationError, match="register_source"):
        pm.check_pending()


class BareSource(SourceBase):
    name = "bare"


class BareDestination(Destination):
    name = "bare"


class BareTransform(Transform):
    name = "bare"


class BareEnricher(Enricher):
    name = "bare"


class BareMatcher(Matcher):
    name = "bare"


RECORD = SourceRecord(stream="s", data={"first_name": "Ada"})
IDS = [Identifier(type="user_id", value="u1")]


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda: BareSource(SpokeConfig()).streams(), "streams()"),
        (lambda: BareSource(SpokeConfig()).verify_webhook(None), "verify_webhook()"),
        (lambda: BareSource(SpokeConfig()).parse_webhook(None), "parse_webhook()"),
        (lambda: BareDestination(SpokeConfig()).write([]), "write(batch)"),
        (lambda: BareDestination(SpokeConfig()).forget(IDS), "forget(identifiers)"),
    ],
)
async def test_unimplemented_async_method_names_what_to_implement(
    call: Callable[[], Any], method: str
) -> None:
    with pytest.raises(NotImplementedError) as caught:
        await call()
    assert str(caught.value).startswith("Bare")
    assert f"must implement {method}" in str(caught.value)


def test_a_source_names_no_webhook_delivery_unless_it_says() -> None:
    request = WebhookRequest(headers={"x-event-id": "evt-1"}, body=b"{}")
    assert BareSource(SpokeConfig()).webhook_delivery_id(request) is None


def test_unimplemented_read_names_what_to_implement() -> None:
    with pytest.raises(NotImplementedError, match=r"BareSource must implement read\(stream"):
        BareSource(SpokeConfig()).read("customers", None)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: BareTransform().apply(RECORD), "BareTransform must implement apply(record)"),
        (lambda: BareEnricher().enrich("c1", {}, IDS), "BareEnricher must implement enrich"),
        (lambda: BareMatcher().match(RECORD), "BareMatcher must implement match(record)"),
    ],
)
def test_unimplemented_plugin_method_names_what_to_implement(
    call: Callable[[], Any], message: str
) -> None:
    with pytest.raises(NotImplementedError) as caught:
        call()
    assert message in str(caught.value)


async def test_base_check_and_connection_name() -> None:
    source = BareSource(SpokeConfig())
    assert source.connection == "bare"
    assert BareSource(SpokeConfig(), connection="shop-eu").connection == "shop-eu"
    result = await source.check()
    assert result.status is CheckStatus.OK and result.ok
    await source.aclose()


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("connections.crm.config.token", "is required"),
        ValidationFailed("properties.plan", "must be one of gold, silver"),
        Throttled("slow down", 12.5, status_code=429, vendor_message="quota"),
        AuthError("refused", status_code=401),
        TransientError("GET https://api.example.com/x answered 503"),
        PermanentError("bad", status_code=400, vendor_message="email is invalid"),
    ],
)
def test_errors_survive_pickling(error: Exception) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert vars(back) == vars(error)


def test_error_messages() -> None:
    assert str(ConfigError("a.b", "must be a URL")) == "a.b: must be a URL"
    assert str(ConfigError("", "no project file")) == "no project file"
    throttled = Throttled("slow down", 2)
    assert throttled.retry_after == 2.0
    assert str(throttled) == "slow down (retry after 2s)"
    assert Throttled(retry_after=-5).retry_after == 0.0
    assert PermanentError("x").status_code is None
