"""authorities: search index and heading links

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 07:20:00

Reserved in the chain for issue 18 (authorities); filled in with its tables and columns.
"""

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
