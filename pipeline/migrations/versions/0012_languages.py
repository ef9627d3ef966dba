"""the language partners read: coalition.language ("en" unless a file says), person.language

A coalition's emails and partner pages come in its language; a person may choose their own
("" follows the coalition). Stored rows get English, which is what they were sent so far.
Adding columns with a constant default rebuilds no table (SQLite keeps its foreign keys).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 05:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('coalition', sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=16),
                                         server_default='en', nullable=False))
    op.add_column('person', sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      server_default='', nullable=False))


def downgrade() -> None:
    op.drop_column('person', 'language')
    op.drop_column('coalition', 'language')
