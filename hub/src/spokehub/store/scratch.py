"""Throw-away PostgreSQL schemas, for test suites and benchmarks sharing one database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from .engine import create_store_engine


@contextmanager
def scratch_schema(base_url: str, prefix: str = "t") -> Iterator[str]:
    """Create a fresh schema in the database of ``base_url`` and yield a URL whose
    ``search_path`` is that schema; drop it (with everything in it) afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_store_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
