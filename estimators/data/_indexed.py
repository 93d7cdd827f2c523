"""Index mode: an in-memory pipeline run on row numbers, then one gather.

`shuffle`, `repeat`, `take`, `skip`, `shard` and `batch` never look at the
values of the rows they move, so over an in-memory source they can run on a
single column of row numbers (`0..n-1`) instead of every column, and the real
columns are gathered once per output element (or once for many batches, see
`DatasetIterator.next_stacked`). The stages are the same classes with the same
random draws and positions, so the elements and `get_state()` are exactly those
of the pipeline run on the data.

The usual tf program, `from_tensor_slices(...).shuffle(n).repeat().batch(b)`
with a buffer holding all rows, is a fresh permutation of the rows per pass:
`_PassesNode` draws those passes in bulk (one permutation each, no buffer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from estimators.data._block import Block, Column, stack_rows
from estimators.data._node import Context, Node, NodeIterator
from estimators.data._rows import Segments
from estimators.data._seeds import PassGenerators
from estimators.data.batch import BatchNode
from estimators.data.cache import CacheNode
from estimators.data.shuffle import ShuffleNode
from estimators.data.sources import ArraySource
from estimators.data.transforms import RepeatNode, ShardNode, SkipNode, TakeNode

__all__ = ["ROW_STAGES", "IndexPlan", "index_plan"]

ROW_STAGES = (
    BatchNode,
    CacheNode,
    RepeatNode,
    ShardNode,
    ShuffleNode,
    SkipNode,
    TakeNode,
)


@dataclass(frozen=True)
class IndexPlan:
    """The pipeline on row numbers and the columns its blocks index."""

    node: Node
    source: Block

    def gather(self, block: Block) -> Block:
        rows = block.columns[0]
        return Block(
            self.source.spec, tuple(_gather(c, rows) for c in self.source.columns)
        )

    def stacked(self, block: Block, count: int) -> Block:
        """`count` batches of row numbers gathered as leaves `[count, batch, ...]`."""
        return stack_rows(self.gather(block), count)


def index_plan(root: Node) -> IndexPlan | None:
    """The index-mode pipeline of `root`, or None when a stage needs the values."""
    chain = [node for node in root.chain() if not node.transparent]
    source = chain[0]
    if not isinstance(source, ArraySource):
        return None
    node: Node = ArraySource(
        0,
        # Row numbers: 4 bytes a row when they fit.
        (np.arange(source.total_rows, dtype=_index_dtype(source.total_rows)),),
        kind=source.kind,
        chunk_rows=source.chunk_rows,
        shard=source.shard_spec,
    )
    for stage in chain[1:]:
        if type(stage) not in ROW_STAGES or getattr(stage, "filename", ""):
            return None  # needs the values (or a cache file holding them)
        node = _specialised(stage, node) or stage.with_parent(node)
    return IndexPlan(node, source.block)


def _index_dtype(rows: int) -> type:
    return np.int32 if rows < 2**31 else np.int64


def _specialised(stage: Node, parent: Node) -> Node | None:
    if (
        isinstance(stage, ShuffleNode)
        and isinstance(parent, ArraySource)
        and not stage.batched
        and 0 < parent.cardinality() <= stage.buffer_size
    ):
        # The whole input fits in the buffer: the shuffle emits one permutation.
        return _PassesNode(stage, parent.start, parent.stop, None)
    if (
        isinstance(stage, RepeatNode)
        and isinstance(parent, _PassesNode)
        and parent.repeat is None
    ):
        return _PassesNode(parent.shuffle, parent.start, parent.stop, stage)
    return None


def _gather(column: Column, rows: np.ndarray) -> Column:
    if isinstance(column, np.ndarray):
        if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
            first = int(rows[0])
            if np.array_equal(rows, np.arange(first, first + len(rows))):
                return column[first : first + len(rows)]
        return column.take(rows, axis=0)
    return column.take(rows)


class _PassesNode(Node):
    """`shuffle` of rows `start:stop` with a buffer holding them all, optionally
    under `repeat`: each pass is one permutation. Positions are the ones of
    the `shuffle` (and `repeat`) it stands for."""

    def __init__(
        self, shuffle: ShuffleNode, start: int, stop: int, repeat: RepeatNode | None
    ) -> None:
        self.shuffle = shuffle
        self.start = start
        self.stop = stop
        self.repeat = repeat
        self.parent = None

    @property
    def depth(self) -> int:
        return (self.repeat or self.shuffle).depth

    def describe(self) -> str:
        return "passes"

    def cardinality(self) -> int:
        raise NotImplementedError  # only iterated

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _PassesIterator(self, context, state)


class _PassesIterator(NodeIterator):
    def __init__(
        self, node: _PassesNode, context: Context, state: dict[str, Any] | None
    ) -> None:
        self._node = node
        self._rows = node.stop - node.start
        self._context = context
        self._count = None if node.repeat is None else node.repeat.count
        self._fixed: np.ndarray | None = None  # the one order, without reshuffling
        self._generators = PassGenerators(node.shuffle, context)
        if node.repeat is None:
            self._epoch, self._finished = 0, False
            self._emitted = 0 if state is None else int(state["emitted"])
            self._count = 1
            return
        self._epoch = 0 if state is None else int(state["epoch"])
        parent = None if state is None else state["parent"]
        self._finished = self._count is not None and self._epoch >= self._count
        self._emitted = 0 if parent is None else int(parent["emitted"])

    def state(self) -> dict[str, Any]:
        if self._node.repeat is None:
            return {"emitted": self._emitted}
        parent = None if self._finished else {"emitted": self._emitted}
        return {"epoch": self._epoch, "parent": parent}

    def __next__(self) -> Block:
        pieces = self.next_many(1)
        if not pieces:
            raise StopIteration
        return pieces[0][1]

    def next_many(self, rows: int) -> list[tuple[Any, Block]]:
        """The rest of the current pass and whole passes, at least `rows` rows,
        as one block with the position before each pass (`Segments`)."""
        if self._finished:
            return []
        size, epoch, emitted = self._rows, self._epoch, self._emitted
        if self._node.repeat is None:
            if emitted == size:
                return []
            order = self._passes(epoch, 1)[0][emitted:]
            self._emitted = size
            return [({"emitted": emitted}, Block(0, (order,)))]
        rest = size - emitted
        more = max(-(-(rows - rest) // size), 0)
        if self._count is not None:
            more = min(more, self._count - 1 - epoch)
        if not rest and more <= 0:
            if self._count is not None and epoch + 1 >= self._count:
                self._epoch += 1  # like repeat: the end is found when asked for more
                self._finished = True
            return []
        orders = self._passes(epoch + 1, more) if more > 0 else []
        if rest:
            orders.insert(0, self._passes(epoch, 1)[0][emitted:])
        first_anchor = {"epoch": epoch, "parent": {"emitted": emitted}}

        def anchor(part: int) -> dict[str, Any]:
            if part == 0:
                return first_anchor
            # Part i >= 1 is pass `epoch + i` (after a rest) or `epoch + 1 + i`;
            # before it, the pass before it has emitted all its rows.
            passed = epoch + part - (1 if rest else 0)
            return {"epoch": passed, "parent": {"emitted": size}}

        self._epoch, self._emitted = epoch + max(more, 0), size
        joined = orders[0] if len(orders) == 1 else np.concatenate(orders)
        return [(Segments(anchor, rest, size), Block(0, (joined,)))]

    def _passes(self, first: int, count: int) -> list[np.ndarray]:
        """The row orders of passes `first .. first + count - 1`."""
        shuffle, start, size = self._node.shuffle, self._node.start, self._rows
        if not shuffle.reshuffle or self._node.repeat is None:
            if self._fixed is None:
                self._fixed = shuffle.rng(self._context).permutation(size) + start
            return [self._fixed] * count
        orders = [rng.permutation(size) for rng in self._generators(first, count)]
        return orders if not start else [order + start for order in orders]
