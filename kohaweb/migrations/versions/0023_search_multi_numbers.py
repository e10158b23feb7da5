"""search index: several numbers of a record listed apart, for fast ranges

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 01:45:00

A record with two or more distinct numbers in a number index (``date``, ``pubdate``) now also
has them under ``name#2`` (kohaweb.search.postings.multi_number_space), which makes a CQL range
``dc.date >= a and dc.date <= b`` one range read and two small ones instead of two reads of half
the index. The system preference ``SearchIndexMultiNumbers`` says that every record of the index
has them: set here when the index is empty (a fresh catalogue), otherwise by the next
``kohaweb index rebuild``; until then ranges are read the old way, with the same answers.
No table changes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM systempreferences WHERE variable = 'SearchIndexMultiNumbers'"))
    if bind.execute(sa.text("SELECT 1 FROM search_records")).first() is None:
        bind.execute(sa.text("INSERT INTO systempreferences (variable, value, type) "
                             "VALUES ('SearchIndexMultiNumbers', '1', 'YesNo')"))


def downgrade() -> None:
    op.execute("DELETE FROM systempreferences WHERE variable = 'SearchIndexMultiNumbers'")
