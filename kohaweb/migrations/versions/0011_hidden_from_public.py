"""biblio.hidden_from_public (and deletedbiblio's copy)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:50:00

Whether the public may see a record, under the visibility policy last applied
(kohaweb.visibility): OAI-PMH lists, public searches and the other public services read it.
Existing records start from OPAC suppression alone (OpacSuppression is on unless the preference
says 0); after an upgrade of a catalogue with OpacHiddenItems rules, run
``kohaweb oai apply-visibility`` once to take the item rules into account.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("biblio", "deletedbiblio"):
        op.add_column(table, sa.Column("hidden_from_public", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    bind = op.get_bind()
    setting = bind.execute(sa.text("SELECT value FROM systempreferences WHERE lower(variable) = 'opacsuppression'"
                                   )).scalar()
    if setting is None or setting.strip() != "0":
        bind.execute(sa.text("UPDATE biblio SET hidden_from_public = opac_suppressed"))


def downgrade() -> None:
    for table in ("biblio", "deletedbiblio"):
        op.drop_column(table, "hidden_from_public")
