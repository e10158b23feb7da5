"""borrowers.password_expiration_date

Revision ID: 0009
Revises: 0002
Create Date: 2026-11-28 16:30:00

Koha's column (23.05+): after this date the patron's password no longer authenticates and
ILS-DI AuthenticatePatron answers PasswordExpired.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("borrowers", sa.Column("password_expiration_date", sa.Date(), nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch table rebuild would cascade
    # deletes through the foreign keys that point at borrowers
    op.drop_column("borrowers", "password_expiration_date")
