"""Zebra (idzebra-2.0), the SRU server Koha relies on, set up with an index equivalent to
kohaweb's: the DOM filter receives, per record, the same MARC fields per index (from
kohaweb.search.mapping) as the same folded words (kohaweb.search.normalize), plus the MARCXML to
return; CQL maps to those indexes through a pqf.properties like Koha's (string use attributes).
Every index kohaweb keeps is fed, in the registers that hold what kohaweb's rows hold (words :w,
whole fields :p as Koha's Any:p and Title:p, years :n, sort keys :s), so that the register sizes
compare like for like; until December 2026 only the seven queried indexes were fed, as words.
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
from concurrent.futures import ThreadPoolExecutor
from xml.sax.saxutils import escape

from common import folder_size_mb  # bench/ is on sys.path (the benches run from there)

from kohaweb.testing import free_port

Z = "http://indexdata.com/zebra-2.0"
MODULES = "/usr/lib/x86_64-linux-gnu/idzebra-2.0/modules"

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
index.dc.isbn = 1=isbn
index.dc.date = 1=date
set.rec = info:srw/cql-context-set/2/rec-1.0
index.rec.id = 1=recid
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
truncation.left = 5=2
truncation.both = 5=3
truncation.none = 5=100
truncation.z3958 = 5=104
always = 6=1
"""


def write_input(database_url: str, path: str, batch: int = 2000) -> int:
    """Every record, in one file (see ``export``)."""
    return sum(export(database_url, lambda _: path, chunk=None, batch=batch))


def export(database_url: str, chunk_path, chunk: int | None = 50000, batch: int = 2000,
           progress: bool = False) -> Iterator[int]:
    """Every record as <doc><z:record>(index words)</z:record><marc:record/></doc>, streamed: one
    batch of records (keyset-paged on biblionumber, plain rows, no ORM objects) in memory at a time,
    so 1M records export in constant memory. Files of ``chunk`` records (all in one when None),
    named by ``chunk_path(n)``; yields each file's record count once it is complete, so that
    zebraidx can index it while the next one is written."""
    from sqlalchemy import select

    from kohaweb import marc
    from kohaweb.db import make_engine
    from kohaweb.models import Biblio, BiblioMetadata, Item
    from kohaweb.search import mapping, normalize

    engine = make_engine(database_url)
    page = (select(Biblio.biblionumber, Biblio.flavour, BiblioMetadata.metadata_xml)
            .join(BiblioMetadata, BiblioMetadata.biblionumber == Biblio.biblionumber)
            .order_by(Biblio.biblionumber).limit(batch))
    count = in_file = files = 0
    last = 0
    out = None
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            while True:
                rows = conn.execute(page.where(Biblio.biblionumber > last)).all()
                if not rows:
                    break
                items: dict[int, list[dict]] = {}
                for item in conn.execute(select(Item.biblionumber, Item.barcode, Item.homebranch,
                                                Item.holdingbranch, Item.itype)
                                         .where(Item.biblionumber.between(rows[0].biblionumber,
                                                                          rows[-1].biblionumber))):
                    items.setdefault(item.biblionumber, []).append(
                        {"barcode": item.barcode, "homebranch": item.homebranch,
                         "holdingbranch": item.holdingbranch, "itype": item.itype})
                for number, flavour, xml in rows:
                    if out is None:
                        out = open(chunk_path(files), "w", encoding="utf-8", buffering=1 << 20)
                        out.write(f'<collection xmlns:z="{Z}">\n')
                    extracted = mapping.extract(marc.parse_xml(xml), flavour, items.get(number, []))
                    parts = [f'<doc><z:record z:id="{number}">']
                    # every index kohaweb keeps, with what it keeps: a word index also as whole
                    # fields (:p, kohaweb's phrase rows; Koha's Any:w Any:p, Title:w Title:p...),
                    # years also as numbers (:n, kohaweb's range rows). The queries are incomplete
                    # (6=1), so Zebra answers them from :w as before; :p and :n make its register
                    # hold what kohaweb's index holds.
                    for name, texts in extracted.fields.items():
                        for text in texts:
                            words = " ".join(normalize.words(text))
                            if words:
                                parts.append(f'<z:index name="{name}:w {name}:p">{escape(words)}</z:index>')
                    for name, values in extracted.identifiers.items():
                        for value in sorted(values):
                            parts.append(f'<z:index name="{name}:w">{escape(value)}</z:index>')
                    for name, years in extracted.numbers.items():
                        for year in sorted(years):
                            parts.append(f'<z:index name="{name}:n">{year}</z:index>')
                    parts.append(f'<z:index name="recid:w">{number}</z:index>')
                    # sort registers: the keys kohaweb sorts by (folded heading, first year)
                    for zname, key in (("title", normalize.sort_key(extracted.title)),
                                       ("author", normalize.sort_key(extracted.author)),
                                       ("date", str(extracted.year) if extracted.year else None)):
                        if key:
                            parts.append(f'<z:index name="{zname}:s">{escape(key)}</z:index>')
                    parts.append("</z:record>")
                    parts.append(xml)
                    parts.append("</doc>\n")
                    out.write("".join(parts))
                    count += 1
                    in_file += 1
                    if progress and count % 100000 == 0:
                        print(f"zebra: exported {count} records ({count / (time.perf_counter() - started):,.0f}/s)",
                              flush=True)
                    if chunk and in_file == chunk:
                        out.write("</collection>\n")
                        out.close()
                        out = None
                        files += 1
                        yield in_file
                        in_file = 0
                last = rows[-1].biblionumber
        if out is not None or files == 0:
            if out is None:  # an empty catalogue: one empty collection
                out = open(chunk_path(files), "w", encoding="utf-8")
                out.write(f'<collection xmlns:z="{Z}">\n')
            out.write("</collection>\n")
            out.close()
            out = None
            yield in_file
    finally:
        if out is not None:
            out.close()
        engine.dispose()


