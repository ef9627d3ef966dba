"""the weekly cadence runs itself: schedules, round lifecycle, reminders, opt-outs and bounces

- coalition.cadence (the [cadence] settings as JSON), cadence_since, scheduled_through and
  pause_after_failures;
- round.period_key (unique per coalition: one round per cadence period), paused_at,
  pause_reason, cancelled_at, failures_in_a_row;
- person.opted_out_at, suppressed_at, suppressed_reason; invitation.not_this_week_at;
- delivery.reminder (its unique key becomes round, person, kind and reminder) and smtp_reply;
- schedulerstep: one row per coalition, period and step, inserted by the scheduler that does
  it, so a step is done once whatever the number of schedulers.

It follows 0009 (the COS model), which follows 0011 (admin sign-in) and 0013 (webhooks): all
four were written in parallel from 0007, and this one reached main last.

Every new column has a constant default, so no existing row needs rewriting. Only delivery is
rebuilt on SQLite (its unique key changes; no table points at it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 04:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OLD_KEY = ('round_id', 'person_id', 'kind')
NEW_KEY = ('round_id', 'person_id', 'kind', 'reminder')
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _unique_name(columns: tuple[str, ...]) -> str | None:
    bind = op.get_bind()
    for found in sa.inspect(bind).get_unique_constraints('delivery'):
        if tuple(found['column_names']) == columns:
            return found['name']
    return None


def _swap_delivery_key(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    name = _unique_name(old)
    with op.batch_alter_table('delivery', naming_convention=NAMING) as batch:
        batch.drop_constraint(name or "uq_delivery_" + "_".join(old), type_='unique')
        batch.create_unique_constraint("uq_delivery_" + "_".join(new), list(new))


def upgrade() -> None:
    op.add_column('coalition', sa.Column('cadence', sa.JSON(), nullable=True))
    op.add_column('coalition', sa.Column('cadence_since', sqlmodel.sql.sqltypes.UTCDateTime(),
                                         nullable=True))
    op.add_column('coalition', sa.Column('scheduled_through', sqlmodel.sql.sqltypes.UTCDateTime(),
                                         nullable=True))
    op.add_column('coalition', sa.Column('pause_after_failures', sa.Integer(),
                                         server_default='5', nullable=False))
    op.add_column('round', sa.Column('period_key', _text(16), nullable=True))
    op.add_column('round', sa.Column('paused_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('round', sa.Column('pause_reason', _text(500), server_default='',
                                     nullable=False))
    op.add_column('round', sa.Column('cancelled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('round', sa.Column('failures_in_a_row', sa.Integer(), server_default='0',
                                     nullable=False))
    op.create_index('uq_round_coalition_period', 'round', ['coalition_id', 'period_key'],
                    unique=True)
    op.add_column('person', sa.Column('opted_out_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
    op.add_column('person', sa.Column('suppressed_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
    op.add_column('person', sa.Column('suppressed_reason', _text(500), server_default='',
                                      nullable=False))
    op.add_column('invitation', sa.Column('not_this_week_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                          nullable=True))
    op.add_column('delivery', sa.Column('reminder', sa.Integer(), server_default='0',
                                        nullable=False))
    op.add_column('delivery', sa.Column('smtp_reply', _text(500), server_default='',
                                        nullable=False))
    _swap_delivery_key(OLD_KEY, NEW_KEY)
    op.create_table(
        'schedulerstep',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('coalition_id', sa.Integer(), nullable=False),
        sa.Column('period_key', _text(16), nullable=False),
        sa.Column('kind', _text(16), nullable=False),
        sa.Column('round_id', sa.Integer(), nullable=True),
        sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('claimed_by', _text(200), nullable=False),
        sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('outcome', _text(16), nullable=False),
        sa.Column('detail', _text(2000), nullable=False),
        sa.ForeignKeyConstraint(['coalition_id'], ['coalition.id']),
        sa.ForeignKeyConstraint(['round_id'], ['round.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('coalition_id', 'period_key', 'kind'),
    )
    op.create_index('ix_schedulerstep_coalition_id', 'schedulerstep', ['coalition_id'])


def downgrade() -> None:
    op.drop_index('ix_schedulerstep_coalition_id', table_name='schedulerstep')
    op.drop_table('schedulerstep')
    op.execute("DELETE FROM delivery WHERE reminder <> 0")
    _swap_delivery_key(NEW_KEY, OLD_KEY)
    with op.batch_alter_table('delivery') as batch:
        batch.drop_column('smtp_reply')
        batch.drop_column('reminder')
    op.drop_column('invitation', 'not_this_week_at')
    for column in ('suppressed_reason', 'suppressed_at', 'opted_out_at'):
        op.drop_column('person', column)
    op.drop_index('uq_round_coalition_period', table_name='round')
    for column in ('failures_in_a_row', 'cancelled_at', 'pause_reason', 'paused_at',
                   'period_key'):
        op.drop_column('round', column)
    for column in ('pause_after_failures', 'scheduled_through', 'cadence_since', 'cadence'):
        op.drop_column('coalition', column)
