"""`cache`: keep the blocks of the first complete pass in memory.

The first iterator to read its parent to the end stores what it read; later
passes (the next epoch of an enclosing `repeat`, a new iterator, `evaluate`
after `train`) are served from memory. The parent is always read as in the
first pass of every enclosing `repeat`, so a cached pass is the same however
and whenever it was filled.

Position: the rows (elements after `batch`) of the pass already given. A
restore serves them from memory, or, in a process whose cache is empty,
reads the parent again from its start (filling the cache) and drops them.
"""

from __future__ import annotations

import copy
from typing import Any

from estimators.data._block import Block
from estimators.data._node import Context, Node, NodeIterator

__all__ = ["CacheNode"]


class CacheNode(Node):
    """Reads the parent once; serves every later pass from memory."""

    def __init__(self, parent: Node) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.store: list[Block] | None = None

    def with_parent(self, parent: Node) -> Node:
        clone = copy.copy(self)
        clone.parent = parent
        clone.store = None  # another input: its own cache
        return clone

    def describe(self) -> str:
        return "cache()"

    def cardinality(self) -> int:
        return self.parent.cardinality()

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        first_pass = Context(context.seed, tuple(0 for _ in context.epochs))
        iterator = _CacheIterator(self, first_pass)
        if state is not None:
            iterator.fast_forward(int(state["given"]))
        return iterator


class _CacheIterator(NodeIterator):
    def __init__(self, node: CacheNode, context: Context) -> None:
        self._node = node
        self._context = context
        self._given = 0  # rows (elements after batch) of this pass given out
        self._store = node.store
        self._index = 0  # next block of the store
        self._parent: NodeIterator | None = None
        self._filling: list[Block] = []
        self._rest: Block | None = None  # a block cut by a restore

    def _units(self, block: Block) -> int:
        return 1 if self._node.batched else block.num_rows

    def _next_block(self) -> Block:
        if self._store is not None:
            if self._index >= len(self._store):
                raise StopIteration
            self._index += 1
            return self._store[self._index - 1]
        if self._parent is None:
            self._parent = self._node.parent.open(self._context, None)
        block = next(self._parent, None)
        if block is None:
            self._parent.close()
            if self._node.store is None:
                self._node.store = self._filling
            self._store, self._index = self._filling, len(self._filling)
            raise StopIteration
        self._filling.append(block)
        return block

    def __next__(self) -> Block:
        if self._rest is not None:
            block, self._rest = self._rest, None
        else:
            block = self._next_block()
        self._given += self._units(block)
        return block

    def fast_forward(self, given: int) -> None:
        while self._given < given:
            block = next(self, None)
            if block is None:
                return
            extra = self._given - given
            if extra > 0:  # only for rows: elements are never cut
                self._rest = block.slice(block.num_rows - extra, block.num_rows)
                self._given = given

    def state(self) -> dict[str, Any]:
        return {"given": self._given}

    def close(self) -> None:
        if self._parent is not None:
            self._parent.close()
