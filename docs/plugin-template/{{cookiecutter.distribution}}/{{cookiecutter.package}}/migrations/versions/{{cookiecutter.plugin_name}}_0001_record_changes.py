"""{{ cookiecutter.plugin_name }}: its table {{ cookiecutter.table }}

Revision ID: {{ cookiecutter.plugin_name }}_0001
Revises: (none; the first revision of the {{ cookiecutter.plugin_name }} branch)

A plugin's revisions form a branch of their own: the first has no down_revision and names the
branch; the next ones revise it. A table with a foreign key to a core table would set
``depends_on`` to the core revision that created that table.
"""

import sqlalchemy as sa
from alembic import op

revision = "{{ cookiecutter.plugin_name }}_0001"
down_revision = None
branch_labels = ("{{ cookiecutter.plugin_name }}",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "{{ cookiecutter.table }}",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("biblionumber", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("noted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_{{ cookiecutter.table }}"),
    )
    op.create_index("ix_{{ cookiecutter.table }}_biblionumber", "{{ cookiecutter.table }}", ["biblionumber"])


def downgrade() -> None:
    op.drop_index("ix_{{ cookiecutter.table }}_biblionumber", table_name="{{ cookiecutter.table }}")
    op.drop_table("{{ cookiecutter.table }}")
