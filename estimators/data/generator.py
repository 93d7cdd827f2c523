"""`from_generator`: elements from a Python generator, gathered into blocks.

The generator yields one element at a time (tf's contract); they are gathered
`chunk_rows` at a time into columns: numbers of one shape become a numpy
array, strings an Arrow string array, and rows of varying length an Arrow list
array (for `padded_batch`). A generator cannot be rewound, so its position
cannot be saved: the state says so and `set_state` refuses it with a
`ValueError` (the Estimator then starts the input afresh).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._block import Block, Column
from estimators.data._node import UNKNOWN, Context, Node, NodeIterator
from estimators.data._structure import Spec, flatten, leaf_names

__all__ = ["GeneratorSource"]

_CHUNK_ROWS = 1024


def _name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class GeneratorSource(Node):
    """Rows from `generator(*args)`, cast to `dtypes` (one per leaf) if given."""

    def __init__(
        self,
        generator: Callable[..., Any],
        args: Sequence[Any],
        dtypes: list[Any] | None,
        chunk_rows: int = _CHUNK_ROWS,
    ) -> None:
        self.generator = generator
        self.args = tuple(args)
        self.dtypes = dtypes
        self.chunk_rows = chunk_rows

    def describe(self) -> str:
        return f"from_generator({_name(self.generator)})"

    def cardinality(self) -> int:
        return UNKNOWN

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _GeneratorIterator(self)


class _GeneratorIterator(NodeIterator):
    def __init__(self, node: GeneratorSource) -> None:
        self._node = node
        self._rows: Any = None
        self._spec: Spec | None = None

    def __next__(self) -> Block:
        if self._rows is None:
            self._rows = iter(self._node.generator(*self._node.args))
        leaves: list[list[Any]] = []
        for element in self._rows:
            spec, values = flatten(element)
            if self._spec is None:
                self._spec = spec
            elif spec != self._spec:
                raise ValueError(
                    f"from_generator({_name(self._node.generator)}): an element has "
                    f"structure {spec!r}, the first had {self._spec!r}."
                )
            if not leaves:
                leaves = [[] for _ in values]
            for column, value in zip(leaves, values, strict=True):
                column.append(value)
            if len(leaves[0]) >= self._node.chunk_rows:
                break
        if not leaves:
            raise StopIteration
        names = leaf_names(self._spec)
        dtypes = self._node.dtypes or [None] * len(leaves)
        if len(dtypes) != len(leaves):
            raise ValueError(
                f"from_generator: output_types has {len(dtypes)} entries, the "
                f"elements have {len(leaves)} ({', '.join(names)})."
            )
        return Block(
            self._spec,
            tuple(
                _column(v, n, d) for v, n, d in zip(leaves, names, dtypes, strict=True)
            ),
        )

    def state(self) -> dict[str, Any]:
        return {
            "unsaveable": (
                f"from_generator({_name(self._node.generator)}) reads a Python "
                "generator, which cannot be rewound; the input starts again from "
                "its beginning."
            )
        }


def _column(values: list[Any], name: str, dtype: Any) -> Column:
    kind = _dtype(dtype)
    if kind == "string" or isinstance(values[0], str | bytes):
        return pa.array([v.decode() if isinstance(v, bytes) else v for v in values])
    arrays = [np.asarray(v, dtype=kind) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1:
        return np.stack(arrays) if arrays[0].ndim else np.asarray(arrays, dtype=kind)
    if any(a.ndim != 1 for a in arrays):
        raise ValueError(
            f"from_generator: {name!r} has rows of shapes {sorted(shapes)[:3]}...; "
            "rows may vary only in length (one axis)."
        )
    return pa.array(arrays, type=pa.list_(pa.from_numpy_dtype(arrays[0].dtype)))


def _dtype(dtype: Any) -> Any:
    """A numpy dtype, "string", or None, from numpy / tf-style dtype objects."""
    if dtype is None:
        return None
    if not isinstance(dtype, type) and hasattr(dtype, "shape"):
        dtype = dtype.dtype  # a TensorSpec-like object
    name = getattr(dtype, "name", dtype) if not isinstance(dtype, type) else dtype
    if name in ("string", str, "str", bytes):
        return "string"
    return np.dtype(name)
