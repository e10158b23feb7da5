"""The functions and syntax a report may use, per database: an allowlist, never a denylist.

Everything a librarian's report needs — string, number, date, aggregate, window and conditional
functions (Koha's report library: CONCAT, GROUP_CONCAT, DATE_FORMAT, IFNULL, COALESCE, COUNT, SUM,
SUBSTRING, YEAR, CURDATE, DATEDIFF, ExtractValue …) — and nothing that takes SQL text (PostgreSQL's
``ts_stat``/``ts_rewrite``/``query_to_xml`` run it), reads files, touches settings, roles or
system catalogues, sleeps, locks or writes. A function not listed is refused with its name.

The name checked is the one that *runs*: the SQL of a report is generated from its syntax tree,
so a function sqlglot knows (``exp.Pad``, ``exp.TimeToStr`` …) is checked under the name the
generator writes for the site's database (``LPAD``, ``TO_CHAR`` / ``DATE_FORMAT``), an unknown one
under the name the report wrote.

Functions that build a value from a count (REPEAT, LPAD, RPAD, SQLite's printf widths) are
allowed only with a literal count up to ``MAX_BUILT_LENGTH``; aggregates such as GROUP_CONCAT are
bounded by the data and by the runner's limits (value length on SQLite, ``group_concat_max_len``
on MariaDB, the statement timeout and the result byte cap everywhere).

ExtractValue (MariaDB) evaluates an XPath over its own argument only (Koha's MARC reports use
it), like PostgreSQL's ``xpath``; both are allowed. PostgreSQL refuses external XML entities.
"""

from __future__ import annotations

import re

from sqlglot import exp

MAX_BUILT_LENGTH = 10000

_COMMON = """
count sum avg min max coalesce nullif cast abs round floor ceil ceiling sign mod power sqrt exp ln
upper lower length char_length character_length trim ltrim rtrim replace substr substring concat
row_number rank dense_rank ntile percent_rank cume_dist lag lead first_value last_value nth_value
lpad rpad left right reverse instr
"""

_SQLITE = """
ifnull iif group_concat string_agg total date time datetime julianday strftime unixepoch
typeof hex unicode char quote like glob likely unlikely random printf format
json_extract json_array_length json_type json_valid
"""

_POSTGRESQL = """
greatest least concat_ws string_agg array_agg array_to_string string_to_array unnest array_length
cardinality split_part position strpos initcap translate ascii chr octet_length bit_length btrim
regexp_replace regexp_match regexp_matches regexp_split_to_array regexp_like starts_with md5
to_char to_date to_timestamp to_number date_trunc date_part extract age now current_date
current_time current_timestamp localtime localtimestamp make_date make_time make_timestamp
make_interval justify_days justify_hours justify_interval isfinite date_bin clock_timestamp
statement_timestamp transaction_timestamp
bool_and bool_or every stddev stddev_pop stddev_samp variance var_pop var_samp corr
percentile_cont percentile_disc mode generate_series trunc div log log10 pi random width_bucket
xpath xpath_exists xmlagg json_agg jsonb_agg json_build_object jsonb_build_object
json_extract_path_text jsonb_extract_path_text to_json to_jsonb
"""

_MARIADB = """
ifnull if isnull group_concat date_format str_to_date year month day dayofmonth dayofweek dayofyear
dayname monthname week weekday weekofyear yearweek quarter hour minute second microsecond curdate
curtime now current_date current_time current_timestamp sysdate utc_date utc_timestamp date
time timestamp datediff timediff timestampdiff timestampadd date_add date_sub adddate subdate
to_days from_days last_day makedate period_diff period_add extract unix_timestamp from_unixtime
substring_index locate position find_in_set field elt concat_ws greatest least ucase lcase
octet_length bit_length ascii ord char format truncate log log10 log2 pi rand crc32 md5 sha1 sha2
extractvalue regexp_replace regexp_substr regexp_instr soundex strcmp insert mid convert
std stddev stddev_pop stddev_samp variance var_pop var_samp bit_and bit_or bit_xor
json_extract json_value json_unquote json_length json_contains json_valid
"""

ALLOWED_FUNCTIONS: dict[str, frozenset[str]] = {
    backend: frozenset((_COMMON + extra).split())
    for backend, extra in (("sqlite", _SQLITE), ("postgresql", _POSTGRESQL), ("mariadb", _MARIADB))
}

# function -> index of the argument that sets the length of the value it builds
BUILT_LENGTH_ARGUMENT = {"repeat": 1, "lpad": 1, "rpad": 1}
ALLOWED_BUILDERS = {"postgresql": {"repeat"}, "mariadb": {"repeat"}, "sqlite": set()}

