"""webhooks (endpoints and their delivery log) and read-only API tokens

Data out: a coalition can be told of answers and closed rounds by signed webhooks, and read
its scoreboard and rounds through a JSON API with tokens of its own. New tables only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 04:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'webhookendpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('coalition_id', sa.Integer(), nullable=False),
        sa.Column('url', text(length=2000), nullable=False),
        sa.Column('secret', text(length=100), nullable=False),
        sa.Column('events', text(length=500), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('disabled_reason', text(length=300), nullable=False),
        sa.ForeignKeyConstraint(['coalition_id'], ['coalition.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_webhookendpoint_coalition_id'), 'webhookendpoint',
                    ['coalition_id'], unique=False)
    op.create_table(
        'webhookdelivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('event_id', text(length=64), nullable=False),
        sa.Column('event_type', text(length=64), nullable=False),
        sa.Column('payload', text(), nullable=False),
        sa.Column('status', text(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', text(length=500), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('delivered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhookendpoint.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('endpoint_id', 'event_id'),
    )
    op.create_index(op.f('ix_webhookdelivery_endpoint_id'), 'webhookdelivery',
                    ['endpoint_id'], unique=False)
    op.create_index(op.f('ix_webhookdelivery_status'), 'webhookdelivery', ['status'],
                    unique=False)
    op.create_table(
        'apitoken',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('coalition_id', sa.Integer(), nullable=False),
        sa.Column('name', text(length=100), nullable=False),
        sa.Column('token_hash', text(length=64), nullable=False),
        sa.Column('prefix', text(length=16), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['coalition_id'], ['coalition.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_apitoken_coalition_id'), 'apitoken', ['coalition_id'],
                    unique=False)
    op.create_index(op.f('ix_apitoken_token_hash'), 'apitoken', ['token_hash'], unique=True)


def downgrade() -> None:
    op.drop_table('apitoken')
    op.drop_table('webhookdelivery')
    op.drop_table('webhookendpoint')
