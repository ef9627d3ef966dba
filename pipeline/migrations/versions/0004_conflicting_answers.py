"""keep conflicting answers with the round: table conflictanswer

When two people of one organisation answer differently about a commitment or a metric, the
merge keeps the latest answer and now also stores every answer, so the digest and
`cos campaign status` can show the disagreement instead of hiding it. A new table only: no
existing row changes; rounds merged before this revision get their rows on their next merge.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:15:37
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conflictanswer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('submitted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kept', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('round_id', 'kind', 'subject_id', 'person_id')
    )
    with op.batch_alter_table('conflictanswer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conflictanswer_round_id'), ['round_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conflictanswer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conflictanswer_round_id'))
    op.drop_table('conflictanswer')
