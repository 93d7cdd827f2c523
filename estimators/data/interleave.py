"""`interleave`: rows of many inner datasets, `block_length` at a time in turn.

tf.data's deterministic interleave: `cycle_length` slots, each holding the
dataset `map_func` made of one input row; the current slot gives up to
`block_length` rows, then the next slot; an empty slot takes the next input
row. When every slot is open and has rows buffered, many whole rounds are
produced at once with one gather. The position names the input's position,
each slot's input row (its position) and the slot's own position.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from estimators.data._block import Block, concat, first_row
from estimators.data._node import UNKNOWN, Context, Node, NodeIterator
from estimators.data._rows import RowReader

__all__ = ["InterleaveNode"]

_ROUND_ROWS = 4096  # rows buffered per inner dataset for a vectorised round


def _name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class InterleaveNode(Node):
    """`map_func(element)` datasets read `block_length` rows at a time in turn,
    `cycle_length` of them open at once (tf.data's deterministic interleave)."""

    def __init__(
        self,
        parent: Node,
        map_func: Callable[..., Any],
        cycle_length: int | None,
        block_length: int,
        node_of: Callable[[Any], Node | None],
    ) -> None:
        if parent.batched:
            raise ValueError(
                "interleave() maps each row to a dataset; call it before batch()."
            )
        self.parent = parent
        self.map_func = map_func
        self.cycle_length = cycle_length or os.cpu_count() or 1
        self.block_length = block_length
        self.node_of = node_of  # a Dataset's last stage, or None for anything else

    def describe(self) -> str:
        return (
            f"interleave({_name(self.map_func)}, cycle_length={self.cycle_length}, "
            f"block_length={self.block_length})"
        )

    def cardinality(self) -> int:
        return 0 if self.parent.cardinality() == 0 else UNKNOWN

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _InterleaveIterator(self, context, state)

    def inner(self, element: Any) -> Node:
        func = self.map_func
        result = func(*element) if isinstance(element, tuple) else func(element)
        node = self.node_of(result)
        if node is None:
            raise TypeError(
                f"interleave(): map_func {_name(func)} must return a Dataset, got "
                f"{type(result).__name__}."
            )
        if node.batched:
            raise ValueError(
                f"interleave(): map_func {_name(func)} returned a batched dataset; "
                "interleave rows and batch() after interleave."
            )
        return node


class _Slot:
    __slots__ = ("element", "index", "rows")

    def __init__(self, element: Any, index: int, rows: RowReader) -> None:
        self.element = element  # the outer position before this slot's element
        self.index = index  # the element's number, for its own random draws
        self.rows = rows


class _InterleaveIterator(NodeIterator):
    def __init__(
        self, node: InterleaveNode, context: Context, state: dict[str, Any] | None
    ) -> None:
        self._node = node
        self._context = context
        self._cycle, self._block, self._opened = 0, 0, 0
        self._outer = RowReader(
            node.parent, context, None if state is None else state["outer"]
        )
        self._outer_ended = False
        self._slots: list[_Slot | None] = [None] * node.cycle_length
        if state is not None:
            self._cycle, self._block = int(state["cycle"]), int(state["block"])
            self._opened = int(state["opened"])
            self._outer_ended = bool(state["outer_ended"])
            for i, saved in enumerate(state["slots"]):
                if saved is not None:
                    element = first_row(
                        RowReader(node.parent, context, saved["element"]).take(1)
                    )
                    self._slots[i] = self._make_slot(
                        saved["element"], int(saved["index"]), element, saved["rows"]
                    )

    def _make_slot(self, anchor: Any, index: int, element: Any, state: Any) -> _Slot:
        inner = self._node.inner(element)
        context = self._context.in_epoch(index)
        return _Slot(anchor, index, RowReader(inner, context, state))

    def state(self) -> dict[str, Any]:
        return {
            "outer": self._outer.state(),
            "outer_ended": self._outer_ended,
            "opened": self._opened,
            "cycle": self._cycle,
            "block": self._block,
            "slots": [
                None
                if s is None
                else {"element": s.element, "index": s.index, "rows": s.rows.state()}
                for s in self._slots
            ],
        }

    def __next__(self) -> Block:
        while True:
            block = self._round() or self._step()
            if block is not None:
                return block
            if self._outer_ended and all(s is None for s in self._slots):
                raise StopIteration

    def _round(self) -> Block | None:
        """Many whole rounds at once, when every slot is open with rows buffered."""
        if self._cycle or self._block or any(s is None for s in self._slots):
            return None
        length = self._node.block_length
        rounds = min(
            s.rows.fill(_ROUND_ROWS) // length for s in self._slots if s is not None
        )
        if rounds < 1:
            return None
        parts = [s.rows.take(rounds * length) for s in self._slots if s is not None]
        joined = concat(parts)  # slot after slot
        cycle = len(parts)
        if cycle == 1:
            return joined
        order = (
            np.arange(cycle * rounds * length)
            .reshape(cycle, rounds, length)
            .transpose(1, 0, 2)
            .reshape(-1)
        )
        return joined.take(order)

    def _step(self) -> Block | None:
        """One move of tf's interleave loop; rows only when a slot gave some."""
        slot = self._slots[self._cycle]
        length = self._node.block_length
        if slot is not None:
            block = slot.rows.take(length - self._block)
            if block is None:
                slot.rows.close()
                self._slots[self._cycle] = None
                self._advance()
                return None
            self._block += block.num_rows
            if self._block == length:
                self._advance()
            return block
        if not self._outer_ended:
            anchor = self._outer.state()
            taken = self._outer.take(1)
            if taken is None:
                self._outer_ended = True
                return None
            self._slots[self._cycle] = self._make_slot(
                anchor, self._opened, first_row(taken), None
            )
            self._opened += 1
            return None
        self._advance()
        return None

    def _advance(self) -> None:
        self._block = 0
        self._cycle = (self._cycle + 1) % len(self._slots)

    def close(self) -> None:
        self._outer.close()
        for slot in self._slots:
            if slot is not None:
                slot.rows.close()
