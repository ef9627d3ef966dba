"""read and show numbers the coalition's way: coalition.locale, "en" unless a file says

Partners typed 3,5 in an English coalition and 3.5 was stored; check-in readings are now read
by the coalition's locale. Every coalition so far was read the English way, so stored rows get
"en". Adding a column with a constant default rebuilds no table (SQLite keeps its foreign keys).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('coalition', sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=35),
                                         server_default='en', nullable=False))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): no table rebuild, as above.
    op.drop_column('coalition', 'locale')
