"""Which input row a batch row is: the failing read replayed on row numbers.

A host transform that rejects a value names its row in the batch it saw
("row 5"). To name the row in the input instead ("row 13 of the DataFrame",
"row 13 of 'part-0.parquet'"), the iterator replays its last read on a *twin*
of the pipeline: the same stages, positions and random draws over a source
whose columns are row numbers (in-memory: the row of the arrays; files: the
piece read and the row in it). Nothing runs unless an error asks.

An `interleave` (as in `make_csv_dataset`) keeps its real input (the file
names its function opens) and twins each dataset the function returns; a
twin row's piece column then also says which of them it came from.

Stages that look at the values (`filter`, `map_blocks`, `padded_batch`,
`unbatch`, ...) and sources that cannot count their rows (`from_generator`,
a file scan with a `filter`, a `make_csv_dataset` block that dropped bad
rows) have no twin; the row is then named `row k of batch n`. `map` is taken
to keep rows one for one, as tf's per-element `map` does.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._block import Block
from estimators.data._indexed import ROW_STAGES
from estimators.data._node import Context, Node, NodeIterator
from estimators.data.files import FileIterator, FileSource, first_row
from estimators.data.interleave import InterleaveNode
from estimators.data.sources import ArraySource
from estimators.data.transforms import MapNode

__all__ = ["Twin", "array_row", "file_row", "name_input_row", "rename_row", "twin_of"]

_ROWS_SPEC = ("tuple", (0, 1))  # (piece code, row in piece) of each row
_SOURCE = 1 << 32  # piece code = source number * _SOURCE + piece; -1: unknown
_ROW = re.compile(r"\brow (\d+)\b")
_NOUNS = {"from_pandas": "the DataFrame", "from_arrow": "the table"}


@dataclass(frozen=True)
class Twin:
    """A pipeline over row numbers and how to name one of its rows."""

    node: Node
    # (piece code, row in piece) -> "row 13 of ...", or None if not known
    name: Callable[[int, int], str | None]

    def input_row(
        self, context: Context, position: Any, element: int, row: int
    ) -> str | None:
        """Row `row` of element `element` after `position`, named in the input
        (None when a stage dropped rows it was given)."""
        iterator = self.node.open(context, position)
        try:
            for _ in range(element):
                next(iterator)
            block = next(iterator)
        finally:
            iterator.close()
        pieces, rows = block.columns
        return self.name(int(pieces[row]), int(rows[row]))


def twin_of(root: Node) -> Twin | None:
    """The row-number twin of the pipeline ending at `root`, or None."""
    namers: list[Callable[[int, int], str | None]] = []
    node = _twin_node(root, namers)
    if node is None:
        return None
    return Twin(node, functools.partial(_name_row, namers))


def _name_row(
    namers: list[Callable[[int, int], str | None]], code: int, row: int
) -> str | None:
    if code < 0:
        return None
    number, piece = divmod(code, _SOURCE)
    return namers[number](piece, row)


def _twin_node(
    root: Node,
    namers: list[Callable[[int, int], str | None]],
    *,
    files_only: bool = False,
) -> Node | None:
    """The twin of the stages ending at `root`; each source it twins appends
    its namer to `namers` (its number is its place there). `files_only`: an
    in-memory source has none (inside an interleave, "row 3 of the input"
    would not say which of its datasets)."""
    chain = [node for node in root.chain() if not node.transparent]
    woven = [i for i, stage in enumerate(chain) if isinstance(stage, InterleaveNode)]
    node: Node | None
    if woven:  # the last interleave's input stays real: it names what to open
        start = woven[-1]
        node = _interleave_twin(chain[start], namers)
    else:
        start = 0
        if files_only and not isinstance(chain[0], FileSource):
            return None
        node = _source_twin(chain[0], namers)
    if node is None:
        return None
    for stage in chain[start + 1 :]:
        if isinstance(stage, MapNode):
            node = _SameRows(node, stage.batched)
        elif type(stage) in ROW_STAGES and not getattr(stage, "filename", ""):
            node = stage.with_parent(node)
        else:
            return None
    return node


def _interleave_twin(
    stage: InterleaveNode, namers: list[Callable[[int, int], str | None]]
) -> Node:
    """The same interleave of the same inputs, over the twins of the datasets
    its function returns."""

    def node_of(result: Any) -> Node | None:
        inner = stage.node_of(result)
        if inner is None:
            return None
        twin = _twin_node(inner, namers, files_only=True)
        if twin is None:
            raise LookupError(f"no row numbers for {inner.describe()}")
        return twin

    clone = copy.copy(stage)
    clone.node_of = node_of
    return clone


def name_input_row(
    error: BaseException, iterator: Any, batch: int | None = None
) -> None:
    """Rewrites the first `row N` of `error`'s message (N: a row of the last
    read of `iterator`) to the row in the input, when the iterator can tell;
    else, given the number of the `batch` read (from 0), to `row N of batch n`.

    Example:
        >>> import numpy as np
        >>> from estimators.data import Dataset
        >>> it = iter(Dataset.from_tensor_slices({"x": np.arange(20)}).batch(8))
        >>> _ = next(it), next(it)  # rows 8-15
        >>> error = ValueError("feature 'x': bad value (row 5: 13)")
        >>> name_input_row(error, it)
        >>> str(error)
        "feature 'x': bad value (row 13 of the input: 13)"
    """
    input_row = getattr(iterator, "input_row", None)
    if input_row is None and batch is not None:
        input_row = functools.partial(_in_batch, batch)
    if input_row is None:
        return

    def name(row: int) -> str | None:
        try:
            return input_row(row)
        except Exception:  # noqa: BLE001 - never hide the user's error behind ours
            return None

    rename_row(error, name)


def rename_row(error: BaseException, name: Callable[[int], str | None]) -> None:
    """Rewrites the first `row N` of `error`'s message to `name(N)`."""
    if not error.args or not isinstance(error.args[0], str):
        return
    message = error.args[0]
    match = _ROW.search(message)
    if match is None:
        return
    where = name(int(match.group(1)))
    if where:
        rewritten = message[: match.start()] + where + message[match.end() :]
        error.args = (rewritten, *error.args[1:])


