"""Resolution's driver SQL raises SQLAlchemy's errors, which the pipeline retries on."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from spokehub.identity.resolve import _Sql


def test_driver_errors_arrive_as_sqlalchemy_errors(engine):
    with engine.connect() as conn:
        sql = _Sql(conn)
        row = ("c-1", sql.ts(datetime(2024, 1, 1)))
        insert = f"INSERT INTO profiles (contact_id, created_at) VALUES ({sql.params(2)})"
        sql.many(insert, [row])
        with pytest.raises(IntegrityError):
            sql.many(insert, [row])
        conn.rollback()
        with pytest.raises(DBAPIError) as caught:
            sql = _Sql(conn)
            sql.rows("SELECT no_such_column FROM profiles")
        assert "no_such_column" in str(caught.value)
        conn.rollback()
