"""authorities: auth_header completed to Koha's layout, deletedauth_header

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 05:10:00

auth_header gains Koha's authtrees, linkid and heading columns, kohaweb's flavour column and the
index on origincode; its authid is no longer auto-incremented (ids come from the id_counters
row "authority", so they never go back after a deletion). deletedauth_header keeps deleted
authorities as deletedbiblio keeps deleted records (as recent Koha does; older Koha had none).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql")


def upgrade() -> None:
    with op.batch_alter_table("auth_header", schema=None) as batch_op:
        batch_op.add_column(sa.Column("authtrees", LONG_TEXT, nullable=True))
        batch_op.add_column(sa.Column("linkid", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("heading", LONG_TEXT, nullable=True))
        batch_op.add_column(sa.Column("flavour", sa.String(length=8), nullable=False, server_default="MARC21"))
        batch_op.create_index("ix_auth_header_origincode", ["origincode"], unique=False)
    with op.batch_alter_table("auth_header", schema=None) as batch_op:
        batch_op.alter_column("flavour", server_default=None)
    bind = op.get_bind()
    # the ids come from id_counters now: a database-side sequence would hand out ids again
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE auth_header ALTER COLUMN authid DROP DEFAULT")
        op.execute("DROP SEQUENCE IF EXISTS auth_header_authid_seq")
    elif bind.dialect.name in ("mysql", "mariadb"):
        op.execute("ALTER TABLE auth_header MODIFY authid INTEGER NOT NULL")
    op.create_table(
        "deletedauth_header",
        sa.Column("deleted_on", sa.DateTime(), nullable=False),
        sa.Column("authid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("authtypecode", sa.String(length=10), nullable=False),
        sa.Column("datecreated", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.Column("origincode", sa.String(length=20), nullable=True),
        sa.Column("authtrees", LONG_TEXT, nullable=True),
        sa.Column("linkid", sa.BigInteger(), nullable=True),
        sa.Column("heading", LONG_TEXT, nullable=True),
        sa.Column("flavour", sa.String(length=8), nullable=False),
        sa.Column("marcxml", LONG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("authid", name=op.f("pk_deletedauth_header")),
    )


def downgrade() -> None:
    op.drop_table("deletedauth_header")
    with op.batch_alter_table("auth_header", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_header_origincode")
        batch_op.drop_column("flavour")
        batch_op.drop_column("heading")
        batch_op.drop_column("linkid")
        batch_op.drop_column("authtrees")
