"""{{ cookiecutter.distribution }}: the hook notes record changes, the REST path lists them.

The fixtures (make_app, staff_user, basic_auth...) come from kohaweb.testing, loaded by pytest for
every installed kohaweb; they migrate a throwaway database with every installed branch, this
plugin's included. Run: KOHAWEB_TEST_DATABASE=sqlite|postgresql|mariadb pytest tests
"""

from __future__ import annotations

import pymarc
from kohaweb.plugin_api import Catalog
from kohaweb.testing import basic_auth

NAME = "{{ cookiecutter.plugin_name }}"
PATH = f"/api/v1/contrib/{NAME}/changes"


def marc_record(title: str) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data="200101s2020    xx            000 0 eng d"))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", title)]))
    return record


def test_record_changes_are_noted_and_listed(make_app, staff_user):
    app = make_app(services=[NAME], **{"kohaweb.auth.basic": "true", f"{NAME}.max_listed": "2"})
    site = app.app.registry.kohaweb
    # a session of the site's own factory carries the site's hooks (Catalog(session) fires them)
    with site.session_factory() as session:
        catalog = Catalog(session)
        first = catalog.add_record(marc_record("First")).biblionumber
        second = catalog.add_record(marc_record("Second")).biblionumber
        catalog.update_record(first, marc_record("First, revised"))
        session.commit()
    with site.session_factory() as session:
        Catalog(session).add_record(marc_record("Rolled back"))
        session.rollback()  # its note goes with it
    userid, password, _ = staff_user("cataloguer", "catalogue")
    listed = app.get(PATH, headers=basic_auth(userid, password)).json
    assert [(c["biblio_id"], c["action"]) for c in listed] == [(first, "updated"), (second, "added")]
    only_first = app.get(PATH, {"biblio_id": first}, headers=basic_auth(userid, password)).json
    assert [c["action"] for c in only_first] == ["updated", "added"]


def test_the_rest_path_needs_the_permission_and_is_documented(make_app, staff_user):
    app = make_app(services=[NAME], **{"kohaweb.auth.basic": "true"})
    app.get(PATH, status=401)
    userid, password, _ = staff_user("visitor")
    app.get(PATH, headers=basic_auth(userid, password), status=403)
    document = app.get("/api/v1/").json
    assert document["paths"][f"/contrib/{NAME}/changes"]["get"]["x-koha-authorization"]
