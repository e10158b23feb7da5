"""kohaweb.routing: the routes a path matches are Pyramid's own, in Pyramid's order."""

from __future__ import annotations

import itertools

import pytest
from pyramid.config import Configurator
from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from pyramid.urldispatch import RoutesMapper

from kohaweb.routing import FirstSegmentRoutesMapper, first_segment

# literal first segments, placeholders first, remainders, the old ":name" syntax, the root, a
# route added twice under one name (replaced), a route predicate, and overlaps that only the
# order of the routes decides
ROUTES = [
    ("root", "/"),
    ("status", "/status/health"),
    ("api_docs", "/api/v1/"),
    ("api_docs_noslash", "api/v1"),
    ("api_biblio", "/api/v1/biblios/{biblio_id}"),
    ("api_biblio_items", "/api/v1/biblios/{biblio_id}/items"),
    ("api_any", "/api/{version}/{rest:.*}"),
    ("sru", "/sru"),
    ("sru_static", "/sru/static/*subpath"),
    ("oai", "/oai"),
    ("by_library", "/{library}/oai"),
    ("old_style", "/:code/items"),
    ("replaced", "/first"),
    ("replaced", "/second"),
    ("post_only", "/post"),
    ("everything", "*anything"),
]
PATHS = ["/", "", "//", "/sru", "/sru/", "//sru", "/sru/static/a/b.css", "/oai", "/CPL/oai", "/CPL/items",
         "/status/health", "/status", "/api", "/api/v1", "/api/v1/", "/api/v1/biblios/7", "/api/v1/biblios/7/items",
         "/api/v2/other/thing", "/first", "/second", "/post", "/nowhere", "/%C3%A9/oai", "/sru%2Fx", "/api/v1/biblios/"]


def _config(mapper: RoutesMapper) -> Configurator:
    config = Configurator()
    config.registry.registerUtility(mapper, IRoutesMapper)
    for name, pattern in ROUTES:
        config.add_route(name, pattern, request_method="POST" if name == "post_only" else None)
        config.commit()  # one at a time: a name added again replaces its route
    return config


def test_every_path_matches_the_route_pyramids_own_mapper_finds():
    ours = FirstSegmentRoutesMapper()
    theirs = RoutesMapper()
    _config(ours)
    _config(theirs)
    assert [r.pattern for r in ours.get_routes()] == [r.pattern for r in theirs.get_routes()]
    for path, method in itertools.product(PATHS, ("GET", "POST")):
        request = Request.blank(path, method=method)
        found, expected = ours(request), theirs(request)
        assert (found["route"] and found["route"].name, found["match"]) == \
            (expected["route"] and expected["route"].name, expected["match"]), (path, method)


def test_a_route_added_after_a_request_is_tried_too():
    mapper = FirstSegmentRoutesMapper()
    config = Configurator()
    config.registry.registerUtility(mapper, IRoutesMapper)
    config.add_route("sru", "/sru")
    config.commit()
    assert mapper(Request.blank("/later"))["route"] is None
    config.add_route("later", "/later")
    config.commit()
    assert mapper(Request.blank("/later"))["route"].name == "later"


def test_the_application_routes_with_it(make_app, monkeypatch):
    used = []
    real = FirstSegmentRoutesMapper.__call__
    monkeypatch.setattr(FirstSegmentRoutesMapper, "__call__", lambda self, request: used.append(1) or real(self, request))
    assert make_app().get("/status/health").status_int == 200
    assert used


@pytest.mark.parametrize(("pattern", "segment"), [
    ("/", ""), ("", ""), ("/sru", "sru"), ("sru/static/*subpath", "sru"), ("/api/v1/", "api"),
    ("/{library}/oai", None), ("/:code/items", None), ("*anything", None), ("/a{b}/c", None),
])
def test_the_first_segment_of_a_pattern(pattern, segment):
    assert first_segment(pattern) == segment
