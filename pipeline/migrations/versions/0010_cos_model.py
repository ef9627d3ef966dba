"""the COS Model: round kinds, the per-round phase snapshot, win-echo marks, coalition model

- round.kind: checkin (the weekly form), readiness (the eight-item check) or win-echo (the win
  from memory); every round so far was a check-in.
- phase_snapshot: one row per round, the phase state the merge computed (scores, bands, exit
  tests, focus, moves, metric bands, what slipped), as JSON; recomputed with the merge.
- echo_mark: each win-echo answer with the mark the rule suggested and a lead's override.
- reading.note: the story behind the curve, from the metric's owner.
- coalition.model: the coalition file's [model] table (thresholds, rotation, funding date) as
  JSON; coalition.funder_salt: the funder link's salt (a new one revokes the old link).
Columns with constant defaults rebuild no table (SQLite keeps its foreign keys).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 04:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('round', sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16),
                                     server_default='checkin', nullable=False))
    op.add_column('reading', sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000),
                                       server_default='', nullable=False))
    op.add_column('coalition', sa.Column('model', sa.JSON(), server_default='{}',
                                         nullable=False))
    op.add_column('coalition', sa.Column('funder_salt',
                                         sqlmodel.sql.sqltypes.AutoString(length=64),
                                         server_default='', nullable=False))
    op.create_table(
        'phasesnapshot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('round_id', sa.Integer(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('computed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['round_id'], ['round.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('round_id'),
    )
    op.create_table(
        'echomark',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('round_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column('suggested', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('override', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.ForeignKeyConstraint(['round_id'], ['round.id']),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('round_id', 'person_id'),
    )
    op.create_index(op.f('ix_echomark_round_id'), 'echomark', ['round_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_echomark_round_id'), table_name='echomark')
    op.drop_table('echomark')
    op.drop_table('phasesnapshot')
    op.drop_column('coalition', 'funder_salt')
    op.drop_column('coalition', 'model')
    op.drop_column('reading', 'note')
    op.drop_column('round', 'kind')
