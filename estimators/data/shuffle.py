"""`shuffle`: tf.data's shuffle buffer, vectorised over blocks of rows.

tf.data fills a buffer with `buffer_size` elements; then, for each new input
element, it emits a uniformly chosen buffer slot and puts the new element in
that slot; once the input ends it emits what is left in random order. The
choice of slots does not depend on the data, so a whole block of incoming rows
is handled at once (`replace_rows`): draw all slots, find for each draw the row
last written to that slot (a stable sort by slot), then gather. The output is
exactly that of the one-row-at-a-time algorithm for the same draws.

Position: a buffer can hold rows from anywhere earlier in the pass, so the
state is only the number of rows emitted, and a restore replays the shuffle
from the start of its input (same seed, same draws) and drops that many rows.
That costs reading up to one pass again when the shuffle comes before
`repeat` (the usual order); after `repeat` it replays every earlier epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from estimators.data._block import Block, concat
from estimators.data._node import Context, Node, NodeIterator

__all__ = ["ShuffleNode", "replace_rows"]


def replace_rows(
    buffer: Block, incoming: Block, rng: np.random.Generator
) -> tuple[Block, Block]:
    """One step of the shuffle buffer for a whole block of incoming rows.

    Args:
        buffer: The full buffer (its row order is the slot order).
        incoming: The next input rows, in order.
        rng: Source of the slot draws (one per incoming row).

    Returns:
        `(emitted, buffer)`: the rows emitted, as many as came in, and the
        buffer after all of them were written.

    Example:
        >>> import numpy as np
        >>> from estimators.data._block import Block
        >>> rows = lambda *v: Block(0, (np.array(v),))
        >>> out, buf = replace_rows(rows(0), rows(1, 2), np.random.default_rng(0))
        >>> out.columns[0].tolist(), buf.columns[0].tolist()  # one slot: in order
        ([0, 1], [2])
    """
    size, count = buffer.num_rows, incoming.num_rows
    slots = rng.integers(0, size, size=count)
    # Stable sorting of 16-bit keys is a radix sort: 7x faster than int64.
    keys = slots.astype(np.uint16) if size <= 1 << 16 else slots
    order = np.argsort(keys, kind="stable")
    by_slot = slots[order]
    revisit = by_slot[1:] == by_slot[:-1]
    # First visit of a slot emits the buffer's row; a later visit emits the row
    # that the previous visit wrote (pool index size + its input position).
    source = by_slot.copy()
    source[1:][revisit] = size + order[:-1][revisit]
    emitted = np.empty(count, np.int64)
    emitted[order] = source
    last_visit = np.append(~revisit, True)
    kept = np.arange(size)
    kept[by_slot[last_visit]] = size + order[last_visit]
    pool = concat([buffer, incoming])
    return pool.take(emitted), pool.take(kept)


class ShuffleNode(Node):
    """Shuffles rows (before `batch`) or elements (after) with a buffer."""

    def __init__(
        self,
        parent: Node,
        buffer_size: int,
        seed: int | None,
        reshuffle_each_iteration: bool,
    ) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.buffer_size = buffer_size
        self.seed = seed
        self.reshuffle = reshuffle_each_iteration

    def describe(self) -> str:
        return (
            f"shuffle({self.buffer_size}, seed={self.seed}, "
            f"reshuffle_each_iteration={self.reshuffle})"
        )

    def cardinality(self) -> int:
        return self.parent.cardinality()

    def rng(self, context: Context) -> np.random.Generator:
        """Same seed, same stage and (when reshuffling) same epochs: same draws."""
        given = self.seed is not None
        entropy = [
            int(given),
            (self.seed if given else context.seed) % 2**64,
            self.depth,
        ]
        if self.reshuffle:
            entropy += list(context.epochs)
        return np.random.default_rng(np.random.SeedSequence(entropy))

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        kind = _ElementShuffle if self.batched else _RowShuffle
        iterator = kind(self, context)
        if state is not None:
            iterator.fast_forward(int(state["emitted"]))
        return iterator


class _Shuffle(NodeIterator):
    def __init__(self, node: ShuffleNode, context: Context) -> None:
        self._size = node.buffer_size
        self._rng = node.rng(context)
        self._parent = node.parent.open(context, None)
        self._parent_done = False
        self._out: list[Block] = []
        self._emitted = 0

    def _step(self) -> None:
        raise NotImplementedError

    def _units(self, block: Block) -> int:
        raise NotImplementedError

    def __next__(self) -> Block:
        while not self._out:
            if self._parent_done:
                raise StopIteration
            self._step()
        block = self._out.pop(0)
        self._emitted += self._units(block)
        return block

    def fast_forward(self, emitted: int) -> None:
        """Replays from the start and drops the first `emitted` rows/elements."""
        while self._emitted < emitted:
            block = next(self, None)
            if block is None:
                return
            extra = self._emitted - emitted
            if extra > 0:  # only for rows; elements are never split
                self._out.insert(0, block.slice(block.num_rows - extra, block.num_rows))
                self._emitted = emitted

    def state(self) -> dict[str, Any]:
        return {"emitted": self._emitted}

    def close(self) -> None:
        self._parent.close()


class _RowShuffle(_Shuffle):
    def __init__(self, node: ShuffleNode, context: Context) -> None:
        super().__init__(node, context)
        self._buffer: Block | None = None

    def _units(self, block: Block) -> int:
        return block.num_rows

    def _step(self) -> None:
        buffered = 0 if self._buffer is None else self._buffer.num_rows
        fill = self._size - buffered
        # Take at least buffer_size new rows per step, so rebuilding the buffer
        # costs at most as much as the rows it emits.
        parts, rows = [], 0
        while rows < fill + self._size:
            block = next(self._parent, None)
            if block is None:
                self._parent_done = True
                break
            parts.append(block)
            rows += block.num_rows
        if parts:
            incoming = concat(parts)
            if fill:
                head = incoming.slice(0, fill)
                self._buffer = (
                    head if self._buffer is None else concat([self._buffer, head])
                )
                incoming = incoming.slice(fill, incoming.num_rows)
            if incoming.num_rows:
                assert self._buffer is not None
                emitted, self._buffer = replace_rows(self._buffer, incoming, self._rng)
                self._out.append(emitted)
        if self._parent_done and self._buffer is not None:
            self._out.append(
                self._buffer.take(self._rng.permutation(self._buffer.num_rows))
            )
            self._buffer = None


class _ElementShuffle(_Shuffle):
    def __init__(self, node: ShuffleNode, context: Context) -> None:
        super().__init__(node, context)
        self._buffer: list[Block] = []

    def _units(self, block: Block) -> int:
        return 1

    def _step(self) -> None:
        while len(self._buffer) < self._size:
            block = next(self._parent, None)
            if block is None:
                self._parent_done = True
                break
            self._buffer.append(block)
        if not self._parent_done:
            block = next(self._parent, None)
            if block is not None:
                slot = int(self._rng.integers(0, self._size))
                self._out.append(self._buffer[slot])
                self._buffer[slot] = block
                return
            self._parent_done = True
        order = self._rng.permutation(len(self._buffer))
        self._out.extend(self._buffer[i] for i in order)
        self._buffer = []
