"""Resumption tokens across a rotation of the site secret (kohaweb.previous_secrets)."""

from __future__ import annotations

from kohaweb.testing import TEST_SECRET

NEW = "new-secret-fedcba9876543210fedcba9876543210"


def test_token_issued_before_a_rotation_is_honoured_until_the_secret_is_dropped(oai_app, sample_records, clock,
                                                                                oai_get, oai):
    sample_records(5)
    clock.tick(5)
    first = oai_get(oai_app(**{"oai.max_count": "2"}), verb="ListIdentifiers", metadataPrefix="oai_dc")
    token = oai.token_of(first).text
    rotated = oai_app(**{"oai.max_count": "2", "kohaweb.secret": NEW, "kohaweb.previous_secrets": TEST_SECRET})
    second = oai_get(rotated, verb="ListIdentifiers", resumptionToken=token)
    assert oai.error_codes(second) == [] and len(oai.identifiers(second)) == 2
    # the rotated site signs its own tokens with the new secret only
    following = oai.token_of(second).text
    dropped = oai_app(**{"oai.max_count": "2", "kohaweb.secret": NEW})
    assert oai.error_codes(oai_get(dropped, verb="ListIdentifiers", resumptionToken=token)) == ["badResumptionToken"]
    third = oai_get(dropped, verb="ListIdentifiers", resumptionToken=following)
    assert oai.error_codes(third) == [] and len(oai.identifiers(third)) == 1
