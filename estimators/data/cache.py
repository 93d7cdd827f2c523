"""`cache`: keep the blocks of the first complete pass, in memory or in a file.

The first iterator to read its parent to the end stores what it read; later
passes (the next epoch of an enclosing `repeat`, a new iterator, `evaluate`
after `train`) are served from the store. The parent is always read as in the
first pass of every enclosing `repeat`, so a cached pass is the same however
and whenever it was filled.

`cache(filename)` streams the first pass into an Arrow IPC file (written under
a temporary name and renamed when the pass is complete), which later passes,
iterators and processes memory-map instead of reading the parent: a file left
by an earlier run is used as it is, as tf.data does. Delete it to refill.

Position: the rows (elements after `batch`) of the pass already given. A
restore serves them from the store, or, when nothing is stored yet, reads the
parent again from its start (filling the store) and drops them.
"""

from __future__ import annotations

import copy
import json
import os
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._block import Block, Column
from estimators.data._node import Context, Node, NodeIterator

__all__ = ["CacheNode"]


class CacheNode(Node):
    """Reads the parent once; serves every later pass from memory or a file."""

    def __init__(self, parent: Node, filename: str = "") -> None:
        self.parent = parent
        self.batched = parent.batched
        self.filename = os.fspath(filename)
        self.store: Sequence[Block] | None = None

    def with_parent(self, parent: Node) -> Node:
        clone = copy.copy(self)
        clone.parent = parent
        clone.filename = ""  # another input (row numbers): its own cache
        clone.store = None
        return clone

    def describe(self) -> str:
        return f"cache({self.filename!r})" if self.filename else "cache()"

    def cardinality(self) -> int:
        return self.parent.cardinality()

    def stored(self) -> Sequence[Block] | None:
        if self.store is None and self.filename and os.path.exists(self.filename):
            self.store = _FileStore(self.filename)
        return self.store

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        first_pass = Context(context.seed, tuple(0 for _ in context.epochs))
        iterator = _CacheIterator(self, first_pass)
        if state is not None:
            iterator.fast_forward(int(state["given"]))
        return iterator


class _CacheIterator(NodeIterator):
    def __init__(self, node: CacheNode, context: Context) -> None:
        self._node = node
        self._context = context
        self._given = 0  # rows (elements after batch) of this pass given out
        self._store = node.stored()
        self._index = 0  # next block of the store
        self._parent: NodeIterator | None = None
        self._filling: list[Block] = []
        self._writer: _FileWriter | None = None
        self._finalizer: Any = None
        self._rest: Block | None = None  # a block cut by a restore

    def _units(self, block: Block) -> int:
        return 1 if self._node.batched else block.num_rows

    def _next_block(self) -> Block:
        if self._store is not None:
            if self._index >= len(self._store):
                raise StopIteration
            self._index += 1
            return self._store[self._index - 1]
        if self._parent is None:
            self._parent = self._node.parent.open(self._context, None)
            if self._node.filename:
                self._writer = _FileWriter(self._node.filename)
                # A dropped iterator removes its unfinished file too.
                self._finalizer = weakref.finalize(self, self._writer.abort)
        block = next(self._parent, None)
        if block is None:
            self._complete()
            raise StopIteration
        if self._writer is not None:
            self._writer.write(block)
        else:
            self._filling.append(block)
        return block

    def _complete(self) -> None:
        assert self._parent is not None
        self._parent.close()
        if self._writer is not None:
            self._writer.commit()
            self._writer = None
            self._finalizer.detach()
            store: Sequence[Block] = _FileStore(self._node.filename)
        else:
            store = self._filling
        if self._node.store is None:
            self._node.store = store
        self._store, self._index = store, len(store)

    def __next__(self) -> Block:
        if self._rest is not None:
            block, self._rest = self._rest, None
        else:
            block = self._next_block()
        self._given += self._units(block)
        return block

    def fast_forward(self, given: int) -> None:
        while self._given < given:
            block = next(self, None)
            if block is None:
                return
            extra = self._given - given
            if extra > 0:  # only for rows: elements are never cut
                self._rest = block.slice(block.num_rows - extra, block.num_rows)
                self._given = given

    def state(self) -> dict[str, Any]:
        return {"given": self._given}

    def close(self) -> None:
        if self._parent is not None:
            self._parent.close()
        if self._writer is not None:  # an unfinished pass leaves no file
            self._writer.abort()
            self._writer = None
            self._finalizer.detach()


