"""spokehub: the hub of a hub-and-spoke customer data platform."""

__version__ = "0.1.0"
