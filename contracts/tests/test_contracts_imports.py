"""What importing the contracts costs: the models and errors, not the HTTP stack.

The hub imports the contracts in every command, most of which never talk HTTP
(``spokehub config validate``), and every spoke imports the toolkit at its head. So httpx
and tenacity load when a client is built, and the phone and e-mail libraries on the first
number or address. What a process loads is a property of the process, so each check runs
in a fresh interpreter and reads its ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import spokehub_contracts
from spokehub_contracts import _http

_DEFERRED = ("httpx", "tenacity", "phonenumbers", "email_validator")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return {name.split(".")[0] for name in json.loads(done.stdout.strip().splitlines()[-1])}


def test_importing_the_contracts_loads_no_http_client_nor_phone_or_email_library() -> None:
    loaded = _loaded_after("import spokehub_contracts")
    assert "pydantic" in loaded  # the probe sees what the import brought in
    assert not loaded & set(_DEFERRED)


def test_a_spoke_may_import_the_toolkit_at_its_head_without_loading_httpx() -> None:
    loaded = _loaded_after(
        "from spokehub_contracts import SpokeClient, bearer_auth, parse_retry_after"
    )
    assert not loaded & {"httpx", "tenacity"}


def test_building_a_client_loads_httpx() -> None:
    loaded = _loaded_after("from spokehub_contracts import SpokeClient\nSpokeClient('http://x')")
    assert "httpx" in loaded


def test_normalizing_loads_the_library_it_needs() -> None:
    loaded = _loaded_after(
        "from spokehub_contracts import normalize_email, normalize_phone\n"
        "assert normalize_phone('+49 151 12345678') == '+4915112345678'\n"
        "assert normalize_email(' Ada@Example.org ') == 'ada@example.org'"
    )
    assert {"phonenumbers", "email_validator"} <= loaded


@pytest.mark.parametrize("name", sorted(spokehub_contracts._HTTP_TOOLKIT))
def test_toolkit_names_are_the_toolkits_own(name: str) -> None:
    assert name in spokehub_contracts.__all__
    assert getattr(spokehub_contracts, name) is getattr(_http, name)


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        spokehub_contracts.no_such_name  # noqa: B018
