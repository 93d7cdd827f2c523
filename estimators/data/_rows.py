"""`RowReader`: a parent stage read as a stream of rows, with its position.

Stages that cut their parent's rows at places of their own (`batch`, `zip`,
`interleave`) read through one. It keeps the blocks pulled but not yet used,
each with the parent's position before it (its *anchor*), so its position is
always `{"anchor": <parent position before the first unused row's block>,
"skip": <rows of that block already used>}`, however far it has read ahead.
Restoring opens the parent at the anchor and drops `skip` rows, whatever
blocks the parent then gives.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from estimators.data._block import Block, concat
from estimators.data._node import Context, Node, NodeIterator

__all__ = ["RowReader", "Segments"]


class Segments:
    """The anchors inside a block that joins several of the parent's blocks.

    A parent may hand over many of its blocks as one (`next_many`) to save
    the per-block work; the reader's position must still name the block that
    holds the next row. The block is a first part of `first` rows, then parts
    of `size` rows; `anchor(i)` is the parent's position before part `i`.
    """

    __slots__ = ("anchor", "first", "size")

    def __init__(self, anchor: Any, first: int, size: int) -> None:
        self.anchor = anchor
        self.first = first
        self.size = size

    def locate(self, offset: int) -> tuple[Any, int]:
        """`(anchor, skip)` of row `offset` of the joined block."""
        if offset < self.first:
            return self.anchor(0), offset
        part, skip = divmod(offset - self.first, self.size)
        return self.anchor(part + (1 if self.first else 0)), skip


class RowReader:
    """Reads rows of `node` from `state` (a position this reader gave) on."""

    def __init__(
        self, node: Node, context: Context, state: dict[str, Any] | None
    ) -> None:
        self.parent: NodeIterator = node.open(
            context, None if state is None else state["anchor"]
        )
        self._pending: deque[tuple[Any, Block]] = deque()
        self._skip = 0 if state is None else int(state["skip"])
        self._available = -self._skip  # rows pulled and not used
        self.ended = False
        self._end: Any = None

    @property
    def available(self) -> int:
        return max(self._available, 0)

    def fill(self, rows: int) -> int:
        """Pulls blocks until `rows` rows are unused or the parent ends."""
        while self._available < rows and not self.ended:
            anchor = self.parent.state()
            many = getattr(self.parent, "next_many", None)
            if many is not None:
                pieces = many(rows - self._available)
            else:
                block = next(self.parent, None)
                pieces = [] if block is None else [(anchor, block)]
            if not pieces:
                # The position before the failed pull: what a reader that
                # stopped just short of the end reports too.
                self.ended, self._end = True, anchor
            for anchor, block in pieces:
                self._pending.append((anchor, block))
                self._available += len(block.columns[0])
            if self._skip:
                self._drop_used()
        return self.available

    def _drop_used(self) -> None:
        while self._pending and self._skip >= self._pending[0][1].num_rows:
            self._skip -= self._pending.popleft()[1].num_rows

    def take(self, rows: int) -> Block | None:
        """The next `rows` rows (fewer at the end), or None when none is left."""
        self.fill(rows)
        if self._available <= 0:
            return None
        parts: list[Block] = []
        need = min(rows, self._available)
        self._available -= need
        pending = self._pending
        while need and not self._skip:  # whole blocks: no slicing
            block = pending[0][1]
            rows = len(block.columns[0])
            if rows > need:
                break
            parts.append(block)
            pending.popleft()
            need -= rows
        while need:
            block = pending[0][1]
            stop = min(self._skip + need, block.num_rows)
            parts.append(block.slice(self._skip, stop))
            need -= stop - self._skip
            self._skip = stop
            if stop == block.num_rows:
                self._pending.popleft()
                self._skip = 0
        return concat(parts)

    def discard(self) -> None:
        """Forgets the rows pulled but not used (after a dropped remainder)."""
        self._pending.clear()
        self._available = self._skip = 0

    def state(self) -> dict[str, Any]:
        if self._pending:
            anchor, skip = self._pending[0][0], self._skip
            if isinstance(anchor, Segments):
                anchor, skip = anchor.locate(skip)
            return {"anchor": anchor, "skip": skip}
        anchor = self._end if self.ended else self.parent.state()
        return {"anchor": anchor, "skip": max(self._skip, 0)}

    def close(self) -> None:
        self.parent.close()
