"""The simple stages: `map`, `repeat`, `take`, `skip` and element-wise `shard`.

Each works on rows before `batch` (whole blocks at a time) and on elements
after it. Their positions wrap the parent's position with a counter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from estimators.data._block import Block
from estimators.data._columns import from_value
from estimators.data._node import INFINITE, UNKNOWN, Context, Node, NodeIterator
from estimators.data._structure import flatten, leaf_names

__all__ = ["MapNode", "RepeatNode", "ShardNode", "SkipNode", "TakeNode"]


def _name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or ""
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}" if module else qualname


class MapNode(Node):
    """Calls `fn` on each block: a batch after `batch`, a run of rows before."""

    def __init__(self, parent: Node, fn: Callable[..., Any]) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.fn = fn

    def describe(self) -> str:
        return f"map({_name(self.fn)})"

    def cardinality(self) -> int:
        return self.parent.cardinality()

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _MapIterator(self, self.parent.open(context, state))

    def apply(self, block: Block) -> Block:
        element = block.element()
        result = self.fn(*element) if isinstance(element, tuple) else self.fn(element)
        spec, leaves = flatten(result)
        names = leaf_names(spec)
        if not leaves:
            raise ValueError(
                f"map function {_name(self.fn)} returned no arrays: {result!r}."
            )
        columns = tuple(from_value(v, n) for v, n in zip(leaves, names, strict=True))
        if not self.batched:
            lengths = {
                n: (len(c) if getattr(c, "ndim", 1) else None)
                for n, c in zip(names, columns, strict=True)
            }
            if len(set(lengths.values())) > 1 or None in lengths.values():
                raise ValueError(
                    f"map function {_name(self.fn)} runs before batch() on blocks of "
                    f"{block.num_rows} rows and must return arrays of equal length; "
                    f"got lengths {lengths}."
                )
        return Block(spec, columns)


class _MapIterator(NodeIterator):
    def __init__(self, node: MapNode, parent: NodeIterator) -> None:
        self._node = node
        self._parent = parent

    def __next__(self) -> Block:
        while True:
            block = self._node.apply(next(self._parent))
            if self._node.batched or block.num_rows:
                return block

    def state(self) -> dict[str, Any]:
        return self._parent.state()

    def close(self) -> None:
        self._parent.close()


class RepeatNode(Node):
    """Passes over the parent `count` times (`None`: forever)."""

    def __init__(self, parent: Node, count: int | None) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.count = count

    def describe(self) -> str:
        return f"repeat({self.count})"

    def cardinality(self) -> int:
        inner = self.parent.cardinality()
        if self.count == 0 or inner == 0:
            return 0
        if self.count is None or inner == INFINITE:
            return INFINITE
        return UNKNOWN if inner == UNKNOWN else inner * self.count

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _RepeatIterator(self, context, state)


class _RepeatIterator(NodeIterator):
    def __init__(
        self, node: RepeatNode, context: Context, state: dict[str, Any] | None
    ) -> None:
        self._node = node
        self._context = context
        self._epoch = 0 if state is None else int(state["epoch"])
        self._parent: NodeIterator | None = None
        if node.count is None or self._epoch < node.count:
            self._parent = node.parent.open(
                context.in_epoch(self._epoch),
                None if state is None else state["parent"],
            )
        # A pass resumed part-way has produced rows before the restore.
        self._produced = state is not None

    def __next__(self) -> Block:
        while self._parent is not None:
            block = next(self._parent, None)
            if block is not None:
                self._produced = True
                return block
            self._parent.close()
            self._parent = None
            # An empty pass would make repeat() spin forever: stop instead.
            if not self._produced and self._node.count is None:
                break
            self._epoch += 1
            self._produced = False
            if self._node.count is None or self._epoch < self._node.count:
                self._parent = self._node.parent.open(
                    self._context.in_epoch(self._epoch), None
                )
        raise StopIteration

    def state(self) -> dict[str, Any]:
        parent = None if self._parent is None else self._parent.state()
        return {"epoch": self._epoch, "parent": parent}

    def close(self) -> None:
        if self._parent is not None:
            self._parent.close()


class TakeNode(Node):
    """The first `count` rows (before `batch`) or elements (after)."""

    def __init__(self, parent: Node, count: int) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.count = count

    def describe(self) -> str:
        return f"take({self.count})"

    def cardinality(self) -> int:
        inner = self.parent.cardinality()
        if inner == INFINITE:
            return self.count
        return UNKNOWN if inner == UNKNOWN else min(inner, self.count)

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        taken = 0 if state is None else int(state["taken"])
        parent_state = None if state is None else state["parent"]
        return _TakeIterator(self, self.parent.open(context, parent_state), taken)


class _TakeIterator(NodeIterator):
    def __init__(self, node: TakeNode, parent: NodeIterator, taken: int) -> None:
        self._node = node
        self._parent = parent
        self._taken = taken

    def __next__(self) -> Block:
        left = self._node.count - self._taken
        if left <= 0:
            raise StopIteration
        block = next(self._parent)
        if self._node.batched:
            self._taken += 1
            return block
        block = block.slice(0, min(left, block.num_rows))
        self._taken += block.num_rows
        return block

    def state(self) -> dict[str, Any]:
        return {"taken": self._taken, "parent": self._parent.state()}

    def close(self) -> None:
        self._parent.close()


class ShardNode(Node):
    """Every `num_shards`-th row (before `batch`) or element, from `index`."""

    def __init__(self, parent: Node, num_shards: int, index: int) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.num_shards = num_shards
        self.index = index

    def describe(self) -> str:
        return f"shard({self.num_shards}, {self.index})"

    def cardinality(self) -> int:
        inner = self.parent.cardinality()
        if inner < 0:
            return inner
        return max(0, -(-(inner - self.index) // self.num_shards))

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        seen = 0 if state is None else int(state["seen"])
        parent_state = None if state is None else state["parent"]
        return _ShardIterator(self, self.parent.open(context, parent_state), seen)


class _ShardIterator(NodeIterator):
    def __init__(self, node: ShardNode, parent: NodeIterator, seen: int) -> None:
        self._node = node
        self._parent = parent
        self._seen = seen

    def __next__(self) -> Block:
        num_shards, index = self._node.num_shards, self._node.index
        while True:
            block = next(self._parent)
            if self._node.batched:
                self._seen += 1
                if (self._seen - 1) % num_shards == index:
                    return block
                continue
            rows = block.num_rows
            first = (index - self._seen) % num_shards  # first row of this block to keep
            self._seen += rows
            if first < rows:
                return block.take(np.arange(first, rows, num_shards))

    def state(self) -> dict[str, Any]:
        return {"seen": self._seen, "parent": self._parent.state()}

    def close(self) -> None:
        self._parent.close()


class SkipNode(Node):
    """Drops the first `count` rows (before `batch`) or elements (after)."""

    def __init__(self, parent: Node, count: int) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.count = count

    def describe(self) -> str:
        return f"skip({self.count})"

    def cardinality(self) -> int:
        inner = self.parent.cardinality()
        return inner if inner < 0 else max(inner - self.count, 0)

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        skipped = 0 if state is None else int(state["skipped"])
        parent_state = None if state is None else state["parent"]
        return _SkipIterator(self, self.parent.open(context, parent_state), skipped)


class _SkipIterator(NodeIterator):
    def __init__(self, node: SkipNode, parent: NodeIterator, skipped: int) -> None:
        self._node = node
        self._parent = parent
        self._skipped = skipped

    def __next__(self) -> Block:
        while True:
            block = next(self._parent)
            left = self._node.count - self._skipped
            if left <= 0:
                return block
            if self._node.batched:
                self._skipped += 1
                continue
            self._skipped += min(left, block.num_rows)
            if left < block.num_rows:
                return block.slice(left, block.num_rows)

    def state(self) -> dict[str, Any]:
        return {"skipped": self._skipped, "parent": self._parent.state()}

    def close(self) -> None:
        self._parent.close()
