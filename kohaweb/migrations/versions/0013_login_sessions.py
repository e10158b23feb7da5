"""login_sessions and login_failures

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:30:00

Sign-in state kept by the server (kohaweb.auth, kohaweb.throttle): a staff session counts only
while its login_sessions row exists, so logout and password changes end it at once; failed
sign-ins are counted per account, client and address for the backoff. Sessions signed in before
this migration have no row and must sign in again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("borrowernumber", sa.Integer(), nullable=False),
        sa.Column("password_stamp", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["borrowernumber"], ["borrowers.borrowernumber"], ondelete="CASCADE",
                                name="fk_login_sessions_borrowernumber_borrowers"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_login_sessions"),
    )
    op.create_index("ix_login_sessions_borrowernumber", "login_sessions", ["borrowernumber"])
    op.create_index("ix_login_sessions_expires", "login_sessions", ["expires"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(191), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    op.create_index("ix_login_failures_scope_subject_failed_at", "login_failures",
                    ["scope", "subject", "failed_at"])
    op.create_index("ix_login_failures_failed_at", "login_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_table("login_sessions")
