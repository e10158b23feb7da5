"""import_files: what `kohaweb import` has committed from each file

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:10:00

A re-run of an import that was killed resumes after the last committed batch instead of storing
it twice (kohaweb.models.imports.ImportedFile).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_files",
        sa.Column("file_key", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.Column("completed", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("file_key", name="pk_import_files"),
    )


def downgrade() -> None:
    op.drop_table("import_files")
