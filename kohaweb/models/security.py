"""Sign-in state kept by the server: staff sessions and failed sign-ins (for throttling)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class LoginSession(Base):
    """A signed-in browser session. The cookie carries a random token; this row (found by the
    token's SHA-256) must exist for the cookie to count, so deleting it ends the session at once."""

    __tablename__ = "login_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    borrowernumber: Mapped[int] = mapped_column(
        ForeignKey("borrowers.borrowernumber", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the patron's password hash at sign-in: a changed password ends the session
    password_stamp: Mapped[str] = mapped_column(String(64))
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class LoginFailure(Base):
    """One failed password or client-secret check, counted per account, per client id and per
    address within ``kohaweb.login.window`` to decide how long the next attempt must wait."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_scope_subject_failed_at", "scope", "subject", "failed_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # "account", "client" or "address"
    subject: Mapped[str] = mapped_column(String(191))  # patron:N / login:<name>, client id, address
    failed_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
