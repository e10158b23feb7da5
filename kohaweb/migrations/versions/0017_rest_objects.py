"""REST objects: columns and tables the REST API's Koha objects need

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 07:20:00

Koha's columns behind the fields of the REST API's checkout, hold, account line and patron
objects (issues/old_issues, reserves/old_reserves, accountlines, borrowers), and Koha's
checkout_renewals (GET /checkouts/{checkout_id}/renewals) and cities (/cities) tables. NOT NULL columns are added
with a server default for the rows already there, which is dropped afterwards (the models set
the value).
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

CHECKOUT_COLUMNS = [
    ("unseen_renewals", sa.Integer(), False, "0"),
    ("auto_renew_error", sa.String(length=32), True, None),
    ("issuer_id", sa.Integer(), True, None),
    ("note_date", sa.Date(), True, None),
    ("note_seen", sa.Boolean(), True, None),
]
HOLD_COLUMNS = [
    ("lowestPriority", sa.Boolean(), False, sa.false()),
    ("non_priority", sa.Boolean(), False, sa.false()),
    ("patron_expiration_date", sa.Date(), True, None),
]
ACCOUNT_LINE_COLUMNS = [
    ("issue_id", sa.Integer(), True, None),
    ("note", sa.Text(), True, None),
    ("manager_id", sa.Integer(), True, None),
    ("interface", sa.String(length=16), True, None),
    ("branchcode", sa.String(length=10), True, None),
    ("payment_type", sa.String(length=80), True, None),
]
PATRON_COLUMNS = [
    ("streettype", sa.Text(), True, None),
    ("emailpro", sa.Text(), True, None),
    ("phonepro", sa.Text(), True, None),
    ("fax", sa.Text(), True, None),
    ("smsalertnumber", sa.String(length=50), True, None),
    ("preferred_name", sa.Text(), True, None),
    ("middle_name", sa.Text(), True, None),
    ("pronouns", sa.Text(), True, None),
    ("B_streetnumber", sa.String(length=10), True, None),
    ("B_address", sa.Text(), True, None),
    ("B_address2", sa.Text(), True, None),
    ("B_city", sa.Text(), True, None),
    ("B_state", sa.Text(), True, None),
    ("B_zipcode", sa.String(length=25), True, None),
    ("B_country", sa.Text(), True, None),
    ("B_email", sa.Text(), True, None),
    ("B_phone", sa.Text(), True, None),
    ("contactnote", sa.String(length=255), True, None),
    ("altcontactfirstname", sa.Text(), True, None),
    ("altcontactsurname", sa.Text(), True, None),
    ("altcontactaddress1", sa.Text(), True, None),
    ("altcontactaddress2", sa.Text(), True, None),
    ("altcontactaddress3", sa.Text(), True, None),
    ("altcontactstate", sa.Text(), True, None),
    ("altcontactzipcode", sa.String(length=50), True, None),
    ("altcontactcountry", sa.Text(), True, None),
    ("altcontactphone", sa.String(length=50), True, None),
    ("sort1", sa.String(length=80), True, None),
    ("sort2", sa.String(length=80), True, None),
    ("relationship", sa.String(length=100), True, None),
    ("autorenew_checkouts", sa.Boolean(), False, sa.true()),
    ("checkprevcheckout", sa.String(length=7), False, "inherit"),
    ("primary_contact_method", sa.String(length=45), True, None),
    ("date_renewed", sa.Date(), True, None),
    ("anonymized", sa.Boolean(), False, sa.false()),
    ("protected", sa.Boolean(), False, sa.false()),
    ("privacy_guarantor_fines", sa.Boolean(), False, sa.false()),
    ("privacy_guarantor_checkouts", sa.Boolean(), False, sa.false()),
    ("B_streettype", sa.String(length=50), True, None),
    ("sms_provider_id", sa.Integer(), True, None),
    ("overdrive_auth_token", sa.Text(), True, None),
]
TABLES = [
    ("issues", CHECKOUT_COLUMNS), ("old_issues", CHECKOUT_COLUMNS),
    ("reserves", HOLD_COLUMNS), ("old_reserves", HOLD_COLUMNS),
    ("accountlines", ACCOUNT_LINE_COLUMNS), ("borrowers", PATRON_COLUMNS),
]


def upgrade() -> None:
    for table, columns in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, type_, nullable, default in columns:
                batch_op.add_column(sa.Column(name, type_, nullable=nullable, server_default=default))
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, type_, nullable, default in columns:
                if default is not None:
                    batch_op.alter_column(name, existing_type=type_, existing_nullable=nullable,
                                          server_default=None)
    op.create_table(
        "checkout_renewals",
        sa.Column("renewal_id", sa.Integer(), nullable=False),
        sa.Column("checkout_id", sa.Integer(), nullable=False),
        sa.Column("renewer_id", sa.Integer(), nullable=True),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.Column("interface", sa.String(length=16), nullable=False),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
        sa.Column("renewal_type", sa.String(length=9), nullable=False),
        sa.PrimaryKeyConstraint("renewal_id", name=op.f("pk_checkout_renewals")),
    )
    op.create_index("ix_checkout_renewals_checkout_id", "checkout_renewals", ["checkout_id"], unique=False)
    op.create_table(
        "cities",
        sa.Column("cityid", sa.Integer(), nullable=False),
        sa.Column("city_name", sa.String(length=100), nullable=False),
        sa.Column("city_state", sa.String(length=100), nullable=True),
        sa.Column("city_country", sa.String(length=100), nullable=True),
        sa.Column("city_zipcode", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("cityid", name=op.f("pk_cities")),
    )


def downgrade() -> None:
    op.drop_table("cities")
    op.drop_index("ix_checkout_renewals_checkout_id", table_name="checkout_renewals")
    op.drop_table("checkout_renewals")
    for table, columns in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, *_ in reversed(columns):
                batch_op.drop_column(name)
