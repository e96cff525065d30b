"""The conformance kit: helpers a vendor runs offline against their own spoke.

- :class:`FaultInjectingTransport` and :class:`Fault`: an httpx transport that answers by
  script (429 with ``Retry-After``, 5xx, timeouts, malformed JSON) before passing requests
  to a fake vendor.
- :func:`temporary_spokes`: registers spoke classes into a plugin manager for the length
  of a ``with`` block; the ``spokehub_register`` fixture does the same for a test.
- :func:`check_destination`, :func:`check_source`, :func:`check_config`,
  :func:`check_capabilities` and :func:`assert_no_secrets`: the contract, as assertions.

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
from ._registry import temporary_spokes
from ._transport import Fault, FaultInjectingTransport, Handler

__all__ = [
    "Fault",
    "FaultInjectingTransport",
    "Handler",
    "assert_no_secrets",
    "check_capabilities",
    "check_config",
    "check_destination",
    "check_source",
    "temporary_spokes",
]
