"""/metrics: request counters, latency histograms and errors per service and operation with
bounded labels, scrape-time gauges (pool, database, search index), and who may read it."""

from __future__ import annotations

import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kohaweb.app import make_app as build_app
from kohaweb.testing import basic_auth, make_settings
from kohaweb.testing_outage import outage_engine

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
SERVICES = ["oai", "sru", "ilsdi", "status"]


def scrape(app, **environ) -> dict:
    """The parsed scrape: {metric family name: family}."""
    response = app.get("/metrics", extra_environ={**LOCAL, **environ})
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(families: dict, family: str, sample: str | None = None) -> dict[tuple, float]:
    """{sorted label items: value} of one family's samples named ``sample`` (default: the family's own)."""
    wanted = sample or family
    return {tuple(sorted(s.labels.items())): s.value for s in families[family].samples if s.name == wanted}


def labels(**values: str) -> tuple:
    return tuple(sorted(values.items()))


def test_requests_are_counted_per_service_operation_method_and_status(make_app, staff_user):
    userid, password, _ = staff_user("librarian", "catalogue")
    app = make_app(services=SERVICES, **{"kohaweb.auth.basic": "true"})
    for _ in range(2):
        app.get("/cgi-bin/koha/oai.pl", {"verb": "Identify"})
    app.post("/oai", {"verb": "ListMetadataFormats"})  # a form body the view parsed
    app.get("/sru", {"version": "1.1", "operation": "explain"})
    app.get("/sru", {"version": "1.1"})  # SRU answers explain when no operation is named
    app.get("/api/v1/libraries", headers=basic_auth(userid, password))
    app.get("/api/v1/public/biblios/999999", status=404)
    app.get("/status")
    app.get("/no/such/page", status=404)

    families = scrape(app)
    counts = samples(families, "kohaweb_requests", "kohaweb_requests_total")
    assert counts[labels(service="oai", operation="Identify", method="GET", status="200")] == 2
    assert counts[labels(service="oai", operation="ListMetadataFormats", method="POST", status="200")] == 1
    assert counts[labels(service="sru", operation="explain", method="GET", status="200")] == 2
    assert counts[labels(service="api", operation="libraries", method="GET", status="200")] == 1
    assert counts[labels(service="api", operation="public_biblio", method="GET", status="404")] == 1
    assert counts[labels(service="status", operation="status", method="GET", status="200")] == 1
    assert counts[labels(service="unmatched", operation="none", method="GET", status="404")] == 1
    assert sum(counts.values()) == 9  # the scrape itself is counted once it has been answered

    # the histogram: cumulative buckets ending in +Inf, whose count is the number of requests
    buckets = {s.labels["le"]: s.value for s in families["kohaweb_request_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["service"] == "oai"
               and s.labels["operation"] == "Identify"}
    assert {"0.005", "0.1", "1.0", "60.0", "+Inf"} <= set(buckets)
    ordered = [buckets[le] for le in sorted(buckets, key=lambda le: float(le))]
    assert ordered == sorted(ordered) and ordered[-1] == 2
    count = samples(families, "kohaweb_request_duration_seconds", "kohaweb_request_duration_seconds_count")
    assert count[labels(service="oai", operation="Identify")] == 2
    total = samples(families, "kohaweb_request_duration_seconds", "kohaweb_request_duration_seconds_sum")
    assert total[labels(service="oai", operation="Identify")] > 0
    assert samples(families, "kohaweb_request_errors", "kohaweb_request_errors_total") == {}

    # the next scrape counts the previous one
    again = samples(scrape(app), "kohaweb_requests", "kohaweb_requests_total")
    assert again[labels(service="metrics", operation="metrics", method="GET", status="200")] == 1


def test_protocol_errors_answered_with_200_are_counted_by_code(make_app):
    app = make_app(services=SERVICES)
    app.get("/oai", {"verb": "GetRecord", "identifier": "oai:nowhere:1", "metadataPrefix": "marcxml"})
    app.get("/oai", {"verb": "ListRecords", "metadataPrefix": "no_such_format"})
    app.get("/oai", {"verb": "ListRecords"})  # metadataPrefix missing
    app.get("/oai", {"verb": "Identify"})  # no error
    app.get("/sru", {"version": "1.1", "operation": "searchRetrieve", "query": "title="})  # syntax error
    app.get("/sru", {"version": "1.1", "operation": "searchRetrieve", "query": "dc.title=x",
                     "recordSchema": "nonesuch"})
    app.get("/sru", {"version": "1.1", "operation": "searchRetrieve", "query": "dc.title=x",
                     "recordSchema": "nonesuch"})

    errors = samples(scrape(app), "kohaweb_protocol_errors", "kohaweb_protocol_errors_total")
    assert errors[labels(service="oai", operation="GetRecord", code="idDoesNotExist")] == 1
    assert errors[labels(service="oai", operation="ListRecords", code="cannotDisseminateFormat")] == 1
    assert errors[labels(service="oai", operation="ListRecords", code="badArgument")] == 1
    assert errors[labels(service="sru", operation="searchRetrieve", code="10")] == 1  # query syntax error
    assert errors[labels(service="sru", operation="searchRetrieve", code="66")] == 2  # unknown schema
    assert len(errors) == 5


def test_protocol_error_codes_stay_bounded(make_app):
    from kohaweb import metrics as metrics_module

    app = make_app(services=SERVICES)
    metrics = app.app.registry.kohaweb_metrics
    request = type("R", (), {"environ": {}, "matched_route": None, "method": "GET"})()
    for n in range(metrics_module.MAX_ERROR_CODES + 10):
        metrics_module.note_protocol_error(request, f"code{n}")
    metrics_module.note_protocol_error(request, "not a plain <code>")
    metrics.observe(request, 200, 0.001)
    errors = samples(scrape(app), "kohaweb_protocol_errors", "kohaweb_protocol_errors_total")
    codes = {dict(key)["code"]: value for key, value in errors.items()}
    assert len(codes) == metrics_module.MAX_ERROR_CODES + 1
    assert codes["other"] == 11


@pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")  # webtest's lint; the method is the point
def test_values_clients_make_up_are_labelled_other(make_app):
    app = make_app(services=SERVICES, **{"ilsdi.authorized_ips": "127.0.0.1"})
    for n in range(20):  # many distinct made-up values must not make many series
        app.get("/oai", {"verb": f"Bogus{n}"})
        app.get("/sru", {"version": "1.1", "operation": f"drop-{n}"})
        app.get("/ilsdi", {"service": f"Nope{n}"}, extra_environ=LOCAL, expect_errors=True)
    app.get("/oai")  # no verb at all
    app.request("/oai?verb=Identify", method="BREW", expect_errors=True)
    app.get("/ilsdi", {"service": "GetAvailability", "id": "1", "id_type": "bib"}, extra_environ=LOCAL)

    counts = samples(scrape(app), "kohaweb_requests", "kohaweb_requests_total")
    by_service: dict[str, set[str]] = {}
    for key, value in counts.items():
        label = dict(key)
        by_service.setdefault(label["service"], set()).add(label["operation"])
        if label["service"] == "oai" and label["method"] == "GET":
            assert label["operation"] == "other" and value == 21
    assert by_service["oai"] == {"other", "Identify"}
    assert by_service["sru"] == {"other"}
    assert by_service["ilsdi"] == {"other", "GetAvailability"}
    assert sum(v for k, v in counts.items() if dict(k)["service"] == "sru") == 20
    brewed = [dict(k) for k in counts if dict(k)["method"] != "GET"]
    assert brewed == [{"service": "oai", "operation": "Identify", "method": "other",
                       "status": brewed[0]["status"]}]


def test_server_errors_are_counted_and_gauges_say_what_the_database_does_not(tmp_path):
    # an unmigrated database answers, but its tables are missing: requests get 503
    settings = make_settings(f"sqlite:///{tmp_path}/empty.sqlite", services=["status"],
                             **{"kohaweb.auth.basic": "true"})
    app = webtest.TestApp(build_app(settings))
    app.get("/api/v1/biblios", headers={"Authorization": "Basic a29oYTprb2hh"}, status=503)
    families = scrape(app)
    errors = samples(families, "kohaweb_request_errors", "kohaweb_request_errors_total")
    assert errors == {labels(service="api", operation="biblios"): 1}
    counts = samples(families, "kohaweb_requests", "kohaweb_requests_total")
    assert counts[labels(service="api", operation="biblios", method="GET", status="503")] == 1
    assert samples(families, "kohaweb_database_up") == {(): 1}
    assert "kohaweb_search_index_status" not in families  # no index tables yet: nothing made up


def test_database_up_follows_an_outage(database_url, clean_db, tmp_path):
    with outage_engine(database_url, tmp_path) as (engine, cut, restore):
        app = webtest.TestApp(build_app(make_settings(database_url), engine=engine))
        assert samples(scrape(app), "kohaweb_database_up") == {(): 1}
        cut()
        down = scrape(app)
        assert samples(down, "kohaweb_database_up") == {(): 0}
        assert "kohaweb_search_index_pending_segments" not in down
        assert "kohaweb_db_pool_checked_out" in down  # the pool is read without the database
        restore()
        assert samples(scrape(app), "kohaweb_database_up") == {(): 1}


def test_index_and_pool_gauges(make_app, sample_records, engine):
    from kohaweb.db import for_reading
    from kohaweb.reader_connections import kept_connections
    from kohaweb.search import state, tables

    sample_records(3)
    app = make_app(services=[])
    families = scrape(app)
    assert samples(families, "kohaweb_catalogue_records") == {(): 3}
    assert samples(families, "kohaweb_search_index_records") == {(): 3}
    assert samples(families, "kohaweb_search_index_status") == {
        labels(status="ready"): 1, labels(status="rebuilding"): 0, labels(status="stale"): 0}
    with Session(engine) as session:
        pending = session.execute(select(func.count()).select_from(tables.segments)).scalar()
    assert samples(families, "kohaweb_search_index_pending_segments") == {(): pending}
    assert samples(families, "kohaweb_db_pool_size")[()] >= 1
    assert samples(families, "kohaweb_db_pool_checked_out")[()] >= 0
    pools = {id(engine.pool): engine.pool, id(for_reading(engine).pool): for_reading(engine).pool}
    # every pool of the site counted (on MariaDB its readers have their own, kohaweb.db.for_reading)
    assert samples(families, "kohaweb_db_pool_size")[()] == sum(pool.size() for pool in pools.values())
    # the read-only requests' connections the serving threads keep (kohaweb.reader_connections)
    assert samples(families, "kohaweb_db_kept_reader_connections")[()] == kept_connections(engine)

    with Session(engine) as session, session.begin():
        state.set_status(session, state.REBUILDING)
    try:
        status = samples(scrape(app), "kohaweb_search_index_status")
        assert status[labels(status="rebuilding")] == 1 and status[labels(status="ready")] == 0
    finally:
        with Session(engine) as session, session.begin():
            state.set_status(session, state.READY)


def test_only_allowed_addresses_and_staff_may_read_it(make_app, staff_user):
    admin, admin_password, _ = staff_user("admin", "parameters")
    clerk, clerk_password, _ = staff_user("clerk", "circulate")
    app = make_app(services=[], **{"kohaweb.auth.basic": "true", "kohaweb.metrics.allow": "::1 10.0.0.0/8"})
    assert app.get("/metrics", extra_environ={"REMOTE_ADDR": "10.1.2.3"}).status_int == 200
    assert app.get("/metrics", extra_environ={"REMOTE_ADDR": "::1"}).status_int == 200
    refused = app.get("/metrics", extra_environ={"REMOTE_ADDR": "203.0.113.9"}, status=403)
    assert "kohaweb_requests_total" not in refused.text
    app.get("/metrics", extra_environ=LOCAL, status=403)  # not in this site's list
    app.get("/metrics", status=403)  # no address at all
    # a proxy on an allowed address forwarding someone else's request (even one it forged)
    for header in ({"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "10.0.0.1, 203.0.113.9"},
                   {"X-Real-IP": "203.0.113.9"}, {"Forwarded": 'for="[2001:db8::1]:4711"'},
                   {"X-Forwarded-For": "unknown"}):
        app.get("/metrics", headers=header, extra_environ={"REMOTE_ADDR": "10.0.0.2"}, status=403)
    assert app.get("/metrics", headers={"X-Forwarded-For": "10.9.9.9"},
                   extra_environ={"REMOTE_ADDR": "10.0.0.2"}).status_int == 200
    # staff who look after the site may read it from anywhere; others may not
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert app.get("/metrics", headers=basic_auth(admin, admin_password), extra_environ=outside).status_int == 200
    app.get("/metrics", headers=basic_auth(clerk, clerk_password), extra_environ=outside, status=403)
    app.get("/metrics", headers=basic_auth(admin, "wrong password"), extra_environ=outside, status=403)


def test_disabled_and_misconfigured(make_app):
    from kohaweb.settings import ConfigError

    app = make_app(services=[], **{"kohaweb.metrics.enabled": "false"})
    app.get("/metrics", extra_environ=LOCAL, status=404)
    with pytest.raises(ConfigError) as raised:
        make_app(services=[], **{"kohaweb.metrics.allow": "127.0.0.1 localhost"})
    assert raised.value.problems == ["kohaweb.metrics.allow: 'localhost' is not an address or network"]


def test_each_app_has_its_own_registry(make_app):
    first, second = make_app(services=["oai"]), make_app(services=["oai"])
    first.get("/oai", {"verb": "Identify"})
    counts = samples(scrape(second), "kohaweb_requests", "kohaweb_requests_total")
    assert not any(dict(k)["service"] == "oai" for k in counts)
    counts = samples(scrape(first), "kohaweb_requests", "kohaweb_requests_total")
    assert counts[labels(service="oai", operation="Identify", method="GET", status="200")] == 1
