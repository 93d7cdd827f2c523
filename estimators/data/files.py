"""File sources over `pyarrow.dataset`: Parquet, CSV, Arrow IPC, folders of them.

Nothing is loaded whole. The data is cut into *pieces*, read one at a time
as record batches of `batch_rows` rows: a Parquet row group, or a whole file
for other formats. Pieces are listed lazily (Parquet footers are read on the
first iteration) in file order, a folder's files sorted by name. The position
is `(piece, rows of it already returned)`: a restore reads that one piece again
and drops the rows before the position.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from estimators.data._block import Block
from estimators.data._columns import from_arrow
from estimators.data._identity import file_stamps
from estimators.data._node import UNKNOWN, Context, Node, NodeIterator
from estimators.data._selection import (
    Label,
    element_spec,
    filter_error,
    require_columns,
    select_columns,
    to_expression,
)

if TYPE_CHECKING:
    import pyarrow.dataset as pads

__all__ = [
    "FileIterator",
    "FileSource",
    "explain_arrow_error",
    "file_source",
    "first_row",
    "open_files",
    "root_of",
]


@dataclass(frozen=True)
class _Piece:
    fragment: Any  # pyarrow.dataset.Fragment
    path: str
    rows: int | None  # known from metadata when no filter applies


class FileSource(Node):
    """Rows of a `pyarrow.dataset.FileSystemDataset`, piece after piece.

    Args:
        dataset: The files, with their format and partitioning.
        features: Feature column names, in element order.
        labels: Label column name(s) or `None`.
        filter: A `pyarrow.compute.Expression` rows must satisfy, or `None`.
        batch_rows: Most rows per record batch read.
        root: What the user named (a folder, a file), for messages.
        shard: `(num_shards, index)`: this source reads every `num_shards`-th
            piece starting at `index`.
    """

    def __init__(
        self,
        dataset: pads.FileSystemDataset,
        *,
        features: list[str],
        labels: str | list[str] | None,
        filter: Any,
        batch_rows: int,
        root: str,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.dataset = dataset
        self.features = features
        self.labels = labels
        self.filter = filter
        self.batch_rows = batch_rows
        self.root = root
        self.shard_spec = shard
        label_names = (
            [] if labels is None else [labels] if isinstance(labels, str) else labels
        )
        self.read_columns = features + list(label_names)
        self.spec = element_spec(features, labels)
        # Applied to each record batch before conversion; may drop rows (the
        # position counts the rows read, so it stays exact).
        self.record_fn: Any = None
        # Feature columns read as Arrow dictionaries and handed on undecoded
        # (for a `map_blocks` function that looks up each distinct value once).
        self.dictionary_columns: frozenset[str] = frozenset()

    def with_dictionaries(self) -> FileSource:
        """The same rows, string feature columns given as `pa.DictionaryArray`s."""
        schema = self.dataset.schema
        clone = copy.copy(self)
        clone.__dict__.pop("scan_schema", None)
        clone.__dict__.pop("dictionary_format", None)
        clone.dictionary_columns = frozenset(
            name
            for name in self.features
            if pa.types.is_string(schema.field(name).type)
            or pa.types.is_large_string(schema.field(name).type)
            or pa.types.is_dictionary(schema.field(name).type)
        )
        return clone

    @cached_property
    def scan_schema(self) -> pa.Schema:
        """The dataset schema, with dictionary types where dictionaries are kept
        (Parquet then reads dictionary pages as they are)."""
        schema = self.dataset.schema
        for name in self.dictionary_columns:
            index = schema.get_field_index(name)
            field = schema.field(index)
            if not pa.types.is_dictionary(field.type):
                kind = pa.dictionary(pa.int32(), pa.string())
                schema = schema.set(index, field.with_type(kind))
        return schema

    def sharded(self, num_shards: int, index: int) -> FileSource | None:
        """Every `num_shards`-th piece, or `None` when there are too few pieces."""
        if self.shard_spec is not None or len(self.pieces) < num_shards:
            return None
        return FileSource(
            self.dataset,
            features=self.features,
            labels=self.labels,
            filter=self.filter,
            batch_rows=self.batch_rows,
            root=self.root,
            shard=(num_shards, index),
        )

    @cached_property
    def all_pieces(self) -> list[_Piece]:
        import pyarrow.dataset as pads  # with pandas: 0.2 s, only for files

        pieces = []
        try:
            for fragment in self.dataset.get_fragments(filter=self.filter):
                if isinstance(fragment, pads.ParquetFileFragment):
                    parts = fragment.split_by_row_group(
                        self.filter, schema=self.dataset.schema
                    )
                else:
                    parts = [fragment]
                for part in parts:
                    rows = None
                    if self.filter is None and isinstance(
                        part, pads.ParquetFileFragment
                    ):
                        rows = sum(rg.num_rows for rg in part.row_groups)
                    pieces.append(_Piece(part, part.path, rows))
        except (pa.ArrowException, OSError) as error:
            raise ValueError(f"{self.root}: {explain_arrow_error(error)}") from None
        return pieces

    @cached_property
    def pieces(self) -> list[_Piece]:
        if self.shard_spec is None:
            return self.all_pieces
        num_shards, index = self.shard_spec
        return self.all_pieces[index::num_shards]

    @cached_property
    def float_columns(self) -> frozenset[str]:
        """Integer/boolean columns with nulls in some row group of the files.

        They are read as float64 everywhere, so every batch has one dtype.
        """
        import pyarrow.dataset as pads

        schema = self.dataset.schema
        wanted = {
            n
            for n in self.read_columns
            if pa.types.is_integer(schema.field(n).type)
            or pa.types.is_boolean(schema.field(n).type)
        }
        found: set[str] = set()
        for piece in self.all_pieces:  # all shards decide alike
            if not wanted - found or not isinstance(
                piece.fragment, pads.ParquetFileFragment
            ):
                break
            metadata = piece.fragment.metadata
            paths = [
                metadata.schema.column(i).path for i in range(metadata.num_columns)
            ]
            for group in piece.fragment.row_groups:
                row_group = metadata.row_group(group.id)
                for name in wanted - found:
                    if name in paths:
                        stats = row_group.column(paths.index(name)).statistics
                        if (
                            stats is not None
                            and stats.has_null_count
                            and stats.null_count
                        ):
                            found.add(name)
        return frozenset(found)

    def describe(self) -> str:
        kind = self.dataset.format.default_extname
        text = f"{kind}({self.root!r}, {len(self.dataset.files)} files"
        if self.labels is not None:
            text += f", label={self.labels!r}"
        if self.filter is not None:
            text += f", filter={self.filter}"
        text += ")"
        if self.shard_spec is not None:
            text += f".shard({self.shard_spec[0]}, {self.shard_spec[1]})"
        return text

    def fingerprint(self) -> Any:
        return {
            "columns": self.read_columns,
            "batch_rows": self.batch_rows,
        }

    def identity(self) -> dict[str, str]:
        """Each file (relative to the folder named, so the folder may move):
        size, modification time and, for Parquet, a digest of the footer."""
        import pyarrow.dataset as pads

        root = self.root if os.path.isdir(self.root) else os.path.dirname(self.root)
        parquet = isinstance(self.dataset.format, pads.ParquetFileFormat)
        return file_stamps(
            self.dataset.filesystem, self.dataset.files, root, parquet=parquet
        )

    def cardinality(self) -> int:
        rows = [piece.rows for piece in self.pieces]
        return UNKNOWN if None in rows else sum(rows)

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return FileIterator(self, state)

    def scan(self, piece: _Piece, offset: int) -> Any:
        """Record batches of `piece` from row `offset` on; errors name the file."""
        try:
            batches = self._fragment(piece).to_batches(
                schema=self.scan_schema,
                columns=self.read_columns,
                filter=self.filter,
                batch_size=self.batch_rows,
                use_threads=True,
            )
            seen = 0
            for batch in batches:
                rows = batch.num_rows
                if seen + rows > offset and rows:
                    yield batch.slice(offset - seen) if offset > seen else batch
                seen += rows
        except (pa.ArrowException, OSError) as error:
            raise ValueError(f"{piece.path}: {self._explain(error)}") from None

    @cached_property
    def dictionary_format(self) -> Any:
        """For Parquet with dictionaries kept: a format that reads those
        columns' dictionary pages as they are (no decoding to strings)."""
        import pyarrow.dataset as pads

        base = self.dataset.format
        if not self.dictionary_columns or not isinstance(base, pads.ParquetFileFormat):
            return None
        return pads.ParquetFileFormat(
            read_options=pads.ParquetReadOptions(
                dictionary_columns=sorted(self.dictionary_columns),
                coerce_int96_timestamp_unit=base.read_options.coerce_int96_timestamp_unit,
            ),
            default_fragment_scan_options=base.default_fragment_scan_options,
        )

    def _fragment(self, piece: _Piece) -> Any:
        formatted = self.dictionary_format
        if formatted is None:
            return piece.fragment
        fragment = piece.fragment
        return formatted.make_fragment(
            fragment.path,
            self.dataset.filesystem,
            fragment.partition_expression,
            row_groups=[group.id for group in fragment.row_groups],
        )

    def to_block(self, batch: pa.RecordBatch) -> Block:
        if self.record_fn is not None:
            batch = self.record_fn(batch)
        floats, kept = self.float_columns, self.dictionary_columns
        return Block(
            self.spec,
            tuple(
                _dictionary(batch.column(name))
                if name in kept
                else from_arrow(batch.column(name), as_float=name in floats)
                for name in self.read_columns
            ),
        )

    def _explain(self, error: BaseException) -> str:
        return explain_arrow_error(error, self.dataset.schema.names)


