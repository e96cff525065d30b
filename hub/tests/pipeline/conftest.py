from .shim import profile_store

__all__ = ["profile_store"]
