"""Stages that combine datasets: `zip` and `concatenate`.

Rows travel in blocks here too. `zip` cuts every input at the same row
counts and joins the columns. Positions nest the inputs' positions
(`RowReader` positions for inputs read as rows).
"""

from __future__ import annotations

from typing import Any

from estimators.data._block import Block
from estimators.data._node import INFINITE, UNKNOWN, Context, Node, NodeIterator
from estimators.data._rows import RowReader
from estimators.data._structure import Spec

__all__ = ["ConcatenateNode", "ZipNode", "shift"]


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


def _identities(inputs: Any) -> dict[str, str] | None:
    """The identities of datasets' sources, each name prefixed with a label."""
    found = {
        f"{label} {name}": value
        for label, node in inputs
        for step in node.chain()
        for name, value in (step.identity() or {}).items()
    }
    return found or None


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

    def identity(self) -> dict[str, str] | None:
        return _identities((f"zip input {i}", c) for i, c in enumerate(self.children))

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

    def identity(self) -> dict[str, str] | None:
        return _identities([("concatenated", self.second)])

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