def array_row(source: ArraySource, row: int) -> str:
    """Row `row` of an in-memory source, named as the input names it."""
    return _array_row(_array_noun(source), source.row_labels, 0, row)


def file_row(source: FileSource, piece: int, row: int) -> str:
    """Row `row` of piece number `piece` of a file source, as "row 13 of 'a.parquet'"."""
    return _file_namer(source)(piece, row)


def _array_noun(source: ArraySource) -> str:
    """How errors call an in-memory source: "the DataFrame", "the table", ..."""
    noun = _NOUNS.get(source.kind, "the input")
    if source.row_labels is not None:
        noun = "the DataFrame"
    if source.filtered:
        noun = f"{noun} after its filter"
    return noun


def _array_row(noun: str, labels: Any, piece: int, row: int) -> str:
    if labels is None:
        return f"row {row} of {noun}"
    label = labels[row]
    label = label.item() if isinstance(label, np.generic) else label
    return f"row {row} of {noun} (index {label!r})"


def _in_batch(batch: int, row: int) -> str:
    return f"row {row} of batch {batch}"


def _source_twin(
    source: Node, namers: list[Callable[[int, int], str | None]]
) -> Node | None:
    found = _source_rows(source, len(namers) * _SOURCE)
    if found is None:
        return None
    namers.append(found[1])
    return found[0]


def _source_rows(
    source: Node, code: int
) -> tuple[Node, Callable[[int, int], str | None]] | None:
    """A source of (piece code, row) columns for `source`, codes from `code`
    on, and the namer of its (piece, row); None when it cannot count rows."""
    if type(source) is ArraySource:
        rows = np.arange(source.total_rows, dtype=np.int64)
        twin = ArraySource(
            _ROWS_SPEC,
            (np.full_like(rows, code), rows),
            kind=source.kind,
            chunk_rows=source.chunk_rows,
            shard=source.shard_spec,
        )
        return twin, functools.partial(
            _array_row, _array_noun(source), source.row_labels
        )
    if isinstance(source, FileSource) and source.filter is None:
        return _FileRows(source, code), _file_namer(source)
    return None


def _file_namer(source: FileSource) -> Callable[[int, int], str | None]:
    root = source.root if os.path.isdir(source.root) else ""

    def name(piece: int, row: int) -> str:
        found = source.pieces[piece]
        path = os.path.relpath(found.path, root) if root else found.path
        return f"row {first_row(found.fragment) + row} of {path!r}"

    return name


class _SameRows(Node):
    """Stands for a `map` in a twin: the same rows, positions and depth."""

    def __init__(self, parent: Node, batched: bool) -> None:
        self.parent = parent
        self.batched = batched

    def describe(self) -> str:
        return "map"

    def cardinality(self) -> int:
        return self.parent.cardinality()

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return self.parent.open(context, state)


class _FileRows(Node):
    """A `FileSource`'s blocks as (piece, row in piece): the same files read
    the same way, so the blocks (which a shuffle depends on) are the same."""

    def __init__(self, source: FileSource, code: int) -> None:
        self.source = source
        self.code = code  # added to the piece numbers

    def describe(self) -> str:
        return self.source.describe()

    def cardinality(self) -> int:
        return self.source.cardinality()

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _FileRowsIterator(self.source, state, self.code)


class _FileRowsIterator(FileIterator):
    def __init__(self, source: FileSource, state: Any, code: int) -> None:
        super().__init__(source, state)
        self._code = code

    def to_block(self, batch: pa.RecordBatch, piece: int, first: int) -> Block:
        rows = np.arange(first, first + batch.num_rows, dtype=np.int64)
        code = self._code + piece
        if self._source.record_fn is not None:
            kept = self._source.to_block(batch).num_rows
            if kept != len(rows):  # which rows it dropped is not known
                rows, code = np.full(kept, -1, np.int64), -1
        return Block(_ROWS_SPEC, (np.full(len(rows), code, np.int64), rows))
