"""admin pages: admin accounts, leads' emailed sign-in links, failed sign-ins per account and address

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 04:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'admin_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', S(length=254), nullable=False),
        sa.Column('password_hash', S(length=255), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_admin_user_email'), 'admin_user', ['email'], unique=True)
    op.create_table(
        'sign_in_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', S(length=254), nullable=False),
        sa.Column('token_hash', S(length=64), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_sign_in_link_email'), 'sign_in_link', ['email'], unique=False)
    op.create_index(op.f('ix_sign_in_link_token_hash'), 'sign_in_link', ['token_hash'],
                    unique=True)
    op.create_table(
        'sign_in_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', S(length=300), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('locked_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_sign_in_failures_key'), 'sign_in_failures', ['key'], unique=True)


def downgrade() -> None:
    op.drop_index(op.f('ix_sign_in_failures_key'), table_name='sign_in_failures')
    op.drop_table('sign_in_failures')
    op.drop_index(op.f('ix_sign_in_link_token_hash'), table_name='sign_in_link')
    op.drop_index(op.f('ix_sign_in_link_email'), table_name='sign_in_link')
    op.drop_table('sign_in_link')
    op.drop_index(op.f('ix_admin_user_email'), table_name='admin_user')
    op.drop_table('admin_user')