def _dictionary(array: pa.Array) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type) and not pa.types.is_string(
        array.type.value_type
    ):
        array = array.cast(pa.dictionary(array.type.index_type, pa.string()))
    return array


def root_of(path: Any) -> str:
    """What the user named, for messages: the path, or the common folder of a list."""
    if isinstance(path, str | os.PathLike):
        return os.fspath(path)
    paths = [os.fspath(p) for p in path]
    return os.path.commonpath(paths) if len(paths) > 1 else paths[0]


def open_files(
    path: Any, file_format: Any, partitioning: str | None
) -> pads.FileSystemDataset:
    """The files under `path` as a pyarrow dataset, with one-line errors."""
    import pyarrow.dataset as pads

    source = (
        os.fspath(path)
        if isinstance(path, str | os.PathLike)
        else [os.fspath(p) for p in path]
    )
    try:
        dataset = pads.dataset(source, format=file_format, partitioning=partitioning)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file or folder: {root_of(path)!r}") from None
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{root_of(path)}: {explain_arrow_error(error)}") from None
    if not dataset.files:
        raise ValueError(f"no data files found in {root_of(path)!r}.")
    return dataset


def file_source(
    dataset: pads.FileSystemDataset,
    root: str,
    columns: Sequence[str] | None,
    label: Label,
    filter: Any,
    batch_rows: int,
) -> FileSource:
    """A `FileSource` over chosen columns; a bad column or filter fails here."""
    where = repr(root)
    names = list(dataset.schema.names)
    features, labels = select_columns(names, columns, label, where)
    require_columns(features, labels, where)
    expression = to_expression(filter)
    if expression is not None:
        try:
            dataset.scanner(columns=features[:1], filter=expression)
        except (
            pa.ArrowInvalid,
            pa.ArrowTypeError,
            pa.ArrowNotImplementedError,
        ) as error:
            raise filter_error(filter, error, names, where) from None
    return FileSource(
        dataset,
        features=features,
        labels=labels,
        filter=expression,
        batch_rows=batch_rows,
        root=root,
    )


