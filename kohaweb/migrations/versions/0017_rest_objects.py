"""REST objects: columns and tables the REST API's Koha objects need

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 07:20:00

Reserved in the chain for issue 20 (REST API); filled in with its tables and columns.
"""

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
