"""Blocks: a run of rows held column by column, the unit every stage passes on.

Before `batch` a block is any number of rows (a record batch, a slice of an
array); after `batch` each block is exactly one element (one batch). Columns
are numpy arrays (rows on the leading axis) or `pyarrow.Array`s (strings), so
slicing, gathering and concatenating rows are whole-column operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._structure import Spec, leaf_names, pack

__all__ = ["Block", "Column", "concat", "first_row", "stack_rows"]

Column = Any  # np.ndarray | pa.Array


@dataclass(frozen=True, slots=True)
class Block:
    """Rows of one element layout: `spec` nests `columns` into an element."""

    spec: Spec
    columns: tuple[Column, ...]

    @property
    def num_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def element(self) -> Any:
        """The nested value (features dict, `(features, labels)` tuple, ...)."""
        return pack(self.spec, self.columns)

    def slice(self, start: int, stop: int) -> Block:
        rows = self.num_rows
        if start <= 0 and stop >= rows:
            return self
        stop = min(stop, rows)
        start = min(max(start, 0), stop)
        return Block(self.spec, tuple(_slice(c, start, stop) for c in self.columns))

    def take(self, indices: np.ndarray) -> Block:
        return Block(self.spec, tuple(_take(c, indices) for c in self.columns))


def concat(blocks: Sequence[Block]) -> Block:
    """Rows of `blocks` one after the other (no copy for a single block)."""
    if len(blocks) == 1:
        return blocks[0]
    spec = blocks[0].spec
    for block in blocks[1:]:
        if block.spec != spec:
            raise ValueError(
                "elements changed structure between blocks (a `map` function "
                f"returned {block.spec!r} after {spec!r}); it must always return "
                "the same keys in the same order."
            )
    columns = zip(*(b.columns for b in blocks), strict=True)
    return Block(
        spec, tuple(_concat(list(parts), spec, i) for i, parts in enumerate(columns))
    )


def first_row(block: Block) -> Any:
    """The block's first row as a nested value of numpy / Python scalars."""
    values = [
        column[0] if isinstance(column, np.ndarray) else column[0].as_py()
        for column in block.columns
    ]
    return pack(block.spec, values)


def stack_rows(block: Block, count: int) -> Block:
    """`count` equal runs of rows as leaves `[count, rows, ...]`: numpy columns
    reshaped (no copy), Arrow columns as a `FixedSizeListArray` of `count`."""
    size = block.num_rows // count
    leaves = []
    for column in block.columns:
        if isinstance(column, np.ndarray):
            leaves.append(column.reshape(count, size, *column.shape[1:]))
        else:
            leaves.append(pa.FixedSizeListArray.from_arrays(column, size))
    return Block(block.spec, tuple(leaves))


def _slice(column: Column, start: int, stop: int) -> Column:
    if isinstance(column, np.ndarray):
        return column[start:stop]
    return column.slice(start, stop - start)


def _take(column: Column, indices: np.ndarray) -> Column:
    if isinstance(column, np.ndarray):
        return column[indices]
    return column.take(indices)


def _concat(parts: list[Column], spec: Spec, index: int) -> Column:
    """The parts of column `index` (of `spec`, named in an error) joined."""
    if all(isinstance(p, np.ndarray) for p in parts):
        shapes = {p.shape[1:] for p in parts}
        if len(shapes) > 1:
            name = leaf_names(spec)[index]
            raise ValueError(
                f"column {name!r} has rows of shapes {sorted(shapes)} in blocks "
                "that one batch joins; a map_blocks or map function must give "
                "each row the same shape in every block (pad it to a fixed width)."
            )
        return np.concatenate(parts)
    arrays = [p if isinstance(p, pa.Array) else pa.array(p) for p in parts]
    return pa.concat_arrays(arrays)
