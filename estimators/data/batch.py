"""`batch`: cut the stream of rows into elements of `batch_size` rows.

A batch that fits in one upstream block is a zero-copy slice of it; one that
straddles blocks is concatenated. Batches run across upstream block (and,
after `repeat`, epoch) boundaries, as in tf.data.
"""

from __future__ import annotations

from typing import Any

from estimators.data._block import Block
from estimators.data._node import INFINITE, UNKNOWN, Context, Node, NodeIterator
from estimators.data._rows import RowReader

__all__ = ["BatchNode"]


class BatchNode(Node):
    """Groups `batch_size` consecutive rows into one element."""

    batched = True

    def __init__(self, parent: Node, batch_size: int, drop_remainder: bool) -> None:
        self.parent = parent
        self.batch_size = batch_size
        self.drop_remainder = drop_remainder

    def describe(self) -> str:
        return f"batch({self.batch_size}, drop_remainder={self.drop_remainder})"

    def cardinality(self) -> int:
        rows = self.parent.cardinality()
        if rows in (INFINITE, UNKNOWN):
            return rows
        if self.drop_remainder:
            return rows // self.batch_size
        return -(-rows // self.batch_size)

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _BatchIterator(self, context, state)


class _BatchIterator(NodeIterator):
    """Position: the `RowReader`'s (parent position before the block being cut
    and the rows of it already used)."""

    def __init__(
        self, node: BatchNode, context: Context, state: dict[str, Any] | None
    ) -> None:
        self._size = node.batch_size
        self._drop = node.drop_remainder
        self._rows = RowReader(node.parent, context, state)

    def __next__(self) -> Block:
        if self._drop and self._rows.fill(self._size) < self._size:
            self._rows.discard()
            raise StopIteration
        block = self._rows.take(self._size)
        if block is None:
            raise StopIteration
        return block

    def next_batches(self, max_batches: int) -> Block | None:
        """Up to `max_batches` full batches as one block of rows, or None.

        Fewer only when the input ends first; None when the next batch is
        partial or there is none (it is then left for `next`).
        """
        count = min(
            self._rows.fill(max_batches * self._size) // self._size, max_batches
        )
        return self._rows.take(count * self._size) if count else None

    def state(self) -> dict[str, Any]:
        return self._rows.state()

    def close(self) -> None:
        self._rows.close()
