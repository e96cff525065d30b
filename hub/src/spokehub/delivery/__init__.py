"""Delivery: outbox rows to destinations, one isolated lane per destination connection.

``spokehub serve`` starts :func:`run_lanes`; ``spokehub deliveries`` and the
``/v1/deliveries`` API show lane status and replay what was delivered or dead-lettered.
"""

from .lanes import Lane, build_lanes, run_lanes
from .settings import DeliverySettings

__all__ = ["DeliverySettings", "Lane", "build_lanes", "run_lanes"]
