"""The status service: public liveness, permission-protected details."""

from kohaweb.testing import basic_auth


def test_liveness_is_public_and_details_need_parameters(make_app, staff_user, sample_records):
    sample_records(3)
    app = make_app(services=["status"], **{"kohaweb.auth.basic": "true"})
    assert app.get("/status").json["status"] == "ok"
    app.get("/status/details", status=401)
    user, password, _ = staff_user("monitor", "parameters")
    details = app.get("/status/details", headers=basic_auth(user, password)).json
    assert details["records"] == 3 and details["items"] >= 0 and details["deleted_records"] == 0


def test_show_counts_can_be_turned_off(make_app, staff_user):
    app = make_app(services=["status"], **{"kohaweb.auth.basic": "true", "status.show_counts": "false"})
    user, password, _ = staff_user("monitor", "parameters")
    details = app.get("/status/details", headers=basic_auth(user, password)).json
    assert "records" not in details and details["schema_revision"]
