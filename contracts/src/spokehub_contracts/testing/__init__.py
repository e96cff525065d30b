"""The conformance kit: helpers a vendor runs offline against their own spoke.

- :class:`FaultInjectingTransport` and :class:`Fault`: an httpx transport that answers by
  script (429 with ``Retry-After``, 5xx, timeouts, malformed JSON) before passing requests
  to a fake vendor.
- :class:`Sandbox`: the server base of every vendor sandbox (routes, a request log,
  scripted throttling and faults, 127.0.0.1 only), served in a thread, in process as an
  httpx transport, or with ``python -m spokehub_contracts.testing.sandbox``;
  :class:`FakeClock` and :func:`intercept_clients` put a spoke's toolkit client on the
  sandbox and a test clock without the spoke's help.
- :func:`temporary_spokes`: registers spoke classes into a plugin manager for the length
  of a ``with`` block; the ``spokehub_register`` fixture does the same for a test.
- :func:`check_destination`, :func:`check_source`, :func:`check_config`,
  :func:`check_capabilities` and :func:`assert_no_secrets`: the contract, as assertions.

- :class:`SpokeHarness`: a vendor's sandbox for one test and the spoke run against it
  (build, write, read to a :class:`Read`, the requests the sandbox took).

- :func:`readme_connection`, :func:`readme_project` and :func:`readme_blocks`: a spoke's
  README examples, for the tests that keep them true.

- :class:`SpokeConformance`: the whole suite as one class a vendor subclasses with the
  spoke, an example config and the vendor's sandbox; pytest lists its tests as a checklist.

The pytest plugin (:mod:`spokehub_contracts.testing.plugin`) is loaded automatically
wherever ``spokehub-contracts`` is installed and provides the fixtures
``spokehub_plugin_manager`` and ``spokehub_register``.
"""

from ._checks import (
    assert_no_secrets,
    check_capabilities,
    check_config,
    check_destination,
    check_source,
)
from ._clock import FakeClock, intercept_clients
from ._conformance import SpokeConformance
from ._harness import Read, SpokeHarness, read_all
from ._readme import readme_blocks, readme_connection, readme_project
from ._registry import temporary_spokes
from ._sandbox import Page, Sandbox, SandboxFaults, max_in_window, route
from ._serving import SandboxTransport
from ._transport import Fault, FaultInjectingTransport, Handler
from ._wire import SandboxRequest, SandboxResponse

__all__ = [
    "FakeClock",
    "Fault",
    "FaultInjectingTransport",
    "Handler",
    "Page",
    "Read",
    "Sandbox",
    "SandboxFaults",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxTransport",
    "SpokeConformance",
    "SpokeHarness",
    "assert_no_secrets",
    "check_capabilities",
    "check_config",
    "check_destination",
    "check_source",
    "intercept_clients",
    "max_in_window",
    "read_all",
    "readme_blocks",
    "readme_connection",
    "readme_project",
    "route",
    "temporary_spokes",
]
