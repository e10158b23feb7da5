"""The staff page for OAI sets at /oai-sets: permissions, CSRF, add/edit/delete, and a preview
whose count is what saving and rebuilding then produce."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kohaweb.models import Item, OaiSet, OaiSetBiblio, OaiSetMapping
from kohaweb.testing import see_other_writers


@pytest.fixture
def app(oai_app):
    return oai_app()


def login(app, userid: str, password: str) -> None:
    form = app.get("/login").forms[0]
    form["userid"], form["password"] = userid, password
    form.submit(status=303)


@pytest.fixture
def admin(app, staff_user):
    userid, password, _ = staff_user("setadmin", "parameters")
    login(app, userid, password)
    return app


def members(dbsession, set_id: int) -> int:
    see_other_writers(dbsession)  # see what the app committed since
    return dbsession.scalar(select(func.count()).select_from(OaiSetBiblio).where(OaiSetBiblio.set_id == set_id))


def fill_rule(form, row: int, field: str, subfield: str, value: str, operator: str = "equal",
              join: str = "or") -> None:
    form.set("field", field, index=row)
    form.set("subfield", subfield, index=row)
    form.set("value", value, index=row)
    form.set("operator", operator, index=row)
    form.set("rule_operator", join, index=row)


def test_page_needs_parameters_permission(app, staff_user, dbsession):
    dbsession.add(OaiSet(spec="kept", name="Kept"))
    dbsession.commit()
    set_id = dbsession.scalar(select(OaiSet.id))
    # a browser without a session is sent to the login page
    assert "/login" in app.get("/oai-sets", headers={"Accept": "text/html"}, status=302).location
    userid, password, _ = staff_user("cataloguer", "catalogue")
    login(app, userid, password)
    app.get("/oai-sets", status=403)
    app.get(f"/oai-sets/{set_id}", status=403)
    # the permission is checked before the CSRF token
    app.post(f"/oai-sets/{set_id}/delete", status=403)
    app.post("/oai-sets/rebuild", status=403)
    assert dbsession.scalar(select(func.count()).select_from(OaiSet)) == 1
    # Koha's address of the page leads here
    assert app.get("/cgi-bin/koha/admin/oai_sets.pl", status=303).location.endswith("/oai-sets")


def test_posts_need_the_csrf_token(admin, dbsession):
    admin.post("/oai-sets/new", {"spec": "x", "name": "X", "action": "save"}, status=400)
    admin.post("/oai-sets/rebuild", status=400)
    assert dbsession.scalar(select(func.count()).select_from(OaiSet)) == 0
    form = admin.get("/oai-sets/new").forms["oai-set"]
    form["spec"], form["name"] = "x", "X"
    form.submit("action", value="save", status=303)
    see_other_writers(dbsession)  # end the snapshot of the count above: the set the app saved
    set_id = dbsession.scalar(select(OaiSet.id))
    admin.post(f"/oai-sets/{set_id}/delete", status=400)
    admin.post(f"/oai-sets/{set_id}", {"spec": "y", "name": "Y", "action": "save"}, status=400)
    see_other_writers(dbsession)  # the refused posts changed nothing
    assert dbsession.scalar(select(OaiSet.spec)) == "x"


def test_add_preview_edit_rebuild_and_delete(admin, add_records, dbsession):
    add_records(12)
    at_cpl = set(dbsession.scalars(select(Item.biblionumber).where(Item.homebranch == "CPL")))
    cpl_books = set(dbsession.scalars(select(Item.biblionumber).where(Item.homebranch == "CPL", Item.itype == "BK")))
    assert at_cpl and cpl_books != at_cpl  # the rules below tell them apart

    form = admin.get("/oai-sets").click("Add a set").forms["oai-set"]
    form["spec"], form["name"] = "cpl", "At Centerville"
    form.set("description", "Held at CPL", index=0)
    fill_rule(form, 0, "952", "a", "CPL")
    preview = form.submit("action", value="preview")
    assert preview.html.find(id="preview-count").strong.text == str(len(at_cpl))
    # a preview saves nothing
    assert dbsession.scalar(select(func.count()).select_from(OaiSet)) == 0
    assert dbsession.scalar(select(func.count()).select_from(OaiSetBiblio)) == 0

    saved = preview.forms["oai-set"].submit("action", value="save", status=303).follow()
    see_other_writers(dbsession)  # the set the app saved
    row = dbsession.scalar(select(OaiSet).where(OaiSet.spec == "cpl"))
    assert row.name == "At Centerville" and [d.description for d in row.descriptions] == ["Held at CPL"]
    assert members(dbsession, row.id) == len(at_cpl)
    assert f"{len(at_cpl)} records in the set" in saved.text

    # edit: CPL AND BK, previewed then saved
    form = saved.forms["oai-set"]
    assert form.get("field", index=0).value == "952"
    fill_rule(form, 1, "952", "y", "BK", join="and")
    form["name"] = "Books at Centerville"
    preview = form.submit("action", value="preview")
    previewed = int(preview.html.find(id="preview-count").strong.text)
    assert previewed == len(cpl_books)
    assert members(dbsession, row.id) == len(at_cpl)  # still the saved rules' membership
    preview.forms["oai-set"].submit("action", value="save", status=303)
    assert members(dbsession, row.id) == previewed
    rules = dbsession.scalars(select(OaiSetMapping).where(OaiSetMapping.set_id == row.id)
                              .order_by(OaiSetMapping.rule_order)).all()
    assert [(r.marcfield, r.marcsubfield, r.marcvalue, r.rule_operator) for r in rules] == [
        ("952", "a", "CPL", None), ("952", "y", "BK", "and")]

    # the rebuild button produces the same membership the preview announced
    dbsession.execute(OaiSetBiblio.__table__.delete().where(OaiSetBiblio.set_id == row.id))
    dbsession.commit()
    listing = admin.get("/oai-sets")
    listing.forms["rebuild-sets"].submit(status=303).follow()
    assert members(dbsession, row.id) == previewed
    assert "Books at Centerville" in admin.get("/oai-sets").text

    # delete
    set_id = row.id
    admin.get(f"/oai-sets/{set_id}").forms["delete-set"].submit(status=303)
    see_other_writers(dbsession)  # the app deleted the set
    assert dbsession.scalar(select(func.count()).select_from(OaiSet)) == 0
    assert dbsession.scalar(select(func.count()).select_from(OaiSetBiblio)) == 0
    assert "No OAI sets yet." in admin.get("/oai-sets").text


def test_invalid_sets_are_refused_with_the_form_kept(admin, dbsession):
    form = admin.get("/oai-sets/new").forms["oai-set"]
    form["spec"], form["name"] = "bad spec", "Bad"
    refused = form.submit("action", value="save", status=400)
    assert refused.html.find(role="alert") is not None
    assert refused.forms["oai-set"]["spec"].value == "bad spec"
    form = refused.forms["oai-set"]
    form["spec"] = "good"
    fill_rule(form, 0, "952", "", "CPL")  # a data field needs a subfield
    refused = form.submit("action", value="preview", status=400)
    assert "subfield" in refused.html.find(role="alert").text
    form = refused.forms["oai-set"]
    form.set("subfield", "a", index=0)
    form.submit("action", value="save", status=303)
    duplicate = admin.get("/oai-sets/new").forms["oai-set"]
    duplicate["spec"], duplicate["name"] = "good", "Again"
    assert "exists" in duplicate.submit("action", value="save", status=409).text
    see_other_writers(dbsession)  # only the first save was kept
    assert dbsession.scalar(select(func.count()).select_from(OaiSet)) == 1


def test_home_page_lists_the_staff_page(app):
    assert "/oai-sets" in app.get("/").text


def test_preview_across_batches_equals_the_saved_membership(admin, add_records, dbsession, monkeypatch):
    """The rebuild reads records in batches and empties the session between them: the preview
    (rolled back) and the save must still agree."""
    from kohaweb import sets

    monkeypatch.setitem(sets.rebuild.__kwdefaults__, "batch", 4)
    ids = set(add_records(13))
    at = {branch: set(dbsession.scalars(select(Item.biblionumber).where(Item.homebranch == branch)))
          for branch in ("CPL", "MPL")}
    expected = (ids - at["CPL"]) | at["MPL"]  # no item at CPL (none at all included), or one at MPL
    assert 0 < len(expected) < len(ids)
    form = admin.get("/oai-sets/new").forms["oai-set"]
    form["spec"], form["name"] = "elsewhere", "Not only at Centerville"
    fill_rule(form, 0, "952", "a", "CPL", operator="notequal")
    fill_rule(form, 1, "952", "a", "MPL", join="or")
    preview = form.submit("action", value="preview")
    previewed = int(preview.html.find(id="preview-count").strong.text)
    assert previewed == len(expected)
    assert members_of_spec(dbsession, "elsewhere") is None  # nothing saved
    preview.forms["oai-set"].submit("action", value="save", status=303)
    assert members_of_spec(dbsession, "elsewhere") == previewed


def members_of_spec(dbsession, spec: str) -> int | None:
    see_other_writers(dbsession)  # see what the app committed since
    set_id = dbsession.scalar(select(OaiSet.id).where(OaiSet.spec == spec))
    return None if set_id is None else members(dbsession, set_id)
