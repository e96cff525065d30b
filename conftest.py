"""Root conftest: shares the hub's store fixtures with every suite in the workspace."""

pytest_plugins = ["spokehub.testing.fixtures"]
