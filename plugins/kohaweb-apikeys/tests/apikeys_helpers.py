"""Helpers shared by the apikeys tests (a unique module name: every plugin's tests directory
is on sys.path when the whole suite runs, so ``conftest`` cannot be imported by name)."""

from __future__ import annotations

SERVICES = ["apikeys", "status"]  # /status/details (permission `parameters`) is a protected resource


def login(app, userid: str, password: str):
    """Log a webtest app in through the core's /login form (session cookie)."""
    form = app.get("/login").forms[-1]
    form["userid"] = userid
    form["password"] = password
    return form.submit(status=303)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
