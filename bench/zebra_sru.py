"""Zebra (idzebra-2.0), the SRU server Koha relies on, set up with an index equivalent to
kohaweb's: the DOM filter receives, per record, the same MARC fields per index (from
kohaweb.search.mapping) as the same folded words (kohaweb.search.normalize), plus the MARCXML to
return; CQL maps to those indexes through a pqf.properties like Koha's (string use attributes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from xml.sax.saxutils import escape

from kohaweb.testing import free_port

Z = "http://indexdata.com/zebra-2.0"
MODULES = "/usr/lib/x86_64-linux-gnu/idzebra-2.0/modules"
INDEXES = {"any": "any", "title": "title", "subject": "subject", "author": "author", "publisher": "publisher",
           "isbn": "isbn"}

DOM_CONF = f"""<?xml version="1.0" encoding="UTF-8"?>
<dom xmlns="{Z}">
  <input><xmlreader level="1"/></input>
  <extract><xslt stylesheet="{{dir}}/extract.xsl"/></extract>
  <retrieve name="marcxml"><xslt stylesheet="{{dir}}/marcxml.xsl"/></retrieve>
</dom>
"""
EXTRACT_XSL = f"""<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:z="{Z}">
  <xsl:template match="/"><xsl:copy-of select="/doc/z:record"/></xsl:template>
</xsl:stylesheet>
"""
MARCXML_XSL = """<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:marc="http://www.loc.gov/MARC21/slim">
  <xsl:template match="/"><xsl:copy-of select="/doc/marc:record"/></xsl:template>
</xsl:stylesheet>
"""
PQF = """set.cql = info:srw/cql-context-set/1/cql-v1.2
set.dc = info:srw/cql-context-set/1/dc-v1.1
set = info:srw/cql-context-set/1/dc-v1.1
index.cql.serverChoice = 1=any
index.dc.title = 1=title
index.dc.subject = 1=subject
index.dc.creator = 1=author
index.dc.author = 1=author
index.dc.publisher = 1=publisher
index.bath.isbn = 1=isbn
relation.< = 2=1
relation.le = 2=2
relation.eq = 2=3
relation.exact = 2=3
relation.ge = 2=4
relation.> = 2=5
relation.<> = 2=6
relation.all = 4=6
relation.any = 4=105
relation.scr = 2=3
position.any = 3=3 6=1
structure.* = 4=1
truncation.right = 5=1
truncation.none = 5=100
always = 6=1
"""


def write_input(database_url: str, path: str) -> int:
    """Every record as <doc><z:record>(index words)</z:record><marc:record/></doc>."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from kohaweb import marc
    from kohaweb.db import make_engine, make_session_factory
    from kohaweb.models import Biblio
    from kohaweb.search import mapping, normalize

    engine = make_engine(database_url)
    session = make_session_factory(engine)()
    count = 0
    last = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(f'<collection xmlns:z="{Z}">\n')
        while True:
            rows = list(session.scalars(select(Biblio).options(selectinload(Biblio.metadata_row),
                                                               selectinload(Biblio.items))
                                        .where(Biblio.biblionumber > last).order_by(Biblio.biblionumber)
                                        .limit(2000)))
            if not rows:
                break
            for biblio in rows:
                record = marc.parse_xml(biblio.metadata_row.metadata_xml)
                items = [{"barcode": i.barcode, "homebranch": i.homebranch, "holdingbranch": i.holdingbranch,
                          "itype": i.itype} for i in biblio.items]
                extracted = mapping.extract(record, biblio.flavour, items)
                out.write(f'<doc><z:record z:id="{biblio.biblionumber}">')
                for name, zname in INDEXES.items():
                    for text in extracted.fields.get(name, []):
                        words = " ".join(normalize.words(text))
                        if words:
                            out.write(f'<z:index name="{zname}:w">{escape(words)}</z:index>')
                    for value in sorted(extracted.identifiers.get(name, ())):
                        out.write(f'<z:index name="{zname}:w">{escape(value)}</z:index>')
                out.write("</z:record>")
                out.write(biblio.metadata_row.metadata_xml)
                out.write("</doc>\n")
                count += 1
            last = rows[-1].biblionumber
            session.expunge_all()
        out.write("</collection>\n")
    session.close()
    engine.dispose()
    return count


@contextlib.contextmanager
def zebra_server(database_url: str) -> Iterator[str]:
    """Index the catalogue with zebraidx and serve it with zebrasrv; yields the SRU base URL."""
    folder = tempfile.mkdtemp(prefix="kohaweb-zebra-")
    try:
        for name, text in (("dom-conf.xml", DOM_CONF.replace("{dir}", folder)), ("extract.xsl", EXTRACT_XSL),
                           ("marcxml.xsl", MARCXML_XSL), ("pqf.properties", PQF)):
            with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
                fh.write(text)
        os.makedirs(os.path.join(folder, "reg"))
        with open(os.path.join(folder, "zebra.cfg"), "w") as fh:
            fh.write(f"profilePath: {folder}:/usr/share/idzebra-2.0/tab\nmodulePath: {MODULES}\n"
                     f"recordType: dom.{folder}/dom-conf.xml\nregister: {folder}/reg:8G\n"
                     "isam: b\nattset: bib1.att\n")
        started = time.perf_counter()
        count = write_input(database_url, os.path.join(folder, "records.xml"))
        cfg = os.path.join(folder, "zebra.cfg")
        subprocess.run(["zebraidx", "-c", cfg, "-d", "biblios", "init"], check=True, cwd=folder,
                       capture_output=True)
        subprocess.run(["zebraidx", "-c", cfg, "-d", "biblios", "update", "records.xml"], check=True, cwd=folder,
                       capture_output=True)
        print(f"zebra: indexed {count} records in {time.perf_counter() - started:.1f} s (export + zebraidx)",
              flush=True)
        port = free_port()
        with open(os.path.join(folder, "yazgfs.xml"), "w") as fh:
            fh.write(f"""<yazgfs><listen id="l">tcp:127.0.0.1:{port}</listen>
<server id="s" listenref="l"><directory>{folder}</directory><config>{cfg}</config>
<cql2rpn>{folder}/pqf.properties</cql2rpn></server></yazgfs>""")
        server = subprocess.Popen(["zebrasrv", "-T", "-f", os.path.join(folder, "yazgfs.xml"), "-l",
                                   os.path.join(folder, "zebrasrv.log")], cwd=folder)
        base = f"http://127.0.0.1:{port}/biblios"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "?operation=explain&version=1.1", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.1)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
