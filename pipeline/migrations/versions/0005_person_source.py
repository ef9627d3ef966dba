"""record where each person came from: person.source, "file" or "csv"

A load deactivated everyone its file left out, CSV imports included. Loads now leave people
from a CSV alone, so each person says where they came from. Rows already stored get "csv":
until now every load deactivated whoever its file did not list, so anyone still active and
not in the file came from an import, and the next load claims as "file" everyone it lists.
Adding a column with a constant default rebuilds no table (SQLite keeps its foreign keys).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('person', sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=8),
                                      server_default='csv', nullable=False))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): no table rebuild, as above.
    op.drop_column('person', 'source')
