"""``spokehub new spoke``: a spoke package that passes its own tests from the first minute.

:func:`new_spoke` writes a distribution for a source or a destination from the templates
beside this module (package data): a ``pyproject.toml`` with the ``spokehub`` entry point,
a README with a config example, the config model, the spoke class on the toolkit's HTTP
client, a sandbox of the vendor in the package's ``testing`` module, and tests that run
the contracts' conformance suite against it. It depends on ``spokehub-contracts`` alone.
"""

from .generate import ScaffoldError, SpokeNames, new_spoke

__all__ = ["ScaffoldError", "SpokeNames", "new_spoke"]
