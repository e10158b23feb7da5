"""Bibliographic searches that also find records through the see-from forms of authorities.

Koha's system preference ``IncludeSeeFromInSearches`` (off by default, as in Koha) makes a search
for a variant form of a name or subject ("Clemens, Samuel") find the records under its
authorised heading ("Twain, Mark"). Koha does it when indexing (Koha::Filter::MARC::
EmbedSeeFromHeadings copies the 4XX of each linked authority into the record indexed); kohaweb
does it when searching, so turning the preference on or off needs no re-indexing:

``expand(session, node)`` rewrites each clause on a name or subject index (and ``any``): the
clause's term is looked up in the authorities' ``see-from`` index with the same relation, and for
each authority found (at most ``MAX_AUTHORITIES``, of the types the index holds) the clause is
OR-ed with its authorised heading searched as adjacent words in the same bibliographic index.

A difference from Koha, on purpose: the expanded clause finds records carrying the authorised
heading whether or not their heading is linked ($9), as a reader would expect.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Authority
from ..preferences import get_preference
from . import authority_index
from .query_tree import Boolean, Clause, Node, QueryError
from .state import SEE_FROM_PREFERENCE, preference_on

PREFERENCE = SEE_FROM_PREFERENCE
MAX_AUTHORITIES = 50  # authorities one clause may expand to (a very common variant word stays cheap)

NAMES = frozenset({"PERSO_NAME", "CORPO_NAME", "MEETI_NAME", "NP", "CO", "FAM"})
# bibliographic index -> the authority types whose headings it holds (None: every type)
INDEX_TYPES: dict[str, frozenset[str] | None] = {
    "author": NAMES, "name": NAMES, "pname": frozenset({"PERSO_NAME", "NP"}),
    "cname": frozenset({"CORPO_NAME", "CO"}), "confname": frozenset({"MEETI_NAME", "CO"}),
    "uniformtitle": frozenset({"UNIF_TITLE", "TU"}), "topical": frozenset({"TOPIC_TERM", "SNC"}),
    "geographic": frozenset({"GEOGR_NAME", "SNG"}), "genre": frozenset({"GENRE/FORM"}),
    "subject": None, "any": None,
}
RELATIONS = frozenset({"=", "adj", "all", "any", "exact", "=="})


def enabled(session: Session) -> bool:
    """Whether ``IncludeSeeFromInSearches`` is on (Koha's values: 1 on, 0 or absent off)."""
    return preference_on(get_preference(session, PREFERENCE, "0"))


def expand(session: Session, node: Node) -> Node:
    """``node`` with its name and subject clauses also matching the authorised headings of the
    authorities that have the clause's term as a see-from form."""
    if isinstance(node, Boolean):
        if node.op == "prox":
            return node  # proximity compares word positions of the clauses as written
        left, right = expand(session, node.left), expand(session, node.right)
        if left is node.left and right is node.right:
            return node
        return Boolean(node.op, left, right, node.distance, node.comparison, node.ordered)
    if node.index not in INDEX_TYPES or node.relation not in RELATIONS or node.modifiers:
        return node
    headings = _authorised_headings(session, node, INDEX_TYPES[node.index])
    expanded: Node = node
    for heading in headings:
        expanded = Boolean("or", expanded, Clause(node.index, "adj", heading))
    return expanded


def _authorised_headings(session: Session, clause: Clause, types: frozenset[str] | None) -> list[str]:
    relation = "exact" if clause.relation == "==" else clause.relation
    try:
        found = authority_index.search(session, Clause("see-from", relation, clause.term),
                                       limit=MAX_AUTHORITIES * 4).ids
    except QueryError:
        return []  # what the see-from index cannot answer is answered without it
    if not found:
        return []
    rows = session.execute(select(Authority.authid, Authority.authtypecode, Authority.heading)
                           .where(Authority.authid.in_(found)).order_by(Authority.authid))
    headings = [heading for _, code, heading in rows if heading and (types is None or code in types)]
    return list(dict.fromkeys(headings))[:MAX_AUTHORITIES]
