"""Schema drift: a column the pipeline reads must keep its type from run to run.

Each ingest records the types of the columns it read (the label and the raw
feature keys) in `<work_dir>/ingest/schema-<dataset>.json`, a dataset being
the data's `uri` (with its `eval_uri`). The next ingest of the same dataset
compares every file with that record, and the files with each other, and stops
at the first column whose type changed kind (number, string, boolean, ...),
naming the column, both types and the file. Widening within a kind (int32 to
int64, int to float) is not drift.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.dataset as pads

from estimators import atomic

__all__ = ["SchemaDrift", "check_drift", "kind", "record_path", "save_record"]


class SchemaDrift(ValueError):
    """A column's type changed since the last ingest (or between files)."""


def kind(arrow_type: pa.DataType) -> str:
    """The family of a column type; drift is a change of family.

    Example:
        >>> [kind(t) for t in (pa.int32(), pa.float64(), pa.string(), pa.bool_())]
        ['number', 'number', 'string', 'boolean']
    """
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    for family, test in (
        ("number", pa.types.is_integer),
        ("number", pa.types.is_floating),
        ("number", pa.types.is_decimal),
        ("boolean", pa.types.is_boolean),
        ("string", pa.types.is_string),
        ("string", pa.types.is_large_string),
        ("binary", pa.types.is_binary),
        ("null", pa.types.is_null),
        ("timestamp", pa.types.is_temporal),
    ):
        if test(arrow_type):
            return family
    return str(arrow_type)


def record_path(work_dir: str, uri: str, eval_uri: str | None = None) -> str:
    """Where the column types of the dataset `uri` (+ `eval_uri`) are recorded."""
    key = hashlib.sha256(f"{uri}\0{eval_uri or ''}".encode()).hexdigest()[:16]
    return os.path.join(os.path.abspath(work_dir), "ingest", f"schema-{key}.json")


def check_drift(
    uri: str,
    files: Iterable[tuple[str, pads.Dataset]],
    columns: Sequence[str],
    record: str,
) -> dict[str, dict[str, str]]:
    """Raises `SchemaDrift` at the first column whose type changed kind.

    Args:
        uri: The data's uri, for the message.
        files: (path, dataset over that one file) for every file read.
        columns: The columns the pipeline reads (label, raw feature keys).
        record: The record of the previous ingest (`record_path`); may be absent.

    Returns:
        The record to save once the ingest succeeds: column -> type and kind.
    """
    previous = f"at the previous ingest (recorded in {record})"
    seen = {column: (known, previous) for column, known in _read(record).items()}
    for path, dataset in files:
        schema = dataset.schema
        for column in columns:
            if column not in schema.names:
                continue  # check_schema names a missing column
            new = schema.field(column).type
            if kind(new) == "null":
                continue  # an all-empty column in a CSV file: no type to compare
            if column not in seen:
                seen[column] = ({"type": str(new), "kind": kind(new)}, f"in {path}")
                continue
            old, where = seen[column]
            if old["kind"] != kind(new):
                raise SchemaDrift(
                    f"data {uri!r}: column {column!r} is {new} in {path}, but was "
                    f"{old['type']} {where}; fix the data (or, if the new type is "
                    f"meant, delete {record})."
                )
    return {column: known for column, (known, _) in seen.items()}


def save_record(record: str, columns: dict[str, dict[str, str]]) -> None:
    """Saves the column types of a successful ingest."""
    os.makedirs(os.path.dirname(record), exist_ok=True)
    atomic.write_json(record, {"columns": columns}, indent=1, sort_keys=True)


def _read(record: str) -> dict[str, dict[str, str]]:
    try:
        with open(record, encoding="utf-8") as f:
            return dict(json.load(f)["columns"])
    except FileNotFoundError:
        return {}
