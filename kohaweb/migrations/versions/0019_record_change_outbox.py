"""record-change outbox for search backends outside the database

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 07:20:00

Reserved in the chain for issue 19 (plugin contract); filled in with its tables and columns.
"""

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
