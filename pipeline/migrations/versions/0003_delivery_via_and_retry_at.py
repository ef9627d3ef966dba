"""say where each email went and when a failed one is tried again: delivery.via, retry_at

`cos campaign status` must tell "written to a file outbox" from "accepted by an SMTP server",
and a temporary failure from a final one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:50:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('delivery') as batch:
        batch.add_column(sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=300),
                                   nullable=False, server_default=''))
        batch.add_column(sa.Column('retry_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('delivery') as batch:
        batch.drop_column('retry_at')
        batch.drop_column('via')
