"""helpedge indexed by the helped organisation: who helped it before, for its check-in page

In a large coalition the check-in page offers the organisations that helped the partner's
organisation in earlier rounds; the index keeps that a lookup, not a scan of every round's help.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 10:30:00
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_helpedge_helped_helper', 'helpedge',
                    ['helped_organisation_id', 'helper_organisation_id'])


def downgrade() -> None:
    op.drop_index('ix_helpedge_helped_helper', table_name='helpedge')
