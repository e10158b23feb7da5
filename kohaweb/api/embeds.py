"""Koha's ``x-koha-embed`` header: related objects inside the answer.

The header lists embed names, comma separated (the header may also be repeated): ``item``
embeds the checkout's item, ``item.biblio`` the item's record inside it, ``holds+count`` adds
``holds_count`` (the number, not the rows), ``+strings`` adds ``_strings`` (descriptions of the
coded fields: library names, item type and patron category descriptions, authorised values) and
``item+strings`` does the same inside the embedded item. A name the resource does not offer is
refused with 400, as Koha refuses values outside the header's enum.

Resources declare what they embed with ``Embed`` objects (the target resource is looked up
lazily: resources embed each other) and ``strings`` (field name -> kind).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import ApiError

if TYPE_CHECKING:
    from .listing import Resource

HEADER = "x-koha-embed"


@dataclass(frozen=True)
class Embed:
    """One embeddable relation. ``load(session, row)`` gives the related row (or None), or the
    list of rows when ``many``; ``target()`` names their resource. ``value(session, row)`` instead
    gives a plain JSON value (e.g. a balance) and then ``target`` is not used."""

    name: str
    target: Callable[[], Resource] | None = None
    load: Callable[[Session, Any], Any] | None = None
    many: bool = False
    value: Callable[[Session, Any], Any] | None = None
    value_schema: dict[str, Any] | None = None
    # the SQL condition joining the target's model to the embedding one (``q`` filters on
    # dotted names such as ``item.external_id`` become EXISTS subqueries on it)
    link: Callable[[], Any] | None = None

    def schema(self) -> dict[str, Any]:
        if self.value is not None:
            return self.value_schema or {}
        if self.many:
            return {"type": "array", "items": {"type": "object"}}
        return {"type": ["object", "null"]}


def resource_of(module: str, name: str) -> Callable[[], Resource]:
    """A resource of ``kohaweb.api.resources.<module>``, looked up when first embedded (resources
    embed each other, so their modules cannot import each other at import time)."""
    def target() -> Resource:
        from importlib import import_module

        return getattr(import_module(f"kohaweb.api.resources.{module}"), name)
    return target


@dataclass
class EmbedTree:
    """A parsed header: embedded relations (each with its own tree), counts and strings."""

    children: dict[str, EmbedTree] = field(default_factory=dict)
    counts: list[str] = field(default_factory=list)
    strings: bool = False


def refuse(name: str) -> ApiError:
    return ApiError(400, f"Embedding {name!r} is not allowed on this endpoint", "invalid_embed",
                    errors=[{"path": f"/headers/{HEADER}", "message": f"Not in enum list: {name}"}])


def parse(resource: Resource, header: str | None) -> EmbedTree | None:
    """The tree of ``header`` for ``resource``; None when nothing is asked for."""
    if header is None or not header.strip():
        return None
    tree = EmbedTree()
    for raw in header.split(","):
        name = raw.strip()
        if not name:
            continue
        _add(resource, tree, name, name)
    return tree


def _add(resource: Resource, tree: EmbedTree, name: str, whole: str) -> None:
    if name == "+strings":
        if not resource.strings:
            raise refuse(whole)
        tree.strings = True
        return
    head, dot, rest = name.partition(".")
    suffix = None
    for marker in ("+count", "+strings"):
        if not dot and head.endswith(marker) and head != marker:
            head, suffix = head[: -len(marker)], marker
    embed = resource.embed_named(head)
    if embed is None:
        raise refuse(whole)
    if suffix == "+count":
        if not embed.many:
            raise refuse(whole)
        if head not in tree.counts:
            tree.counts.append(head)
        return
    child = tree.children.setdefault(head, EmbedTree())
    if embed.value is not None:
        if dot or suffix:
            raise refuse(whole)
        return
    if suffix == "+strings":
        _add(embed.target(), child, "+strings", whole)
    elif dot:
        _add(embed.target(), child, rest, whole)


def render(resource: Resource, session: Session, row: Any, tree: EmbedTree | None) -> dict[str, Any]:
    """The API object of ``row`` with what ``tree`` embeds."""
    data = resource.to_api(row)
    if tree is None:
        return data
    for name, child in tree.children.items():
        embed = resource.embed_named(name)
        if embed.value is not None:
            data[name] = embed.value(session, row)
            continue
        related = embed.load(session, row)
        target = embed.target()
        if embed.many:
            data[name] = [render(target, session, r, child) for r in related]
        else:
            data[name] = None if related is None else render(target, session, related, child)
    for name in tree.counts:
        data[f"{name}_count"] = len(resource.embed_named(name).load(session, row))
    if tree.strings:
        data["_strings"] = strings(resource, session, data)
    return data


def strings(resource: Resource, session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """Koha's ``_strings``: for each coded field with a value, its description and kind."""
    from ..models import AuthorisedValue, ItemType, Library, PatronCategory

    result: dict[str, Any] = {}
    for name, kind in resource.strings.items():
        value = data.get(name)
        if value is None or value == "":
            continue
        if kind == "library":
            text = session.scalar(select(Library.branchname).where(Library.branchcode == str(value)))
            result[name] = {"str": text if text is not None else str(value), "type": "library"}
        elif kind == "item_type":
            text = session.scalar(select(ItemType.description).where(ItemType.itemtype == str(value)))
            result[name] = {"str": text if text is not None else str(value), "type": "item_type"}
        elif kind == "patron_category":
            text = session.scalar(select(PatronCategory.description)
                                  .where(PatronCategory.categorycode == str(value)))
            result[name] = {"str": text if text is not None else str(value), "type": "patron_category"}
        elif kind.startswith("av:"):
            category = kind[3:]
            text = session.scalar(select(AuthorisedValue.lib).where(AuthorisedValue.category == category)
                                  .where(AuthorisedValue.authorised_value == str(value)).limit(1))
            result[name] = {"category": category, "str": text if text is not None else str(value), "type": "av"}
    return result


def header_param_description(resource: Resource) -> str:
    names = [e.name for e in resource.embeds]
    names += [f"{e.name}+count" for e in resource.embeds if e.many]
    if resource.strings:
        names.append("+strings")
    return ("Related objects to embed, comma separated (dotted names embed inside an embedded object): "
            + ", ".join(names))
