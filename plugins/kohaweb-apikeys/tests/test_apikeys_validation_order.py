"""Creating an API key checks who asks before the body (issue 22): anonymous callers and other
patrons get 401/403, never the body's validation errors or a parse of a hostile body."""

from __future__ import annotations

from kohaweb.testing import basic_auth


def test_body_errors_are_only_for_callers_who_may_create(make_app, staff_user):
    app = make_app(services=["apikeys"], **{"kohaweb.auth.basic": "true"})
    owner, password, patron_id = staff_user("keyowner")
    other = staff_user("stranger")
    url = f"/api/v1/patrons/{patron_id}/api_keys"
    hostile = '{"description": 1, "unexpected": ' + "[" * 3000 + "]" * 3000 + "}"
    json = {"Content-Type": "application/json"}
    anonymous = app.post(url, hostile, headers=json, status=401)
    assert anonymous.json["error_code"] == "authentication_required" and "description" not in anonymous.text
    stranger = app.post(url, hostile, headers={**json, **basic_auth(*other[:2])}, status=403)
    assert stranger.json["error_code"] == "forbidden" and "description" not in stranger.text
    mine = app.post(url, hostile, headers={**json, **basic_auth(owner, password)}, status=400).json
    assert mine["error_code"] == "invalid_parameters"
    app.post_json(url, {"description": "ok"}, headers=basic_auth(owner, password), status=201)
