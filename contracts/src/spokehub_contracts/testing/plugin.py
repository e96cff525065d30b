"""pytest plugin of the conformance kit, loaded through the ``pytest11`` entry point.

Fixtures defined here are available to any test suite that has ``spokehub-contracts``
installed.
"""
