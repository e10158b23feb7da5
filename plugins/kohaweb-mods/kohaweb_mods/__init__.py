"""MODS 3.7 from MARC21: a third-party metadata format, installed separately and added with one
entry-point line (``kohaweb.formats: mods = kohaweb_mods:mods``). Once installed it is offered
as OAI-PMH ``metadataPrefix=mods``, SRU ``recordSchema=mods`` and REST ``application/mods+xml``.

The mapping follows the Library of Congress MARC to MODS facts for the common fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from kohaweb.plugin_api import MetadataFormat, RecordSource

from .crosswalk import MODS_NS, marc_to_mods


@dataclass
class ModsFormat(MetadataFormat):
    def render(self, source: RecordSource):
        self.check(source)
        return marc_to_mods(source.record())


mods = ModsFormat("mods", MODS_NS, "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd", sru_names=("mods",),
                  sru_uri="info:srw/schema/1/mods-v3.7", media_type="application/mods+xml",
                  flavours=frozenset({"MARC21"}), description="MODS 3.7 (from MARC21)")
