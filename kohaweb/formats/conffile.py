"""Site-defined formats from a YAML file in Koha's OAI-PMH:ConfFile layout::

    format:
      vs:                          # the entry's key
        metadataPrefix: vs         # advertised AND accepted (Koha accepts the key; here they agree)
        metadataNamespace: http://example.org/vs
        schema: http://example.org/vs.xsd
        xsl_file: /path/vs.xsl     # any XSLT 1.0 applied to the MARCXML; relative to this file
        include_items: 1
        expanded_avs: 1

An entry without ``xsl_file`` reuses the installed format named by its key or prefix (``marcxml``,
``marc21``, ``oai_dc``, ``mods``...) with the entry's names and options; any other entry needs an
``xsl_file``. A stylesheet path that does not exist but names one of Koha's bundled Dublin
Core stylesheets (MARC21slim2OAIDC.xsl, UNIMARCslim2OAIDC.xsl, as in Koha's sample) means "Koha's
Dublin Core": kohaweb's own oai_dc serves it, with the crosswalk of each record's own flavour (a
UNIMARC stylesheet run on a MARC21 record would only produce noise).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import yaml

from ..settings import ConfigError
from .base import MetadataFormat
from .builtin import DC_STYLESHEETS, DublinCoreFormat, XsltFormat
from .xslt import StylesheetError, stylesheet

KEYS = {"metadataPrefix", "metadataNamespace", "schema", "xsl_file", "include_items", "expanded_avs"}
KOHA_STYLESHEETS = {os.path.basename(path): path for path in DC_STYLESHEETS.values()}


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice (YAML keeps the last one silently, so a second
    ``marc21:`` entry would replace the first without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice",
                                                        key_node.start_mark)
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def load(path: str, installed: Mapping[str, MetadataFormat]) -> list[MetadataFormat]:
    """The formats of a conf file; ConfigError naming the file, entry and reason for every problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            document = yaml.load(fh, Loader=_UniqueKeyLoader)  # a SafeLoader: no object tags
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("format"), dict) or not document["format"]:
        raise ConfigError([f"{path}: expected a top-level 'format:' mapping of formats"])
    problems: list[str] = []
    formats: list[MetadataFormat] = []
    seen: dict[str, str] = {}
    for key, entry in document["format"].items():
        where = f"{path}: format {key!r}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping of settings")
            continue
        unknown = set(entry) - KEYS
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                            f"(known: {', '.join(sorted(KEYS))})")
            continue
        prefix = str(entry.get("metadataPrefix") or key).strip()
        if prefix in seen:
            problems.append(f"{where}: metadataPrefix {prefix!r} already used by format {seen[prefix]!r}")
            continue
        seen[prefix] = key
        try:
            formats.append(_format(path, key, prefix, entry, installed))
        except (StylesheetError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise ConfigError(problems)
    return formats


def _first_uri(value: object, suffix: str = "") -> str | None:
    """Koha's sample writes 'namespace schemaLocation' pairs; an anyURI is one token."""
    if value is None:
        return None
    tokens = str(value).split()
    if suffix:
        for token in tokens:
            if token.endswith(suffix):
                return token
    return tokens[0] if tokens else None


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _format(path: str, key: str, prefix: str, entry: dict, installed: Mapping[str, MetadataFormat]) -> MetadataFormat:
    options = {
        "prefix": prefix,
        "include_items": _flag(entry.get("include_items", 0)),
        "expanded_avs": _flag(entry.get("expanded_avs", 0)),
    }
    namespace = _first_uri(entry.get("metadataNamespace"))
    schema = _first_uri(entry.get("schema"), ".xsd")
    if entry.get("xsl_file"):
        xsl = _stylesheet_path(path, str(entry["xsl_file"]))
        if xsl in KOHA_STYLESHEETS.values() and isinstance(installed.get("oai_dc"), DublinCoreFormat):
            return _replace(installed["oai_dc"], namespace, schema, options)
        stylesheet(xsl)  # compile now: a broken stylesheet stops start-up, not a harvest
        if not namespace or not schema:
            raise ValueError("metadataNamespace and schema are required with xsl_file")
        return XsltFormat(namespace=namespace, schema=schema, xsl_file=xsl, sru_names=(prefix,),
                          description=f"{prefix} (site stylesheet {os.path.basename(xsl)})", **options)
    base = installed.get(key) or installed.get(prefix)
    if base is None or not base.is_xml:
        # Koha would run no stylesheet and serve MARCXML under a namespace that is not MARC's
        known = ", ".join(sorted(name for name, fmt in installed.items() if fmt.is_xml))
        raise ValueError(f"no xsl_file, and neither {key!r} nor {prefix!r} is an installed XML format ({known})")
    return _replace(base, namespace, schema, options)


def _replace(base: MetadataFormat, namespace: str | None, schema: str | None, options: dict) -> MetadataFormat:
    """A copy of an installed format under the entry's names and options."""
    replaced = dataclasses.replace(base, **options)
    if namespace:
        replaced.namespace = namespace
    if schema:
        replaced.schema = schema
    return replaced


def _stylesheet_path(conf_path: str, xsl_file: str) -> str:
    resolved = xsl_file if os.path.isabs(xsl_file) else os.path.join(os.path.dirname(os.path.abspath(conf_path)),
                                                                     xsl_file)
    if os.path.exists(resolved):
        return resolved
    bundled = KOHA_STYLESHEETS.get(os.path.basename(xsl_file))
    if bundled:
        return bundled
    raise ValueError(f"stylesheet {xsl_file} does not exist")
