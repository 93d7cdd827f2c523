"""`filter`: keep the rows (before `batch`) or elements (after) a predicate accepts.

Before `batch` the predicate runs on whole blocks of rows and must return one
boolean per row (numpy comparisons do: `lambda f, y: f["age"] >= 18`); after
`batch` it runs on each batch and returns one boolean. The position is the
parent's: a block is filtered the same way however it was cut.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._block import Block
from estimators.data._node import UNKNOWN, Context, Node, NodeIterator

__all__ = ["FilterNode"]


def _name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class FilterNode(Node):
    """Keeps what `predicate` returns True for."""

    def __init__(self, parent: Node, predicate: Callable[..., Any]) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.predicate = predicate

    def describe(self) -> str:
        return f"filter({_name(self.predicate)})"

    def cardinality(self) -> int:
        inner = self.parent.cardinality()
        return inner if inner in (0, -1) else UNKNOWN

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _FilterIterator(self, self.parent.open(context, state))

    def keep(self, block: Block) -> Block | None:
        """The rows of `block` to keep (None: none)."""
        element = block.element()
        fn = self.predicate
        result = fn(*element) if isinstance(element, tuple) else fn(element)
        if isinstance(result, pa.ChunkedArray):
            result = result.combine_chunks()
        if isinstance(result, pa.Array):
            result = result.fill_null(False).to_numpy(zero_copy_only=False)
        mask = np.asarray(result)
        if mask.dtype != np.bool_:
            raise TypeError(
                f"filter predicate {_name(fn)} must return booleans, got "
                f"dtype {mask.dtype}."
            )
        if self.batched or mask.ndim == 0:
            if not self.batched and block.num_rows != 1:
                raise ValueError(
                    f"filter predicate {_name(fn)} returned one boolean for a "
                    f"block of {block.num_rows} rows: before batch() it must "
                    "return one per row (use & | ~ instead of and / or / not)."
                )
            return block if bool(mask.reshape(-1)[0]) else None
        if mask.shape != (block.num_rows,):
            raise ValueError(
                f"filter predicate {_name(fn)} returned shape {mask.shape} for a "
                f"block of {block.num_rows} rows; expected ({block.num_rows},)."
            )
        if mask.all():
            return block
        kept = np.flatnonzero(mask)
        return block.take(kept) if len(kept) else None


class _FilterIterator(NodeIterator):
    def __init__(self, node: FilterNode, parent: NodeIterator) -> None:
        self._node = node
        self._parent = parent

    def __next__(self) -> Block:
        while True:
            block = self._node.keep(next(self._parent))
            if block is not None:
                return block

    def state(self) -> dict[str, Any]:
        return self._parent.state()

    def close(self) -> None:
        self._parent.close()
