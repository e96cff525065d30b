"""Root conftest: shares the hub's store fixtures with every suite in the workspace, and
pytester for the tests of those fixtures."""

pytest_plugins = ["pytester", "spokehub.testing.fixtures"]
