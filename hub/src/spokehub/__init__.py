"""spokehub: the hub of a hub-and-spoke customer data platform."""

__version__ = "0.1.0"

#: The project file read when none is named (``spokehub -c``, ``SPOKEHUB_CONFIG``).
DEFAULT_FILE = "spokehub.yaml"
