"""Nested elements (dicts and tuples of columns) flattened to a list of columns.

A *spec* describes the nesting: a leaf is the index of its column, `None` stays
`None`, and containers are `("dict", ((key, spec), ...))` or
`("tuple", (spec, ...))`. Specs are plain tuples, so they compare and hash
cheaply and two blocks can be checked for the same layout with `==`. Dicts keep
their insertion order (a Parquet file's column order survives).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Spec", "flatten", "pack", "leaf_names"]

Spec = Any  # int | None | tuple[str, tuple]


def flatten(value: Any) -> tuple[Spec, list[Any]]:
    """Splits a nested value into its spec and its leaves, in spec order."""
    leaves: list[Any] = []

    def walk(node: Any) -> Spec:
        if node is None:
            return None
        if isinstance(node, Mapping):
            return ("dict", tuple((key, walk(item)) for key, item in node.items()))
        if isinstance(node, tuple):
            return ("tuple", tuple(walk(item) for item in node))
        leaves.append(node)
        return len(leaves) - 1

    return walk(value), leaves


def pack(spec: Spec, columns: Sequence[Any]) -> Any:
    """Rebuilds the nested value that `spec` describes from its columns."""
    if spec is None:
        return None
    if isinstance(spec, int):
        return columns[spec]
    kind, items = spec
    if kind == "dict":
        return {key: pack(item, columns) for key, item in items}
    return tuple(pack(item, columns) for item in items)


def leaf_names(spec: Spec) -> list[str]:
    """Readable names of the leaves, in column order, for error messages.

    A features dict's leaves are its keys (`'age'`); inside a tuple they carry
    the position (`[0]['age']`, `[1]`).
    """
    names: dict[int, str] = {}

    def walk(node: Spec, prefix: str, top: bool) -> None:
        if node is None:
            return
        if isinstance(node, int):
            names[node] = prefix or "<element>"
            return
        kind, items = node
        if kind == "dict":
            for key, item in items:
                walk(item, str(key) if top else f"{prefix}[{key!r}]", False)
        else:
            for position, item in enumerate(items):
                walk(item, f"{prefix}[{position}]", False)

    walk(spec, "", True)
    return [names[i] for i in sorted(names)]
