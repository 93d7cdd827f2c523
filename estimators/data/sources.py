"""In-memory sources: numpy arrays, Arrow tables and pandas frames.

The columns are converted to the batch format once, when the dataset is built
(zero-copy for numeric columns without nulls); iterating hands out slices of
`chunk_rows` rows, which cost nothing for numpy and Arrow alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._block import Block, Column
from estimators.data._columns import from_arrow, from_value
from estimators.data._identity import column_digests
from estimators.data._node import Context, Node, NodeIterator
from estimators.data._selection import (
    Label,
    element_spec,
    filter_error,
    label_list,
    require_columns,
    select_columns,
    to_expression,
)
from estimators.data._structure import Spec, flatten, leaf_names

__all__ = ["ArraySource", "index_labels", "slices_source", "table_source"]

CHUNK_ROWS = 65536


class ArraySource(Node):
    """Rows `start:stop` of columns held in memory.

    Args:
        spec: How the columns nest into an element.
        columns: One column per leaf, all of the same length.
        kind: The constructor's name, for the pipeline description.
        chunk_rows: Rows per block handed downstream.
        shard: `(num_shards, index)` when this source is one contiguous shard.
    """

    def __init__(
        self,
        spec: Spec,
        columns: Sequence[Column],
        *,
        kind: str,
        chunk_rows: int = CHUNK_ROWS,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.spec = spec
        self.columns = tuple(columns)
        self.kind = kind
        self.chunk_rows = chunk_rows
        self.block = Block(spec, self.columns)
        self.total_rows = self.block.num_rows
        self.shard_spec = shard
        self.filtered = False  # rows of a table after a filter: row numbers shift
        # A DataFrame's index when it is not 0..n-1, to name rows in errors.
        self.row_labels: Any = None
        num_shards, index = shard or (1, 0)
        self.start = self.total_rows * index // num_shards
        self.stop = self.total_rows * (index + 1) // num_shards

    def sharded(self, num_shards: int, index: int) -> ArraySource:
        """Contiguous, disjoint, balanced row ranges (sizes differ by <= 1)."""
        return ArraySource(
            self.spec,
            self.columns,
            kind=self.kind,
            chunk_rows=self.chunk_rows,
            shard=(num_shards, index),
        )

    def describe(self) -> str:
        names = leaf_names(self.spec)
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        text = f"{self.kind}({self.total_rows} rows: {shown})"
        if self.shard_spec is not None:
            text += f".shard({self.shard_spec[0]}, {self.shard_spec[1]})"
        return text

    def fingerprint(self) -> Any:
        return {
            "spec": repr(self.spec),
            "types": [_type_name(c) for c in self.columns],
            "chunk_rows": self.chunk_rows,
        }

    def identity(self) -> dict[str, str]:
        """`column '<name>'` -> `content=<sha256 prefix>` of each column (whole,
        also for a shard). Hashed anew for each iterator: the arrays are the
        caller's, who may change them in place between two train() calls."""
        names = [_column_name(name) for name in leaf_names(self.spec)]
        return dict(zip(names, column_digests(self.columns), strict=True))

    def cardinality(self) -> int:
        return self.stop - self.start

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _ArrayIterator(self, self.start if state is None else int(state["row"]))


class _ArrayIterator(NodeIterator):
    def __init__(self, source: ArraySource, row: int) -> None:
        self._source = source
        self._row = row

    def __next__(self) -> Block:
        source = self._source
        if self._row >= source.stop:
            raise StopIteration
        # Cut at multiples of chunk_rows from the start even after a restore, so
        # the blocks (which a downstream shuffle depends on) never change.
        size = source.chunk_rows
        end = min(
            source.start + ((self._row - source.start) // size + 1) * size, source.stop
        )
        block = source.block.slice(self._row, end)
        self._row = end
        return block

    def state(self) -> dict[str, Any]:
        return {"row": self._row}


def slices_source(tensors: Any, *, kind: str = "from_tensor_slices") -> ArraySource:
    """An `ArraySource` over a nested value whose leaves share a leading axis."""
    if isinstance(tensors, pa.Table | pa.RecordBatch):
        spec, columns = columns_spec(tensors, list(tensors.column_names), None)
        return ArraySource(spec, columns, kind=kind)
    if type(tensors).__name__ == "DataFrame":
        from estimators.data._columns import table_from_pandas

        source = slices_source(table_from_pandas(tensors), kind=kind)
        source.row_labels = index_labels(tensors)
        return source
    spec, leaves = flatten(tensors)
    if not leaves:
        raise ValueError(f"{kind} needs at least one array, got {tensors!r}.")
    names = leaf_names(spec)
    columns = [from_value(leaf, name) for leaf, name in zip(leaves, names, strict=True)]
    for column, name in zip(columns, names, strict=True):
        if isinstance(column, np.ndarray) and column.ndim == 0:
            raise ValueError(
                f"{kind}: {name!r} is a scalar; every value needs a leading "
                "(row) axis to slice."
            )
    lengths = {name: len(c) for name, c in zip(names, columns, strict=True)}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{n!r}: {k}" for n, k in lengths.items())
        raise ValueError(f"{kind}: all values must have the same length, got {listed}.")
    return ArraySource(spec, columns, kind=kind)


def columns_spec(
    table: pa.Table | pa.RecordBatch,
    features: list[str],
    labels: str | list[str] | None,
) -> tuple[Spec, list[Column]]:
    """Features dict (and labels) of an in-memory Arrow table, converted."""
    names = features + label_list(labels)
    columns = [from_arrow(table.column(name)) for name in names]
    return element_spec(features, labels), columns


def _type_name(column: Column) -> str:
    if isinstance(column, np.ndarray):
        return f"{column.dtype}{list(column.shape[1:])}"
    return str(column.type)


def table_source(
    table: pa.Table | pa.RecordBatch,
    label: Label,
    columns: Sequence[str] | None,
    filter: Any,
    kind: str,
) -> ArraySource:
    """An `ArraySource` over chosen columns (and filtered rows) of an Arrow table."""
    where = "the table"
    names = list(table.column_names)
    features, labels = select_columns(names, columns, label, where)
    require_columns(features, labels, where)
    if filter is not None:
        try:
            table = table.filter(to_expression(filter))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise filter_error(filter, error, names, where) from None
    spec, converted = columns_spec(table, features, labels)
    source = ArraySource(spec, converted, kind=kind)
    source.filtered = filter is not None
    return source


def index_labels(frame: Any) -> Any:
    """A DataFrame's index, or None when it is the default 0..n-1."""
    index = frame.index
    if type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1:
        return None
    return index


def _column_name(leaf: str) -> str:
    """`column 'x'` for feature x of a `(features, labels)` element, `labels`
    for its labels, `column <leaf name>` otherwise."""
    if leaf == "[1]":
        return "labels"
    feature = re.fullmatch(r"\[0\]\[('.*')\]", leaf)
    label = re.fullmatch(r"\[1\]\[('.*')\]", leaf)
    if feature:
        return f"column {feature.group(1)}"
    if label:
        return f"label {label.group(1)}"
    return f"column {leaf!r}"