def _run(command: list[str], folder: str, log_name: str) -> None:
    """zebraidx with its log in a file (at 1M records it is long), shown when it fails."""
    log_path = os.path.join(folder, log_name)
    with open(log_path, "ab") as log:
        start = log.tell()
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        done = subprocess.run(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        with open(log_path, "rb") as log:
            log.seek(start)
            tail = log.read()[-4000:].decode("utf-8", "replace")
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")


@contextlib.contextmanager
def zebra_server(database_url: str, workdir: str | None = None) -> Iterator[str]:
    """Index the catalogue with zebraidx and serve it with zebrasrv; yields the SRU base URL.
    ``workdir`` (default: a temporary folder; $KOHAWEB_ZEBRA_DIR) holds the export and the
    register: about 6 GB per million records."""
    folder = tempfile.mkdtemp(prefix="kohaweb-zebra-", dir=workdir or os.environ.get("KOHAWEB_ZEBRA_DIR"))
    try:
        for name, text in (("dom-conf.xml", DOM_CONF.replace("{dir}", folder)), ("extract.xsl", EXTRACT_XSL),
                           ("marcxml.xsl", MARCXML_XSL), ("pqf.properties", PQF)):
            with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
                fh.write(text)
        os.makedirs(os.path.join(folder, "reg"))
        os.makedirs(os.path.join(folder, "tmp"))
        # memMax: memory for sorting keys before they are merged into the register (Koha ships
        # 50M; more only makes indexing of large catalogues faster, it does not change searching)
        with open(os.path.join(folder, "zebra.cfg"), "w") as fh:
            fh.write(f"profilePath: {folder}:/usr/share/idzebra-2.0/tab\nmodulePath: {MODULES}\n"
                     f"recordType: dom.{folder}/dom-conf.xml\nregister: {folder}/reg:500G\n"
                     f"keyTmpDir: {folder}/tmp\nmemMax: 256M\nisam: b\nattset: bib1.att\n")
        started = time.perf_counter()
        cfg = os.path.join(folder, "zebra.cfg")
        _run(["zebraidx", "-c", cfg, "-d", "biblios", "init"], folder, "zebraidx-init.log")
        # zebraidx indexes each exported file while the next one is written (and deletes it then):
        # the two halves run side by side, and the disk never holds the whole export
        count, exported, indexer, pending = 0, 0.0, ThreadPoolExecutor(1), []

        def index(path: str) -> None:
            _run(["zebraidx", "-c", cfg, "-d", "biblios", "update", path], folder, "zebraidx.log")
            os.remove(path)

        def chunk_path(n: int) -> str:
            return os.path.join(folder, f"records-{n:04d}.xml")

        try:
            for n, records in enumerate(export(database_url, chunk_path, progress=True)):
                count += records
                pending.append(indexer.submit(index, chunk_path(n)))
                unfinished = [job for job in pending if not job.done()]
                for job in pending:
                    if job.done():
                        job.result()  # a failed zebraidx stops the export at once
                if len(unfinished) > 2:  # at most three files waiting on disk
                    unfinished[0].result()
            exported = time.perf_counter() - started
            for job in pending:
                job.result()
        finally:
            indexer.shutdown(cancel_futures=True)
        print(f"zebra: indexed {count} records in {time.perf_counter() - started:.1f} s (export {exported:.1f} s, "
              f"zebraidx alongside)", flush=True)
        register = os.path.join(folder, "reg")
        # the register holds the index (dictionary, ISAM lists) and a copy of every record (rec*)
        print(f"zebra: register {folder_size_mb(register):,.1f} MB, of which stored records "
              f"{folder_size_mb(register, ('rec',)):,.1f} MB", flush=True)
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
