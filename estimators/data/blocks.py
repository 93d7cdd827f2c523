"""`map_blocks`: a row-wise function on whole blocks, placed before `batch`.

The Estimator uses it to run the host half of the feature columns once per
Arrow record batch (or once for all of an in-memory dataset) instead of once
per batch: a block of a Parquet file keeps its string columns as Arrow
dictionaries, so a vocabulary lookup can map each distinct value once.

The function goes as low in the pipeline as it may: right above the source,
unless a stage that reads the values (`map`, `filter`, ...) or that combines
datasets comes first, in which case it goes right above that stage. It
changes no row and no position: the stage is transparent, so a position saved
with it restores without it and the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._block import Block
from estimators.data._columns import from_value
from estimators.data._node import Context, Node, NodeIterator
from estimators.data._provenance import array_row, file_row, rename_row
from estimators.data._structure import flatten, leaf_names
from estimators.data.batch import BatchNode
from estimators.data.cache import CacheNode
from estimators.data.files import FileSource
from estimators.data.prefetch import PrefetchNode
from estimators.data.shuffle import ShuffleNode
from estimators.data.sources import ArraySource
from estimators.data.transforms import RepeatNode, ShardNode, SkipNode, TakeNode

__all__ = ["BlockFn", "insert_block_fn", "transform_blocks"]

BlockFn = Callable[[Mapping[str, Any]], Mapping[str, Any]]

# Stages a block function may go below: they move rows without reading them.
_PASS_THROUGH = (
    BatchNode,
    CacheNode,
    PrefetchNode,
    RepeatNode,
    ShardNode,
    ShuffleNode,
    SkipNode,
    TakeNode,
)


def _lowest_reader(chain: list[Node]) -> int:
    """Index in `chain` of the stage a block function goes right above: the
    highest one that reads values (or the source), below only pass-throughs."""
    index = len(chain) - 1
    while index > 0 and isinstance(chain[index], _PASS_THROUGH):
        index -= 1
    return index


def insert_block_fn(root: Node, fn: BlockFn) -> Node:
    """`root` with `fn` applied to the features of its lowest blocks."""
    chain = root.chain()
    index = _lowest_reader(chain)
    below = chain[index]
    if isinstance(below, ArraySource):
        node: Node = _TransformedSource(below, fn)
    elif isinstance(below, FileSource):
        node = MapBlocksNode(below.with_dictionaries(), fn)
    else:
        node = MapBlocksNode(below, fn)
    for stage in chain[index + 1 :]:
        node = stage.with_parent(node)
    return node


def transform_blocks(
    dataset: Any, fn: BlockFn, keys: Iterable[str], steps: int | None = None
) -> Any | None:
    """`dataset.map_blocks(fn)` when `fn` may run on its source's blocks, else None.

    The Estimator's feature-column transform runs per block only when nothing
    reads values before it (its lowest stage is an in-memory or file source)
    and no feature in `keys` holds lists of varying length: their ids would
    have a different width in each block, which rows cannot be batched across.
    An in-memory source is one block, transformed whole: only when `steps`
    batches (None: to the end) read at least as many rows, so that a short
    `train(steps=...)` over a large array does not transform all of it.
    """
    chain = dataset._node.chain()
    below, keys = chain[_lowest_reader(chain)], set(keys)
    if isinstance(below, ArraySource) and steps is not None:
        batch = next((n for n in chain if isinstance(n, BatchNode)), None)
        if batch is None or steps * batch.batch_size < below.total_rows:
            return None
    if isinstance(below, ArraySource):
        names = leaf_names(below.spec)
        types = {
            _feature_key(name): _array_type(column)
            for name, column in zip(names, below.columns, strict=True)
        }
    elif isinstance(below, FileSource):
        schema = below.dataset.schema
        types = {name: schema.field(name).type for name in schema.names}
    else:
        return None
    if any(_is_list(types.get(key)) for key in keys):
        return None
    return dataset.map_blocks(fn)


def _feature_key(leaf: str) -> str:
    """`'age'` from a leaf name `age` or `[0]['age']`."""
    if leaf.startswith("[0]['") and leaf.endswith("']"):
        return leaf[5:-2]
    return leaf


def _array_type(column: Any) -> Any:
    if isinstance(column, pa.Array | pa.ChunkedArray):
        return column.type
    if isinstance(column, np.ndarray) and column.dtype == object:
        first = next((v for v in column[:100] if v is not None), None)
        return "list" if isinstance(first, list | tuple | np.ndarray) else None
    return None


def _is_list(kind: Any) -> bool:
    if kind == "list":
        return True
    return isinstance(kind, pa.DataType) and (
        pa.types.is_list(kind) or pa.types.is_large_list(kind)
    )


def apply(fn: BlockFn, block: Block) -> Block:
    """`fn` on the features of `block` (labels kept), checked row for row."""
    element = block.element()
    pair = isinstance(element, tuple) and len(element) == 2
    features = element[0] if pair else element
    result = fn(features)
    if not isinstance(result, Mapping):
        raise TypeError(
            f"map_blocks function {_name(fn)} must return a dict of columns, "
            f"got {type(result).__name__}."
        )
    spec, leaves = flatten((dict(result), element[1]) if pair else dict(result))
    names = leaf_names(spec)
    columns = tuple(from_value(v, n) for v, n in zip(leaves, names, strict=True))
    rows = block.num_rows
    for name, column in zip(names, columns, strict=True):
        if getattr(column, "ndim", 1) == 0 or len(column) != rows:
            got = len(column) if getattr(column, "ndim", 1) else "a scalar"
            raise ValueError(
                f"map_blocks function {_name(fn)} returned {got} rows for "
                f"{name!r} from a block of {rows} rows; it must keep every row."
            )
    return Block(spec, columns)


def _name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class MapBlocksNode(Node):
    """Applies a block function to each block of its parent."""

    transparent = True

    def __init__(self, parent: Node, fn: BlockFn) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.fn = fn

    def describe(self) -> str:
        return f"map_blocks({_name(self.fn)})"

    def cardinality(self) -> int:
        return self.parent.cardinality()

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _MapBlocksIterator(self.fn, self.parent.open(context, state))


class _MapBlocksIterator(NodeIterator):
    def __init__(self, fn: BlockFn, parent: NodeIterator) -> None:
        self._fn = fn
        self._parent = parent

    def __next__(self) -> Block:
        block = next(self._parent)
        try:
            return apply(self._fn, block)
        except (ValueError, TypeError) as error:  # "row 5" of the block: of the file
            origin = getattr(self._parent, "last_origin", None)
            source = getattr(self._parent, "source", None)
            if origin is not None and isinstance(source, FileSource):
                piece, first = origin
                rename_row(error, lambda row: file_row(source, piece, first + row))
            raise

    def state(self) -> dict[str, Any]:
        return self._parent.state()

    def close(self) -> None:
        self._parent.close()


class _TransformedSource(ArraySource):
    """An in-memory source whose columns went through the block function once;
    it describes itself as the original, so positions carry over."""

    def __init__(self, original: ArraySource, fn: BlockFn) -> None:
        try:
            block = apply(fn, original.block)
        except (ValueError, TypeError) as error:  # the block is all the rows
            rename_row(error, lambda row: array_row(original, row))
            raise
        super().__init__(
            block.spec,
            block.columns,
            kind=original.kind,
            chunk_rows=original.chunk_rows,
            shard=original.shard_spec,
        )
        self.original = original
        self.fn = fn

    def sharded(self, num_shards: int, index: int) -> ArraySource:
        return _TransformedSource(self.original.sharded(num_shards, index), self.fn)

    def describe(self) -> str:
        return self.original.describe()

    def fingerprint(self) -> Any:
        return self.original.fingerprint()

    def identity(self) -> dict[str, str]:
        return self.original.identity()
