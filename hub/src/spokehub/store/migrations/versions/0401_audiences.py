"""audiences and journeys: members with their entered and exited times, each audience's
last reconcile, journey timers, and an index of events by name and time

Revision ID: 0401
Revises: 0001
"""

from alembic import op

from spokehub.audiences.tables import EVENTS_BY_NAME, audience_members, audience_state
from spokehub.journeys.tables import journey_timers

revision = "0401"
down_revision = "0001"
branch_labels = ("audiences",)
# The events table (the data path's) must exist for the index.
depends_on = "0003"

TABLES = (audience_members, audience_state, journey_timers)


def upgrade() -> None:
    for table in TABLES:
        table.create(op.get_bind())
    op.create_index(EVENTS_BY_NAME, "events", ["event", "timestamp"])


def downgrade() -> None:
    op.drop_index(EVENTS_BY_NAME, table_name="events")
    for table in reversed(TABLES):
        table.drop(op.get_bind())
