"""Stages that combine datasets: `zip`, `concatenate` and `interleave`.

Rows travel in blocks here too. `zip` cuts every input at the same row
counts and joins the columns; `interleave` takes `block_length` rows from each
open inner dataset in turn, and when every one has enough rows buffered it
produces many rounds at once with one gather. Positions nest the inputs'
positions (`RowReader` positions for inputs read as rows).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from estimators.data._block import Block, concat, first_row
from estimators.data._node import INFINITE, UNKNOWN, Context, Node, NodeIterator
from estimators.data._rows import RowReader
from estimators.data._structure import Spec

__all__ = ["ConcatenateNode", "InterleaveNode", "ZipNode"]

_ROUND_ROWS = 4096  # rows buffered per inner dataset for a vectorised round


def shift(spec: Spec, offset: int) -> Spec:
    """`spec` with every leaf index moved by `offset`."""
    if spec is None:
        return None
    if isinstance(spec, int):
        return spec + offset
    kind, items = spec
    if kind == "dict":
        return ("dict", tuple((k, shift(v, offset)) for k, v in items))
    return ("tuple", tuple(shift(v, offset) for v in items))


def _nest(structure: Spec, specs: list[Spec]) -> Spec:
    """`structure` with leaf `i` replaced by `specs[i]`."""
    if structure is None:
        return None
    if isinstance(structure, int):
        return specs[structure]
    kind, items = structure
    if kind == "dict":
        return ("dict", tuple((k, _nest(v, specs)) for k, v in items))
    return ("tuple", tuple(_nest(v, specs) for v in items))


class ZipNode(Node):
    """Elements of several datasets side by side, as `structure` nests them.

    Args:
        children: The datasets' last stages.
        structure: A spec whose leaf `i` is child `i`'s element.
    """

    def __init__(self, children: list[Node], structure: Spec) -> None:
        kinds = {child.batched for child in children}
        if len(kinds) > 1:
            raise ValueError(
                "zip(): every dataset must be batched, or none (they are "
                f"{['batched' if c.batched else 'rows' for c in children]})."
            )
        self.children = children
        self.structure = structure
        self.batched = kinds.pop()
        self.parent = None

    @property
    def depth(self) -> int:
        return max(child.depth for child in self.children) + 1

    def describe(self) -> str:
        inner = ", ".join(
            ".".join(n.describe() for n in c.chain() if not n.transparent)
            for c in self.children
        )
        return f"zip({inner})"

    def fingerprint(self) -> Any:
        return [n.fingerprint() for c in self.children for n in c.chain()]

    def cardinality(self) -> int:
        counts = [child.cardinality() for child in self.children]
        finite = [c for c in counts if c >= 0]
        if finite:
            return min(finite) if UNKNOWN not in counts else UNKNOWN
        return UNKNOWN if UNKNOWN in counts else INFINITE

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _ZipIterator(self, context, state)


class _ZipIterator(NodeIterator):
    def __init__(
        self, node: ZipNode, context: Context, state: dict[str, Any] | None
    ) -> None:
        self._node = node
        states = [None] * len(node.children) if state is None else state["inputs"]
        if node.batched:
            self._parts: list[Any] = [
                c.open(context, s) for c, s in zip(node.children, states, strict=True)
            ]
        else:
            self._parts = [
                RowReader(c, context, s)
                for c, s in zip(node.children, states, strict=True)
            ]

    def __next__(self) -> Block:
        if self._node.batched:
            blocks = [next(part) for part in self._parts]
        else:
            rows = min(part.fill(1) for part in self._parts)
            if rows == 0:
                raise StopIteration
            rows = min(part.available for part in self._parts)
            blocks = [part.take(rows) for part in self._parts]
        specs, columns, offset = [], [], 0
        for block in blocks:
            specs.append(shift(block.spec, offset))
            columns.extend(block.columns)
            offset += len(block.columns)
        return Block(_nest(self._node.structure, specs), tuple(columns))

    def state(self) -> dict[str, Any]:
        return {"inputs": [part.state() for part in self._parts]}

    def close(self) -> None:
        for part in self._parts:
            part.close()


class ConcatenateNode(Node):
    """The elements of `first`, then those of `second`."""

    def __init__(self, first: Node, second: Node) -> None:
        if first.batched != second.batched:
            raise ValueError(
                "concatenate(): both datasets must be batched, or neither."
            )
        self.parent = first
        self.second = second
        self.batched = first.batched

    def describe(self) -> str:
        other = ".".join(n.describe() for n in self.second.chain() if not n.transparent)
        return f"concatenate({other})"

    def fingerprint(self) -> Any:
        return [n.fingerprint() for n in self.second.chain()]

    def cardinality(self) -> int:
        a, b = self.parent.cardinality(), self.second.cardinality()
        if INFINITE in (a, b):
            return INFINITE
        return UNKNOWN if UNKNOWN in (a, b) else a + b

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _ConcatenateIterator(self, context, state)


class _ConcatenateIterator(NodeIterator):
    def __init__(
        self, node: ConcatenateNode, context: Context, state: dict[str, Any] | None
    ) -> None:
        self._node = node
        self._context = context
        self._part = 0 if state is None else int(state["part"])
        inner = None if state is None else state["input"]
        source = node.parent if self._part == 0 else node.second
        self._input: NodeIterator | None = (
            source.open(context, inner) if self._part < 2 else None
        )
        self._spec: Spec | None = None

    def __next__(self) -> Block:
        while self._input is not None:
            block = next(self._input, None)
            if block is not None:
                if self._spec is None:
                    self._spec = block.spec
                elif block.spec != self._spec:
                    raise ValueError(
                        "concatenate(): the datasets' elements differ in structure "
                        f"({self._spec!r} then {block.spec!r})."
                    )
                return block
            self._input.close()
            self._part += 1
            self._input = (
                self._node.second.open(self._context, None) if self._part == 1 else None
            )
        raise StopIteration

    def state(self) -> dict[str, Any]:
        inner = None if self._input is None else self._input.state()
        return {"part": self._part, "input": inner}

    def close(self) -> None:
        if self._input is not None:
            self._input.close()


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
    ) -> None:
        if parent.batched:
            raise ValueError(
                "interleave() maps each row to a dataset; call it before batch()."
            )
        self.parent = parent
        self.map_func = map_func
        self.cycle_length = cycle_length or os.cpu_count() or 1
        self.block_length = block_length

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
        from estimators.data.dataset import Dataset

        func = self.map_func
        result = func(*element) if isinstance(element, tuple) else func(element)
        if not isinstance(result, Dataset):
            raise TypeError(
                f"interleave(): map_func {_name(func)} must return a Dataset, got "
                f"{type(result).__name__}."
            )
        node = result._node
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
