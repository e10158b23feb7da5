"""MARC handling used by every service, as one namespace (``from kohaweb import marc``):

- ``kohaweb.marc.records``: MARCXML in and out, flavour detection, the denormalised summary
  stored beside each record, and embedding items (952/995);
- ``kohaweb.marc.files``: reading ISO 2709 and MARCXML files, whole or as raw records for
  worker processes, and the checks a record passes before it is stored.

Records are pymarc ``Record`` objects; storage is MARCXML text in the slim namespace.
"""

from .files import ReadResult, read_bytes, read_one, read_raw_records, read_records, validate
from .records import (
                      ITEM_SUBFIELDS,
                      MARC21,
                      MARC_NS,
                      UNIMARC,
                      MarcError,
                      TagIndex,
                      all_values,
                      detect_flavour,
                      element_to_record,
                      embed_items,
                      first,
                      item_tag,
                      parse_xml,
                      record_to_element,
                      record_to_xml,
                      record_xml_text,
                      strip_items,
                      strip_punctuation,
                      summary,
)

__all__ = [
    "ITEM_SUBFIELDS", "MARC21", "MARC_NS", "UNIMARC", "MarcError", "ReadResult", "TagIndex", "all_values",
    "detect_flavour", "element_to_record", "embed_items", "first", "item_tag", "parse_xml", "read_bytes",
    "read_one", "read_raw_records", "read_records", "record_to_element", "record_to_xml", "record_xml_text",
    "strip_items", "strip_punctuation", "summary", "validate",
]
