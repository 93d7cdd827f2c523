"""`unbatch` and `padded_batch`: from batches back to rows, and batches of
rows of varying length padded to a common shape.

After `unbatch` a batch's block simply counts as a run of rows; the position
is the parent's (a following `batch` records how many of the rows it used).
`padded_batch` is `batch` followed by padding each column of the batch:
variable-length rows are Arrow list arrays (from `from_generator`, or list
columns of files), padded into a numpy `[batch, length, ...]` array by index
arithmetic; fixed-shape numpy columns are padded to `padded_shapes` if given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc
from estimators.data._block import Block, Column
from estimators.data._node import INFINITE, UNKNOWN, Context, Node, NodeIterator
from estimators.data._structure import Spec, flatten, leaf_names
from estimators.data.batch import BatchNode

__all__ = ["PaddedBatchNode", "UnbatchNode"]


class UnbatchNode(Node):
    """Rows of each element: of each batch, or of each row's leading axis."""

    def __init__(self, parent: Node) -> None:
        self.parent = parent

    def describe(self) -> str:
        return "unbatch()"

    def cardinality(self) -> int:
        inner = self.parent.cardinality()
        return inner if inner in (0, INFINITE) else UNKNOWN

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _UnbatchIterator(self.parent.batched, self.parent.open(context, state))


class _UnbatchIterator(NodeIterator):
    def __init__(self, batched: bool, parent: NodeIterator) -> None:
        self._batched = batched
        self._parent = parent

    def __next__(self) -> Block:
        while True:
            block = next(self._parent)
            if not self._batched:
                block = _split_rows(block)
            if block.num_rows:
                return block

    def state(self) -> dict[str, Any]:
        return self._parent.state()

    def close(self) -> None:
        self._parent.close()


def _split_rows(block: Block) -> Block:
    """Rows whose leaves are `[n, ...]` arrays become `n` rows each."""
    names = leaf_names(block.spec)
    inner = set()
    for name, column in zip(names, block.columns, strict=True):
        if not isinstance(column, np.ndarray) or column.ndim < 2:
            raise ValueError(
                f"unbatch(): {name!r} has no leading axis to split (rows of shape "
                f"{getattr(column, 'shape', ('?',))[1:]}); unbatch needs batches "
                "or rows of arrays."
            )
        inner.add(column.shape[1])
    if len(inner) > 1:
        raise ValueError(f"unbatch(): leaves have different lengths {sorted(inner)}.")
    return Block(block.spec, tuple(c.reshape(-1, *c.shape[2:]) for c in block.columns))


class PaddedBatchNode(BatchNode):
    """`batch`, then each column padded to the longest row (or `padded_shapes`)."""

    def __init__(
        self,
        parent: Node,
        batch_size: int,
        drop_remainder: bool,
        padded_shapes: Any,
        padding_values: Any,
    ) -> None:
        super().__init__(parent, batch_size, drop_remainder)
        self.padded_shapes = padded_shapes
        self.padding_values = padding_values

    def describe(self) -> str:
        return (
            f"padded_batch({self.batch_size}, padded_shapes={self.padded_shapes!r}, "
            f"drop_remainder={self.drop_remainder})"
        )

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _PaddedIterator(self, super().open(context, state))

    def pad(self, block: Block) -> Block:
        names = leaf_names(block.spec)
        shapes = _per_leaf(self.padded_shapes, block.spec, "padded_shapes", shape=True)
        values = _per_leaf(self.padding_values, block.spec, "padding_values")
        return Block(
            block.spec,
            tuple(
                _pad(c, n, s, v)
                for c, n, s, v in zip(block.columns, names, shapes, values, strict=True)
            ),
        )


class _PaddedIterator(NodeIterator):
    def __init__(self, node: PaddedBatchNode, batches: NodeIterator) -> None:
        self._node = node
        self._batches = batches

    def __next__(self) -> Block:
        return self._node.pad(next(self._batches))

    def state(self) -> dict[str, Any]:
        return self._batches.state()

    def close(self) -> None:
        self._batches.close()


def _per_leaf(value: Any, spec: Spec, what: str, *, shape: bool = False) -> list[Any]:
    """`value` given per leaf (same nesting as the element) or once for all."""
    count = len(leaf_names(spec))
    if value is None:
        return [None] * count
    if shape and _is_shape(value):
        return [tuple(value)] * count
    if not shape and not isinstance(value, dict | tuple):
        return [value] * count
    _, leaves = flatten(value if not shape else _shapes_as_leaves(value))
    if len(leaves) != count:
        raise ValueError(
            f"padded_batch: `{what}` has {len(leaves)} entries; the elements "
            f"have {count} ({', '.join(leaf_names(spec))})."
        )
    return [v.dims if isinstance(v, _Shape) else v for v in leaves]


def _is_shape(value: Any) -> bool:
    return isinstance(value, list) or (
        isinstance(value, tuple) and all(v is None or isinstance(v, int) for v in value)
    )


def _shapes_as_leaves(value: Any) -> Any:
    if _is_shape(value):
        return _Shape(value)
    if isinstance(value, dict):
        return {k: _shapes_as_leaves(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_shapes_as_leaves(v) for v in value)
    return value


class _Shape:
    """A shape kept whole as one leaf when flattening `padded_shapes`."""

    def __init__(self, dims: Any) -> None:
        self.dims = tuple(dims)


def _pad(column: Column, name: str, shape: Any, value: Any) -> Column:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if isinstance(column, pa.ListArray | pa.LargeListArray):
        column = _lists_to_numpy(column, name, shape, value)
        shape = None
    if not isinstance(column, np.ndarray) or shape is None:
        return column
    target = [
        have if want in (None, -1) else want
        for have, want in zip(column.shape[1:], shape, strict=False)
    ]
    if len(shape) != column.ndim - 1 or any(
        t < h for t, h in zip(target, column.shape[1:], strict=True)
    ):
        raise ValueError(
            f"padded_batch: {name!r} has rows of shape {list(column.shape[1:])}, "
            f"which do not fit padded_shapes {list(shape)}."
        )
    widths = [(0, 0)] + [
        (0, t - h) for t, h in zip(target, column.shape[1:], strict=True)
    ]
    return np.pad(column, widths, constant_values=0 if value is None else value)


def _lists_to_numpy(column: Any, name: str, shape: Any, value: Any) -> np.ndarray:
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    flat = column.flatten()
    if not (
        pa.types.is_integer(flat.type)
        or pa.types.is_floating(flat.type)
        or pa.types.is_boolean(flat.type)
    ):
        raise ValueError(
            f"padded_batch: {name!r} holds lists of {flat.type}; map them to "
            "numbers (e.g. vocabulary ids) first."
        )
    values = flat.to_numpy(zero_copy_only=False)
    longest = int(lengths.max()) if len(lengths) else 0
    width = longest if shape is None or shape[0] in (None, -1) else int(shape[0])
    if width < longest:
        raise ValueError(
            f"padded_batch: {name!r} has a row of length {longest}, longer than "
            f"padded_shapes {list(shape)}."
        )
    out = np.full((len(lengths), width), 0 if value is None else value, values.dtype)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    out[rows, np.arange(len(values)) - np.repeat(starts, lengths)] = values
    return out
