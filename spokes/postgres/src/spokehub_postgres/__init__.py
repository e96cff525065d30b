"""spokehub-postgres: PostgreSQL on both sides of the hub.

As a destination it keeps the hub's truth in warehouse tables named by the data contract's
rules, so BI reads what marketing sees; as a source it reads tables into the hub. Depends
on ``spokehub-contracts`` and ``psycopg``, and reaches the hub through the ``spokehub``
entry point, which names this module.
"""

from __future__ import annotations

__all__: list[str] = []
