"""indexes for the check-in's helpers in a large coalition: helpedge by the helped organisation,
organisation by its lowercased name

The page offers the organisations that helped the partner's organisation in earlier rounds, and
matches the names typed for the others whatever their case; each index keeps that a lookup, not
a scan of every round's help or of the coalition's organisations.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 10:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_helpedge_helped_helper', 'helpedge',
                    ['helped_organisation_id', 'helper_organisation_id'])
    op.create_index('ix_organisation_coalition_lower_name', 'organisation',
                    ['coalition_id', sa.text('lower(name)')])


def downgrade() -> None:
    op.drop_index('ix_organisation_coalition_lower_name', table_name='organisation')
    op.drop_index('ix_helpedge_helped_helper', table_name='helpedge')
