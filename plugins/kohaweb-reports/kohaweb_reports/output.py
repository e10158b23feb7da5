"""Report results as Koha's svc/report JSON (rows as arrays, or objects with ``annotated``) and
as CSV. Dates and times become ISO 8601, decimals numbers, NULL null."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
from decimal import Decimal

from .runner import Result


def plain(value: object) -> object:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or Infinity
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (list, tuple)):  # PostgreSQL arrays
        return [plain(v) for v in value]
    if isinstance(value, dict):  # PostgreSQL json / jsonb
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, dt.timedelta):  # MariaDB TIME columns
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(data).decode("ascii")
    return str(value)


def rows_json(result: Result, annotated: bool) -> list:
    if annotated:
        # duplicate column names collide, as in Koha: the last one wins
        return [{name: plain(v) for name, v in zip(result.columns, row, strict=True)} for row in result.rows]
    return [[plain(v) for v in row] for row in result.rows]


def to_json(result: Result, annotated: bool) -> bytes:
    return json.dumps(rows_json(result, annotated), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def to_csv(result: Result) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else plain(v) for v in row])
    return buffer.getvalue()