# Syntax (not functions) a report may contain; any other node of the tree is refused.
ALLOWED_NODES: frozenset[type[exp.Expression]] = frozenset(getattr(exp, name) for name in """
Select Union Intersect Except With CTE From Join Where Group Having Order Ordered Limit Offset Fetch
Distinct Subquery Table TableAlias Alias Column Identifier Star Literal Null Boolean Paren Tuple
DataType DataTypeParam Interval IntervalSpan Var Placeholder Lateral Values Unnest
EQ NEQ GT GTE LT LTE And Or Not Neg Add Sub Mul Div IntDiv Mod DPipe BitwiseAnd BitwiseOr BitwiseXor
BitwiseNot BitwiseLeftShift BitwiseRightShift Like ILike LikeAny ILikeAny Glob SimilarTo
RegexpLike RegexpILike In Between Is NullSafeEQ NullSafeNEQ Exists Any All Case Window WindowSpec
Filter WithinGroup Collate AtTimeZone Bracket Escape Slice
JSONPath JSONPathKey JSONPathRoot JSONPathSubscript JSONPathWildcard JSONPathSlice JSONPathFilter
JSONPathUnion JSONPathSelector JSONPathRecursive JSONPathScript JSONExtract JSONExtractScalar
JSONBExtract JSONBExtractScalar
Cube Rollup GroupingSets
""".split() if hasattr(exp, name))


class RefusedFunction(Exception):
    """``reason`` names what is not allowed (the checker turns it into ``Refused``)."""

    def __init__(self, reason: str, code: str = "function"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*)\s*\(")
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def function_name(node: exp.Func, dialect) -> str | None:
    """The name of the function ``node`` runs as on the site's database, lower case; None when the
    node is written as an operator or a CASE (``a || b``, ``x MEMBER OF (y)``), whose operands are
    checked as nodes of their own."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    rendered = node.sql(dialect=dialect, comments=False).strip()
    match = _CALL.match(rendered)
    if match is not None:
        return match.group(1).lower()
    if _KEYWORD.fullmatch(rendered):  # CURRENT_DATE, CURRENT_USER …
        return rendered.lower()
    return None


def check_function(node: exp.Func, backend: str, dialect) -> None:
    """Raise RefusedFunction unless ``node`` is on the allowlist of ``backend``."""
    if isinstance(node.parent, exp.Dot) and node.parent.expression is node:
        raise RefusedFunction(f"schema-qualified functions ({node.parent.sql(dialect=dialect)[:60]}) "
                              "are not allowed in a report")
    name = function_name(node, dialect)
    if name is None:
        return
    if name in BUILT_LENGTH_ARGUMENT and name in ALLOWED_BUILDERS[backend] | ALLOWED_FUNCTIONS[backend]:
        _check_built_length(node, name)
        return
    if name not in ALLOWED_FUNCTIONS[backend]:
        raise RefusedFunction(f"the function {name.upper()} is not allowed in a report (allowed: the usual "
                              "string, number, date, aggregate, window and conditional functions)")
    if name in ("printf", "format") and backend == "sqlite":
        _check_printf(node)


def _arguments(node: exp.Func) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    if isinstance(node, exp.Pad):
        return [node.this, node.args.get("expression"), node.args.get("fill_pattern")]
    if isinstance(node, exp.Repeat):
        return [node.this, node.args.get("times")]
    return [node.this, *node.expressions]


def _check_built_length(node: exp.Func, name: str) -> None:
    arguments = _arguments(node)
    index = BUILT_LENGTH_ARGUMENT[name]
    count = arguments[index] if index < len(arguments) else None
    if not (isinstance(count, exp.Literal) and not count.is_string and count.this.isdigit()
            and int(count.this) <= MAX_BUILT_LENGTH):
        raise RefusedFunction(f"{name.upper()} needs a literal length of at most {MAX_BUILT_LENGTH} in a report",
                              "value_too_large")


_PRINTF_WIDTH = re.compile(r"%[-+ 0#,!]*(\*|\d*)(?:\.(\*|\d*))?")


def _check_printf(node: exp.Func) -> None:
    arguments = _arguments(node)
    template = arguments[0] if arguments else None
    if not (isinstance(template, exp.Literal) and template.is_string):
        raise RefusedFunction("PRINTF needs a literal format in a report", "value_too_large")
    for width, precision in _PRINTF_WIDTH.findall(template.this):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_BUILT_LENGTH):
                raise RefusedFunction(f"PRINTF widths must be literal numbers of at most {MAX_BUILT_LENGTH}",
                                      "value_too_large")
