"""The documented oai_dc -> MARC21 / UNIMARC crosswalk produces valid MARCXML."""

from kohaweb_harvester.dublincore import dc_to_marc
from lxml import etree

from kohaweb import marc
from kohaweb.testing import assert_valid

DC = b"""<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>Coral reefs of the world</dc:title><dc:title>Alternative title</dc:title>
<dc:creator>Smith, Anna</dc:creator><dc:creator>Dupont, Pierre</dc:creator>
<dc:subject>Coral reefs</dc:subject><dc:description>A survey.</dc:description>
<dc:publisher>Springer</dc:publisher><dc:date>2014-05-01</dc:date><dc:type>Text</dc:type>
<dc:format>application/pdf</dc:format><dc:identifier>978-3-16-148410-0</dc:identifier>
<dc:identifier>https://example.org/reefs</dc:identifier><dc:identifier>doi:10.1000/182</dc:identifier>
<dc:language>eng</dc:language><dc:rights>CC BY</dc:rights><dc:relation>Part of a series</dc:relation>
<dc:coverage>Pacific</dc:coverage><dc:source>Journal X</dc:source><dc:contributor>Lab Y</dc:contributor>
</oai_dc:dc>"""


def test_marc21_crosswalk(xml_schema):
    record = dc_to_marc(etree.fromstring(DC), "MARC21")
    assert record["245"]["a"] == "Coral reefs of the world"
    assert record["100"]["a"] == "Smith, Anna" and record["700"]["a"] == "Dupont, Pierre"
    assert record["020"]["a"] == "978-3-16-148410-0"
    assert record["856"]["u"] == "https://example.org/reefs"
    assert record["024"]["a"] == "doi:10.1000/182"
    assert record["264"]["b"] == "Springer" and record["264"]["c"] == "2014-05-01"
    assert record["008"].data[7:11] == "2014" and record["008"].data[35:38] == "eng"
    assert marc.detect_flavour(record) == "MARC21"
    assert_valid(xml_schema("MARC21slim"), marc.record_to_xml(record))


def test_unimarc_crosswalk(xml_schema):
    record = dc_to_marc(etree.fromstring(DC), "UNIMARC")
    assert record["200"]["a"] == "Coral reefs of the world"
    assert record["700"]["a"] == "Smith, Anna" and record["701"]["a"] == "Dupont, Pierre"
    assert record["010"]["a"] == "978-3-16-148410-0" and record["210"]["c"] == "Springer"
    assert marc.detect_flavour(record) == "UNIMARC"
    assert marc.summary(record, "UNIMARC")["copyrightdate"] == 2014
    assert_valid(xml_schema("MARC21slim"), marc.record_to_xml(record))
