"""XSLT stylesheets compiled once per process and shared.

An lxml ``XSLT`` object may be called from several threads at once (each call makes its own
transformation context), so one compiled stylesheet serves every waitress thread.
"""

from __future__ import annotations

import threading

from lxml import etree

_compiled: dict[str, etree.XSLT] = {}
# a site stylesheet may read local files (document()) but neither write nor reach the network
_ACCESS = etree.XSLTAccessControl(read_file=True, write_file=False, create_dir=False, read_network=False,
                                  write_network=False)
_lock = threading.Lock()


class StylesheetError(ValueError):
    pass


def stylesheet(path: str) -> etree.XSLT:
    found = _compiled.get(path)
    if found is None:
        with _lock:
            found = _compiled.get(path)
            if found is None:
                found = _compiled[path] = compile_stylesheet(path)
    return found


def compile_stylesheet(path: str) -> etree.XSLT:
    try:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        return etree.XSLT(etree.parse(path, parser), access_control=_ACCESS)
    except OSError as exc:
        raise StylesheetError(f"cannot read stylesheet {path}: {exc}") from None
    except (etree.XMLSyntaxError, etree.XSLTParseError) as exc:
        raise StylesheetError(f"stylesheet {path} does not compile: {exc}") from None
