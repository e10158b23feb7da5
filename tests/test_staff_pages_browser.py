"""The staff pages of issue 21 (OAI sets, harvest sources and runs, index status) in a real
headless Chromium through Playwright, at a desktop (1280×800) and a phone (390×844) size: each
page loads without a console error and without horizontal scrolling; screenshots are saved under
the test's temporary directory for a look by eye."""

from __future__ import annotations

import pytest

from kohaweb.models import OaiSet, OaiSetDescription, OaiSetMapping

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}




@pytest.fixture
def staff_data(dbsession, sample_records):
    """A few records, a set with rules, and a harvest source with a failed run, so that every
    table of the pages has rows (long values included)."""
    from kohaweb_harvester.models import HarvestRun, HarvestSource

    sample_records(3)
    oai_set = OaiSet(spec="library:cpl:books", name="Books held at the Centerville public library")
    oai_set.descriptions.append(OaiSetDescription(description="Every book with an item at CPL"))
    oai_set.mappings.extend([
        OaiSetMapping(rule_order=0, marcfield="952", marcsubfield="a", operator="equal", marcvalue="CPL"),
        OaiSetMapping(rule_order=1, rule_operator="and", marcfield="952", marcsubfield="y", operator="notequal",
                      marcvalue="REF")])
    source = HarvestSource(name="A union catalogue with a long name",
                           base_url="https://union-catalogue.example.org/cgi-bin/koha/oai.pl?some=long&query=string",
                           metadata_prefix="marcxml", sets="books:fiction books:non-fiction", schedule="daily")
    dbsession.add_all([oai_set, source])
    dbsession.flush()
    dbsession.add(HarvestRun(source_id=source.id, status="failed", added=12, updated=3, deleted=1, failed=2,
                             last_error="HTTPSConnectionPool(host='union-catalogue.example.org', port=443): "
                                        "Max retries exceeded with url: /cgi-bin/koha/oai.pl?verb=ListRecords"))
    dbsession.commit()
    return {"set_id": oai_set.id, "source_id": source.id}


def test_staff_pages_render_cleanly(chromium, live_server, staff_user, staff_data, tmp_path):
    userid, password, _ = staff_user("admin", "parameters", "catalogue")
    paths = {"oai-sets": "/oai-sets", "oai-set-new": "/oai-sets/new", "oai-set": f"/oai-sets/{staff_data['set_id']}",
             "harvest-sources": "/harvest-sources", "harvest-source": f"/harvest-sources/{staff_data['source_id']}",
             "index-status": "/index-status"}
    problems = []
    errors: list[str] = []  # console errors and uncaught exceptions of the page being checked
    with live_server(services=["oai", "harvester"]) as base:
        for size, viewport in VIEWPORTS.items():
            context = chromium.new_context(base_url=base, viewport=viewport)
            page = context.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto("/login")
            page.get_by_label("Username or card number").fill(userid)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base}/")
            for name, path in paths.items():
                errors.clear()
                response = page.goto(path)
                assert response is not None and response.status == 200, (name, size)
                page.screenshot(path=str(tmp_path / f"{name}-{size}.png"), full_page=True)
                widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                if widths[0] > widths[1]:
                    problems.append(f"{name} at {size}: {widths[0]} px wide in a {widths[1]} px window")
                if errors:
                    problems.append(f"{name} at {size}: console errors {errors}")
                assert page.get_by_role("heading", level=1).count() == 1, (name, size)
            context.close()
    assert not problems, "\n".join(problems)
    assert len(list(tmp_path.glob("*.png"))) == len(paths) * len(VIEWPORTS)