class FileIterator(NodeIterator):
    def __init__(self, source: FileSource, state: dict[str, Any] | None) -> None:
        self._source = source
        self._piece = 0 if state is None else int(state["piece"])
        self._offset = 0 if state is None else int(state["offset"])
        self._batches: Any = None
        self.last_origin: tuple[int, int] | None = None  # (piece, first row) read

    @property
    def source(self) -> FileSource:
        return self._source

    def __next__(self) -> Block:
        pieces = self._source.pieces
        while True:
            if self._batches is None:
                if self._piece >= len(pieces):
                    raise StopIteration
                self._batches = self._source.scan(pieces[self._piece], self._offset)
            batch = next(self._batches, None)
            if batch is None:
                self._next_piece()
                continue
            piece, first = self._piece, self._offset
            self._offset += batch.num_rows
            if self._offset == pieces[self._piece].rows:
                self._next_piece()  # so the state does not point at a spent piece
            try:
                block = self.to_block(batch, piece, first)
            except ValueError as error:  # "row 5" of the batch -> of the file
                if error.args and isinstance(error.args[0], str):
                    start = first_row(pieces[piece].fragment) + first
                    text = _ROW.sub(_shift(start), error.args[0], count=1)
                    error.args = (text, *error.args[1:])
                raise
            if block.num_rows:
                self.last_origin = (piece, first)
                return block

    def to_block(self, batch: pa.RecordBatch, piece: int, first: int) -> Block:
        """The block of `batch`, rows `first...` of piece number `piece`."""
        return self._source.to_block(batch)

    def _next_piece(self) -> None:
        self._piece += 1
        self._offset = 0
        self._batches = None

    def state(self) -> dict[str, Any]:
        return {"piece": self._piece, "offset": self._offset}

    def close(self) -> None:
        if self._batches is not None:
            self._batches.close()
            self._batches = None


_ROW = re.compile(r"\brow (\d+)\b")


def _shift(start: int) -> Any:
    return lambda match: f"row {start + int(match.group(1))}"


def first_row(fragment: Any) -> int:
    """The row of its file a piece starts at (a Parquet row group: the rows of
    the row groups before it; a whole file: 0)."""
    import pyarrow.dataset as pads

    if not isinstance(fragment, pads.ParquetFileFragment):
        return 0
    groups = [group.id for group in fragment.row_groups]
    if not groups:
        return 0
    metadata = fragment.metadata
    return sum(metadata.row_group(i).num_rows for i in range(min(groups)))


def explain_arrow_error(error: BaseException, names: list[str] | None = None) -> str:
    """pyarrow's message in one line: wrapper prefixes dropped, and a CSV
    column number replaced by its name when `names` are known."""
    text = _first_line(error)
    text = re.sub(
        r"^.*?Could not open \w+ input source '[^']*': (Invalid: )?", "", text
    )

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if names is not None and index < len(names):
            return f"column {names[index]!r}"
        return f"column #{index}"

    return re.sub(r"In CSV column #(\d+)", name, text)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
