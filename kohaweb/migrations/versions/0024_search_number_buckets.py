"""search index: numbers also listed by tens and hundreds, for ranges over many years

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 05:20:00

Every number of a number index (``date``, ``pubdate``) is now also listed under ``name#/10``
and ``name#/100`` as its tens and hundreds (kohaweb.search.postings.number_bucket_space): a CQL
range then reads whole decades and centuries and the years at its edges instead of every year
between. ``SearchIndexMultiNumbers`` becomes a level (0 plain, 1 several numbers apart, 2 also
by tens and hundreds): set to 2 here when the index is empty (a fresh catalogue), otherwise by
the next ``kohaweb index rebuild``; until then ranges read every year, with the same answers.
No table changes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM search_records")).first() is None:
        bind.execute(sa.text("DELETE FROM systempreferences WHERE variable = 'SearchIndexMultiNumbers'"))
        bind.execute(sa.text("INSERT INTO systempreferences (variable, value, type) "
                             "VALUES ('SearchIndexMultiNumbers', '2', 'Integer')"))


def downgrade() -> None:
    # 0023 knows 1 (several numbers apart), which an index at level 2 also has
    op.execute("UPDATE systempreferences SET value = '1', type = 'YesNo' "
               "WHERE variable = 'SearchIndexMultiNumbers' AND value = '2'")
