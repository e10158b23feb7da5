"""Plugin routes under /api/v1/contrib/<plugin>/: the example of docs/REST-INTEGRATORS.md,
served by the app, in the one OpenAPI document, validated and authorised like the core's."""

from __future__ import annotations

import sys
import types

import pytest
from pyramid.request import Request
from sqlalchemy import func, select

from kohaweb import plugins
from kohaweb.api import ApiError, contrib_service, path
from kohaweb.models import Biblio, Hold, Item
from kohaweb.testing import basic_auth, selected_backend

# --- the documented example: a plugin "shelfstats" ---------------------------------------------------

stats = contrib_service("shelfstats", "biblio", "/biblios/{biblio_id}/stats",
                        description="Items and holds of a record")
STATS = {"type": "object", "required": ["biblio_id", "items", "holds"], "additionalProperties": False,
         "properties": {"biblio_id": {"type": "integer"}, "items": {"type": "integer"}, "holds": {"type": "integer"}}}


@stats.operation("GET", permission="catalogue", summary="How many items and holds a record has",
                 parameters=[path("biblio_id")], responses={200: STATS})
def record_stats(request: Request):
    biblio_id = request.validated["biblio_id"]
    session = request.dbsession
    if session.get(Biblio, biblio_id) is None:
        raise ApiError(404, "Bibliographic record not found", "not_found")
    count = lambda model: session.scalar(select(func.count()).select_from(model)  # noqa: E731
                                         .where(model.biblionumber == biblio_id))
    return {"biblio_id": biblio_id, "items": count(Item), "holds": count(Hold)}


def includeme(config) -> None:
    config.add_cornice_service(stats)


# -----------------------------------------------------------------------------------------------------

@pytest.fixture
def api(make_app, monkeypatch):
    module = types.ModuleType("kohaweb_shelfstats")
    module.includeme = includeme
    monkeypatch.setitem(sys.modules, module.__name__, module)
    real = plugins.load_service
    monkeypatch.setattr(plugins, "load_service", lambda name: module if name == "shelfstats" else real(name))
    return make_app(services=["shelfstats"], **{"kohaweb.auth.basic": "true"})


def test_contrib_route_is_served_documented_and_guarded(api, staff_user, sample_records):
    ids = sample_records(1)
    cat = basic_auth(*staff_user("cat", "catalogue")[:2])
    got = api.get(f"/api/v1/contrib/shelfstats/biblios/{ids[0]}/stats", headers=cat).json
    assert got["biblio_id"] == ids[0] and got["items"] >= 1 and got["holds"] == 0
    api.get(f"/api/v1/contrib/shelfstats/biblios/{ids[0]}/stats", status=401)
    api.get(f"/api/v1/contrib/shelfstats/biblios/{ids[0]}/stats",
            headers=basic_auth(*staff_user("nobody")[:2]), status=403)
    api.get("/api/v1/contrib/shelfstats/biblios/999999/stats", headers=cat, status=404)
    assert api.get("/api/v1/contrib/shelfstats/biblios/abc/stats", headers=cat, status=400).json["errors"]
    document = api.get("/api/v1/").json
    operation = document["paths"]["/contrib/shelfstats/biblios/{biblio_id}/stats"]["get"]
    assert operation["tags"] == ["contrib:shelfstats"]
    assert operation["x-koha-authorization"] == {"permissions": {"catalogue": "1"}}
    assert "/biblios/{biblio_id}" in document["paths"]  # the core's paths, same document


@pytest.mark.skipif(selected_backend() != "sqlite", reason="no database involved")
def test_contrib_names_are_checked():
    with pytest.raises(ValueError):
        contrib_service("Bad Name", "x", "/x")
    with pytest.raises(ValueError):
        contrib_service("good", "x", "no-slash")
