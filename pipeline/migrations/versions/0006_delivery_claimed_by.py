"""say who holds a sending claim: delivery.claimed_by ("host:pid")

A worker killed mid-send left its rows in `sending` for a fixed 15 minutes. With the claimant
recorded, a worker restarted on the same host releases the claims of processes that are gone
at once; other claims expire after a lease longer than any live send can take.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 01:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('delivery') as batch:
        batch.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=200),
                                   nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('delivery') as batch:
        batch.drop_column('claimed_by')
