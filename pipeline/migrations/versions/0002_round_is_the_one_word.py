"""call a round a round: table campaign -> round, campaign_id -> round_id

The code says "round" everywhere; the schema now says it too, so a reader of the database and
a reader of the models use one word. Renames only: no data is copied or changed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 18:00:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Tables with a round_id column (and an index on it).
TABLES = ("blocker", "commitmentupdate", "delivery", "helpedge", "invitation", "pulse",
          "reading", "response", "win")


def _rename(old_table: str, new_table: str, old_column: str, new_column: str,
            old_index: str | None, new_index: str | None) -> None:
    # ALTER TABLE ... RENAME COLUMN works on PostgreSQL and on SQLite >= 3.25, in a transaction,
    # and rewrites the constraints and foreign keys that name the column.
    if old_table != new_table:
        op.execute(f'ALTER TABLE "{old_table}" RENAME TO "{new_table}"')
    if old_column != new_column:
        op.execute(f'ALTER TABLE "{new_table}" RENAME COLUMN "{old_column}" TO "{new_column}"')
    if old_index and new_index:
        op.drop_index(old_index, table_name=new_table)
        op.create_index(new_index, new_table, [new_column])


def upgrade() -> None:
    _rename("campaign", "round", "coalition_id", "coalition_id",
            "ix_campaign_coalition_id", "ix_round_coalition_id")
    _rename("commitment", "commitment", "created_campaign_id", "created_round_id", None, None)
    for table in TABLES:
        _rename(table, table, "campaign_id", "round_id",
                f"ix_{table}_campaign_id", f"ix_{table}_round_id")
    # The scoreboard's column is unique, not indexed.
    _rename("scoreboard", "scoreboard", "campaign_id", "round_id", None, None)


def downgrade() -> None:
    _rename("scoreboard", "scoreboard", "round_id", "campaign_id", None, None)
    for table in TABLES:
        _rename(table, table, "round_id", "campaign_id",
                f"ix_{table}_round_id", f"ix_{table}_campaign_id")
    _rename("commitment", "commitment", "created_round_id", "created_campaign_id", None, None)
    _rename("round", "campaign", "coalition_id", "coalition_id",
            "ix_round_coalition_id", "ix_campaign_coalition_id")