# -- the file: one Arrow record batch per block -------------------------------------

_META = b"estimators.cache"


class _FileWriter:
    """Streams blocks into `filename` under a temporary name."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.partial = f"{filename}.partial-{os.getpid()}-{id(self)}"
        self._writer: Any = None
        self._layout: Any = None

    def write(self, block: Block) -> None:
        batch, layout = _to_record_batch(block)
        if self._writer is None:
            schema = batch.schema.with_metadata({_META: json.dumps(layout)})
            self._writer = pa.ipc.new_file(self.partial, schema)
            self._layout, self._schema = layout, batch.schema
        elif layout != self._layout or batch.schema != self._schema:
            self.abort()
            raise ValueError(
                f"cache({self.filename!r}): the blocks changed structure or column "
                f"types ({self._schema.types} then {batch.schema.types}); fix the "
                "types upstream (e.g. from_csv(column_types=...)) or use cache()."
            )
        self._writer.write_batch(batch)

    def commit(self) -> None:
        if self._writer is None:  # an empty pass: an empty file
            self._writer = pa.ipc.new_file(self.partial, pa.schema([]))
        self._writer.close()
        os.replace(self.partial, self.filename)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if os.path.exists(self.partial):
            os.remove(self.partial)


class _FileStore(Sequence[Block]):
    """The blocks of a cache file, memory-mapped."""

    def __init__(self, filename: str) -> None:
        try:
            self._reader = pa.ipc.open_file(pa.memory_map(filename))
            metadata = self._reader.schema.metadata or {}
            self._layout = json.loads(metadata[_META]) if _META in metadata else None
        except (pa.ArrowInvalid, OSError, KeyError, ValueError) as error:
            raise ValueError(
                f"cache file {filename!r} is not a cache this library wrote "
                f"({error}); delete it to refill it."
            ) from None

    def __len__(self) -> int:
        return self._reader.num_record_batches if self._layout is not None else 0

    def __getitem__(self, index: int) -> Block:  # type: ignore[override]
        return _from_record_batch(self._reader.get_batch(index), self._layout)


def _to_record_batch(block: Block) -> tuple[pa.RecordBatch, Any]:
    """Columns as Arrow arrays (numpy `[n, a, b]` as nested fixed-size lists),
    with what it takes to rebuild them: the spec and each column's kind."""
    arrays, kinds = [], []
    for column in block.columns:
        if isinstance(column, np.ndarray):
            arrays.append(_nested(column))
            kinds.append(["numpy", str(column.dtype), list(column.shape[1:])])
        else:
            arrays.append(column)
            kinds.append(["arrow"])
    names = [str(i) for i in range(len(arrays))]
    return pa.RecordBatch.from_arrays(arrays, names=names), [_plain(block.spec), kinds]


def _nested(column: np.ndarray) -> pa.Array:
    flat = pa.array(np.ascontiguousarray(column).reshape(-1))
    for size in reversed(column.shape[1:]):
        flat = pa.FixedSizeListArray.from_arrays(flat, size)
    return flat


def _from_record_batch(batch: pa.RecordBatch, layout: Any) -> Block:
    spec, kinds = layout
    columns: list[Column] = []
    for array, kind in zip(batch.columns, kinds, strict=True):
        if kind[0] == "numpy":
            values = array
            for _ in kind[2]:
                values = values.flatten()
            flat = values.to_numpy(zero_copy_only=False).astype(kind[1], copy=False)
            columns.append(flat.reshape(len(array), *kind[2]))
        else:
            columns.append(array)
    return Block(_spec(spec), tuple(columns))


def _plain(spec: Any) -> Any:
    """The spec as JSON-able lists."""
    if spec is None or isinstance(spec, int):
        return spec
    kind, items = spec
    if kind == "dict":
        return [kind, [[key, _plain(item)] for key, item in items]]
    return [kind, [_plain(item) for item in items]]


def _spec(value: Any) -> Any:
    """The spec back from `_plain`'s lists (tuples, as specs are)."""
    if value is None or isinstance(value, int):
        return value
    kind, items = value
    if kind == "dict":
        return (kind, tuple((key, _spec(item)) for key, item in items))
    return (kind, tuple(_spec(item) for item in items))
