"""`batch`: cut the stream of rows into elements of `batch_size` rows.

A batch that fits in one upstream block is a zero-copy slice of it; one that
straddles blocks is concatenated. Batches run across upstream block (and,
after `repeat`, epoch) boundaries, as in tf.data.
"""

from __future__ import annotations

from typing import Any

from estimators.data._block import Block, concat
from estimators.data._node import INFINITE, UNKNOWN, Context, Node, NodeIterator

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
    """Position: the parent's position before the block being cut (`anchor`)
    and the rows of that block already used (`skip`)."""

    def __init__(
        self, node: BatchNode, context: Context, state: dict[str, Any] | None
    ) -> None:
        self._size = node.batch_size
        self._drop = node.drop_remainder
        self._parent = node.parent.open(
            context, None if state is None else state["anchor"]
        )
        self._anchor = self._parent.state() if state is None else state["anchor"]
        self._skip = 0 if state is None else int(state["skip"])
        self._block: Block | None = None  # the block being cut, rows [skip:] unused
        self._restoring = self._skip > 0

    def _pull(self) -> bool:
        self._anchor = self._parent.state()
        block = next(self._parent, None)
        if self._restoring:
            # The first block after a restore: drop the rows already batched.
            self._restoring = False
            while block is not None and block.num_rows <= self._skip:
                self._skip -= block.num_rows
                self._anchor = self._parent.state()
                block = next(self._parent, None)
            if block is not None:
                self._block = block
                return True
        self._block, self._skip = block, 0
        return block is not None

    def __next__(self) -> Block:
        parts: list[Block] = []
        need = self._size
        while need:
            if (
                self._block is None or self._skip == self._block.num_rows
            ) and not self._pull():
                break
            assert self._block is not None
            stop = min(self._skip + need, self._block.num_rows)
            parts.append(self._block.slice(self._skip, stop))
            need -= stop - self._skip
            self._skip = stop
        if not parts or (need and self._drop):
            self._block = None
            raise StopIteration
        return concat(parts)

    def state(self) -> dict[str, Any]:
        if self._block is not None and self._skip == self._block.num_rows:
            return {"anchor": self._parent.state(), "skip": 0}
        return {"anchor": self._anchor, "skip": self._skip}

    def close(self) -> None:
        self._parent.close()
