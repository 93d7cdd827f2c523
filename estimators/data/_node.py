"""The stage protocol every pipeline step implements.

A `Dataset` is a chain of immutable `Node`s, from a source to the last
transformation. Iterating opens one `NodeIterator` per node; each pulls
`Block`s from its parent's iterator.

Position: `NodeIterator.state()` is a small JSON-able dict naming the position
*after the last block it returned*, and `Node.open(context, state)` resumes
exactly there. A stage that consumes part of its parent's block records the
parent's state before that block (its *anchor*) plus the rows already used
(`skip`). Restoring never depends on how the rows were cut into blocks, except
for `shuffle`, which replays from its own start (see shuffle.py).
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from estimators.data._block import Block

__all__ = ["INFINITE", "UNKNOWN", "Context", "Node", "NodeIterator"]

INFINITE = -1
UNKNOWN = -2


@dataclass(frozen=True)
class Context:
    """What an iterator needs besides its state: randomness and epoch path.

    Attributes:
        seed: The iterator's base seed (drawn once per top-level iterator and
            saved in its state), used by shuffles given no seed.
        epochs: The epoch number of every enclosing `repeat`, outermost first,
            so each pass of a repeated shuffle can reshuffle.
    """

    seed: int
    epochs: tuple[int, ...] = ()

    def in_epoch(self, epoch: int) -> Context:
        return Context(self.seed, (*self.epochs, epoch))


class NodeIterator(abc.ABC, Iterator[Block]):
    """Pulls blocks of one stage; never returns an empty block."""

    @abc.abstractmethod
    def __next__(self) -> Block: ...

    @abc.abstractmethod
    def state(self) -> dict[str, Any]:
        """The position after the last block returned (JSON-able)."""

    def close(self) -> None:
        """Releases resources (threads, files) of this stage and its parents."""


class Node(abc.ABC):
    """One stage of a pipeline.

    Attributes:
        parent: The stage it reads from (`None` for a source).
        batched: Whether its blocks are whole elements (after `batch`) rather
            than runs of rows.
        transparent: Stages that change no row nor position (prefetch) are left
            out of the pipeline description, so a state saved with or without
            them restores in either.
    """

    parent: Node | None = None
    batched: bool = False
    transparent: bool = False

    @property
    def depth(self) -> int:
        """Stages below this one, transparent ones not counted (so adding or
        removing a prefetch changes no shuffle's draws)."""
        if self.parent is None:
            return 0
        return self.parent.depth + (0 if self.parent.transparent else 1)

    def with_parent(self, parent: Node) -> Node:
        """The same stage reading from `parent` instead."""
        clone = copy.copy(self)
        clone.parent = parent
        return clone

    @abc.abstractmethod
    def describe(self) -> str:
        """A short readable name with its arguments: `shuffle(buffer_size=8)`."""

    def fingerprint(self) -> Any:
        """JSON-able details beyond `describe` that a saved state must match."""
        return None

    def identity(self) -> dict[str, str] | None:
        """The data a position refers to: readable name (a column, a file) ->
        `key=value` fields that change with its content (see `_identity`).
        Sources have one; a saved state must match it as it must match
        `fingerprint`, and when it does not, the message names what changed."""
        return None

    @abc.abstractmethod
    def cardinality(self) -> int:
        """Number of elements (rows before `batch`), `INFINITE` or `UNKNOWN`."""

    @abc.abstractmethod
    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        """Starts iterating, at `state` or at the beginning."""

    def chain(self) -> list[Node]:
        """This stage and all before it, source first."""
        nodes: list[Node] = []
        node: Node | None = self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]
