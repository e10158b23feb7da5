"""The CQL parser on the examples of the CQL 1.2 specification, and its translation."""

from __future__ import annotations

import pytest
from kohaweb_sru import cql, translate
from kohaweb_sru.diagnostics import Diagnostic

from kohaweb import search

# Examples from https://www.loc.gov/standards/sru/cql/spec.html (and the CQL tutorial).
SPEC_EXAMPLES = [
    'dinosaur',
    '"complete dinosaur"',
    'title = "complete dinosaur"',
    'title exact "the complete dinosaur"',
    'dinosaur or bird',
    '"Palomar assignment" and "ice age"',
    'dinosaur not reptile',
    'dinosaur and bird or dinobird',
    '(bird or dinosaur) and (feathers or scales)',
    '"feathered dinosaur" and (yixian or jehol)',
    'lengthOfFemur > 2.4',
    'bioMass >= 100',
    'dc.title any "dinosaur bird reptile"',
    'dc.title all "complete dinosaur"',
    'title =/relevant "complete dinosaur"',
    'dc.title any/relevant/rel.CORI "dinosaur bird reptile"',
    'dc.title any/rel.algorithm=cori "dinosaur bird reptile"',
    '> dc = "info:srw/cql-context-set/1/dc-v1.1" dc.title any fish',
    '> "http://zing.z3950.org/cql/bath/2.0/" name = smith',
    'ribs prox/distance<=5 chevrons',
    'ribs prox/unit=sentence chevrons',
    'ribs prox/distance>0/unit=paragraph chevrons',
    'dinosaur sortBy dc.date/sort.descending dc.title/sort.ascending',
    'cat*',
    '"\\"Hello\\""',
    'dc.date within "1995 1997"',
    'dc.title == "the complete dinosaur"',
    'dc.title <> dinosaur',
    'cql.serverChoice adj "complete dinosaur"',
    '(> dc = "info:srw/cql-context-set/1/dc-v1.1" dc.title = fish) or cql.allRecords = 1',
    'ANDREW and ORDER',
    'a AND b Or c nOt d',
]


@pytest.mark.parametrize("text", SPEC_EXAMPLES)
def test_spec_examples_parse_and_round_trip(text):
    query = cql.parse(text)
    again = cql.parse(query.to_cql())
    assert again.to_cql() == query.to_cql()


def test_tree_shapes():
    q = cql.parse("dinosaur and bird or dinobird")
    assert q.root.op == "or" and q.root.left.op == "and"  # left to right, no precedence
    q = cql.parse("(bird or dinosaur) and (feathers or scales)")
    assert q.root.op == "and" and q.root.left.op == "or" and q.root.right.op == "or"
    q = cql.parse("dc.title any/relevant/rel.CORI \"dinosaur bird reptile\"")
    assert q.root.index == "dc.title" and q.root.relation.value == "any"
    assert [m.name for m in q.root.relation.modifiers] == ["relevant", "rel.CORI"]
    assert q.root.term == "dinosaur bird reptile"
    q = cql.parse("ribs prox/distance<=5/unit=word chevrons")
    assert q.root.modifiers == (cql.Modifier("distance", "<=", "5"), cql.Modifier("unit", "=", "word"))
    q = cql.parse("dinosaur sortBy dc.date/sort.descending dc.title")
    assert [s.index for s in q.sort] == ["dc.date", "dc.title"]
    assert q.sort[0].modifiers[0].name == "sort.descending"
    q = cql.parse('> dc = "info:srw/cql-context-set/1/dc-v1.1" dc.title = fish')
    assert q.root.prefixes == {"dc": "info:srw/cql-context-set/1/dc-v1.1"}
    assert cql.parse('"a \\"quoted\\" word"').root.term == 'a "quoted" word'
    assert cql.parse("andrew").root.term == "andrew"  # keywords end at word boundaries


@pytest.mark.parametrize("text", ["", "   ", "title =", "a and", "(a", "a)", "title = \"open", "a sortby",
                                  "> = x", "title == ", "a prox/ b", "= a"])
def test_syntax_errors(text):
    with pytest.raises(cql.CQLSyntaxError):
        cql.parse(text)


def test_translation_to_the_index_tree():
    t = translate.translate(cql.parse('dc.title = "coral reef*" and bath.isbn = 0-19-852663-6'))
    assert t.node == search.Boolean("and", search.Clause("title", "=", f"coral reef{search.MASK_ANY}"),
                                    search.Clause("isbn", "=", "0-19-852663-6"))
    assert translate.translate(cql.parse("fish")).node == search.Clause("any", "=", "fish")
    assert translate.translate(cql.parse("title = \\*star")).node.term == "*star"  # escaped mask
    assert translate.translate(cql.parse("title = ^star")).node.term == f"{search.ANCHOR}star"
    assert translate.translate(cql.parse("dc.title =/string \"a b\"")).node.relation == "exact"
    assert translate.translate(cql.parse("rec.id < 10")).node == search.Clause("recid", "<", "10")
    t = translate.translate(cql.parse("a prox/unit=word/distance<3/ordered b"))
    assert (t.node.distance, t.node.comparison, t.node.ordered) == (3, "<", True)
    t = translate.translate(cql.parse("x sortBy dc.date/sort.descending/sort.missingLow"))
    assert t.sort == (search.SortKey("date", False, "low"),)
    # a prefix assigned inside parentheses applies there only
    inner = cql.parse('(> t = "info:srw/cql-context-set/1/dc-v1.1" t.title = a) and t.title = b')
    with pytest.raises(Diagnostic) as caught:
        translate.translate(inner)
    assert caught.value.number == 15


@pytest.mark.parametrize("text, number", [
    ("foo.title = x", 15),
    ('> x = "info:unknown" x.title = y', 15),
    ("dc.nosuch = x", 16),
    ("dc.title encloses x", 19),
    ("dc.title foo x", 19),
    ("dc.title =/rel.CORI x", 20),
    ("dc.isbn =/fuzzy 123", 20),
    ("dc.date =/stem 1985", 20),
    ("dc.title =/number x", 20),
    ("a and/foo b", 46),
    ("a prox/unit=sentence b", 42),
    ("a prox/distance=far b", 41),
    ("x sortBy dc.subject", 88),
    ("x sortBy dc.title/sort.respectCase", 91),
    ("x sortBy dc.title/sort.missingOmit", 92),
])
def test_translation_diagnostics(text, number):
    with pytest.raises(Diagnostic) as caught:
        translate.translate(cql.parse(text))
    assert caught.value.number == number
