# Long by design: the Dataset class is tf.data's fluent API, one method per verb.
"""`Dataset`: a tf.data-like input pipeline over Arrow record batches and numpy.

A Dataset is an immutable chain of steps; every method returns a new one.
Rows travel in blocks (a record batch, a slice of an array) and every step
works on whole blocks with numpy / pyarrow, never row by row in Python.

Elements: a features dict, or `(features, labels)` when a label column is
named. Batches follow docs/ARCHITECTURE.md: numeric and boolean columns are
numpy arrays, string columns `pyarrow.StringArray` (nulls allowed); float nulls
are NaN and integer or boolean columns with nulls become float64 with NaN.

`map(fn)` is applied to whole blocks: after `batch`, to each batch (the usual
place: `fn(features, labels)` on a batch); before `batch`, to runs of rows of
any length, so `fn` must then work row-wise on arrays (its output rows must
depend only on its input rows).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from estimators.data._columns import table_from_pandas
from estimators.data._node import INFINITE, UNKNOWN, Node
from estimators.data._selection import Label, to_expression
from estimators.data._structure import flatten
from estimators.data.batch import BatchNode
from estimators.data.blocks import insert_block_fn
from estimators.data.cache import CacheNode
from estimators.data.combine import ConcatenateNode, ZipNode
from estimators.data.files import FileSource, file_source, open_files, root_of
from estimators.data.filtering import FilterNode
from estimators.data.generator import GeneratorSource
from estimators.data.interleave import InterleaveNode
from estimators.data.iterator import DatasetIterator
from estimators.data.prefetch import PrefetchNode
from estimators.data.shuffle import ShuffleNode
from estimators.data.sources import (
    CHUNK_ROWS,
    ArraySource,
    index_labels,
    slices_source,
    table_source,
)
from estimators.data.transforms import (
    MapNode,
    RepeatNode,
    ShardNode,
    SkipNode,
    TakeNode,
)
from estimators.data.unbatch import PaddedBatchNode, UnbatchNode

if TYPE_CHECKING:
    import pyarrow.dataset as pads

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset"]

AUTOTUNE = -1
INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN
_AUTOTUNE_BLOCKS = 2

Columns = Sequence[str] | None


class Dataset:
    """A sequence of elements read, shuffled, batched and prefetched lazily.

    Build one with a `from_*` constructor, never directly.

    Example:
        >>> import numpy as np
        >>> ds = Dataset.from_tensor_slices(({"x": np.arange(5.0)}, np.arange(5)))
        >>> for features, labels in ds.batch(2):
        ...     print(features["x"].tolist(), labels.tolist())
        [0.0, 1.0] [0, 1]
        [2.0, 3.0] [2, 3]
        [4.0] [4]
    """

    def __init__(self, node: Node) -> None:
        if not isinstance(node, Node):
            raise TypeError(
                "build a Dataset with Dataset.from_tensor_slices, "
                "from_pandas, from_arrow, from_parquet or from_csv."
            )
        self._node = node

    # -- sources ---------------------------------------------------------------

    @staticmethod
    def from_tensor_slices(tensors: Any) -> Dataset:
        """Slices arrays along their first axis: one element per row.

        Args:
            tensors: An array, a dict of arrays, a tuple such as
                `(features_dict, labels)` (nested freely), a pandas DataFrame
                or a pyarrow Table (both become a dict of columns).

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices({"a": np.arange(3), "b": [1.0, 2, 3]})
            >>> next(iter(ds))
            {'a': np.int64(0), 'b': np.float64(1.0)}
        """
        return Dataset(slices_source(tensors))

    @staticmethod
    def from_pandas(
        frame: Any, label: Label = None, columns: Columns = None
    ) -> Dataset:
        """Rows of a pandas DataFrame (its index is dropped).

        Args:
            frame: The DataFrame.
            label: Column(s) to give as labels; elements are then
                `(features, labels)`, otherwise a features dict.
            columns: Feature columns to keep (default: all but the label).

        Example:
            >>> import pandas as pd
            >>> df = pd.DataFrame({"age": [30, 40], "city": ["a", None], "y": [0, 1]})
            >>> features, labels = next(iter(Dataset.from_pandas(df, label="y").batch(2)))
            >>> features["age"].tolist(), features["city"].to_pylist(), labels.tolist()
            ([30, 40], ['a', None], [0, 1])
        """
        table = table_from_pandas(frame)
        source = table_source(table, label, columns, None, "from_pandas")
        source.row_labels = index_labels(frame)  # for errors naming a row
        return Dataset(source)

    @staticmethod
    def from_arrow(
        data: pa.Table | pa.RecordBatch | pads.Dataset,
        label: Label = None,
        columns: Columns = None,
        filter: Any = None,
        *,
        batch_rows: int = CHUNK_ROWS,
    ) -> Dataset:
        """Rows of an Arrow table, or of a `pyarrow.dataset` (streamed from files).

        Args:
            data: A `pyarrow.Table` / `RecordBatch`, or a `pyarrow.dataset.Dataset`.
            label: Label column(s); elements are then `(features, labels)`.
            columns: Feature columns to keep (default: all but the label).
            filter: Rows to keep: a `pyarrow.compute.Expression` such as
                `pc.field("age") >= 18`, or a list of `(column, op, value)` tuples.
            batch_rows: Most rows read at a time from files.

        Example:
            >>> import pyarrow as pa, pyarrow.compute as pc
            >>> table = pa.table({"x": [1, 2, 3], "y": [0, 1, 0]})
            >>> ds = Dataset.from_arrow(table, label="y", filter=pc.field("x") > 1)
            >>> ds.cardinality()
            2
        """
        if isinstance(data, pa.Table | pa.RecordBatch):
            return Dataset(table_source(data, label, columns, filter, "from_arrow"))
        import pyarrow.dataset as pads  # with pandas: 0.2 s, only for files

        if isinstance(data, pads.FileSystemDataset):
            root = os.path.commonpath(data.files) if data.files else "<no files>"
            return Dataset(_files(data, root, columns, label, filter, batch_rows))
        if isinstance(data, pads.Dataset):
            table = data.to_table(filter=to_expression(filter))
            source = table_source(table, label, columns, None, "from_arrow")
            source.filtered = filter is not None  # row numbers count after it
            return Dataset(source)
        raise TypeError(
            "from_arrow takes a pyarrow Table, RecordBatch or pyarrow.dataset.Dataset, "
            f"got {type(data).__name__}."
        )

    @staticmethod
    def from_parquet(
        path: str | os.PathLike[str] | Sequence[str],
        columns: Columns = None,
        label: Label = None,
        filter: Any = None,
        *,
        batch_rows: int = CHUNK_ROWS,
        partitioning: str | None = "hive",
    ) -> Dataset:
        """Streams Parquet files: one file, a folder (hive partitions) or a list.

        Row groups are read one at a time; nothing is loaded whole.

        Args:
            path: A file, a folder or a list of files.
            columns: Feature columns to read (default: all but the label).
            label: Label column(s); elements are then `(features, labels)`.
            filter: Rows to keep (see `from_arrow`); row groups and partitions
                that cannot match are skipped unread.
            batch_rows: Most rows decoded at a time.
            partitioning: `"hive"` reads `key=value` folder names as columns.

        Example:
            >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
            >>> path = tempfile.mkdtemp() + "/part.parquet"
            >>> pq.write_table(pa.table({"x": [1.0, 2.0, 3.0], "y": [0, 1, 1]}), path)
            >>> features, labels = next(iter(Dataset.from_parquet(path, label="y").batch(3)))
            >>> features["x"].tolist(), labels.tolist()
            ([1.0, 2.0, 3.0], [0, 1, 1])
        """
        dataset = open_files(path, "parquet", partitioning)
        return Dataset(
            _files(dataset, root_of(path), columns, label, filter, batch_rows)
        )

    @staticmethod
    def from_csv(
        path: str | os.PathLike[str] | Sequence[str],
        columns: Columns = None,
        label: Label = None,
        filter: Any = None,
        *,
        delimiter: str = ",",
        column_names: Sequence[str] | None = None,
        column_types: Mapping[str, Any] | None = None,
        null_values: Sequence[str] | None = None,
        batch_rows: int = CHUNK_ROWS,
        partitioning: str | None = "hive",
    ) -> Dataset:
        """Streams CSV files (one, a folder or a list), parsed by Arrow.

        A row that cannot be parsed raises `ValueError` naming the file, the
        column and the row (`Row #n` counts lines from 1, header included).
        Unlike Parquet footers, CSV files do not say which integer columns have
        missing values, so such a column is float64 only in the batches that
        have one: give `column_types={"n": pa.float64()}` to fix the dtype.

        Args:
            path: A file, a folder or a list of files.
            columns: Feature columns to read (default: all but the label).
            label: Label column(s); elements are then `(features, labels)`.
            filter: Rows to keep (see `from_arrow`).
            delimiter: Field separator.
            column_names: Names for files without a header row.
            column_types: Arrow types for some columns (`{"zip": pa.string()}`);
                the others are inferred from the first block of the first file.
            null_values: Strings read as null (Arrow's default: "", "NA", ...).
            batch_rows: Most rows parsed at a time.
            partitioning: `"hive"` reads `key=value` folder names as columns.

        Example:
            >>> import pathlib, tempfile
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.csv"
            >>> _ = path.write_text("x,kind\\n1.5,a\\n,b\\n")
            >>> next(iter(Dataset.from_csv(path, label="kind").batch(2)))[0]["x"]
            array([1.5, nan])
        """
        import pyarrow.csv as pacsv
        import pyarrow.dataset as pads

        convert = pacsv.ConvertOptions(column_types=dict(column_types or {}))
        if null_values is not None:
            convert.null_values = list(null_values)
        file_format = pads.CsvFileFormat(
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=convert,
            read_options=pacsv.ReadOptions(
                column_names=list(column_names) if column_names else None
            ),
        )
        dataset = open_files(path, file_format, partitioning)
        return Dataset(
            _files(dataset, root_of(path), columns, label, filter, batch_rows)
        )

    @staticmethod
    def from_generator(
        generator: Callable[..., Any],
        output_types: Any = None,
        output_shapes: Any = None,
        args: Sequence[Any] | None = None,
        output_signature: Any = None,
    ) -> Dataset:
        """Elements yielded by `generator(*args)`, called anew for each pass.

        Elements are gathered a block at a time into columns: numbers of one
        shape become numpy arrays, strings Arrow strings, rows of varying
        length Arrow lists (see `padded_batch`). `output_types` (or the
        dtypes of `output_signature`, any objects with `.dtype`) cast the
        leaves; `output_shapes` is accepted for tf compatibility. Its position
        cannot be saved: `set_state` raises `ValueError` and an Estimator
        starts such an input from its beginning.

        Example:
            >>> def rows():
            ...     for i in range(5):
            ...         yield {"x": float(i)}, i % 2
            >>> features, labels = next(iter(Dataset.from_generator(rows).batch(5)))
            >>> features["x"].tolist(), labels.tolist()
            ([0.0, 1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1, 0])
        """
        if not callable(generator):
            raise TypeError(
                "from_generator needs a callable that returns an iterator, got "
                f"{type(generator).__name__}."
            )
        types = output_signature if output_signature is not None else output_types
        dtypes = None if types is None else flatten(types)[1]
        return Dataset(GeneratorSource(generator, args or (), dtypes))

    @staticmethod
    def zip(*args: Any, datasets: Any = None) -> Dataset:
        """Elements of several datasets side by side: `zip(a, b)` gives `(ea, eb)`.

        Takes datasets as arguments or one (nested) tuple / dict of them, as
        tf.data's `zip`; stops with the shortest. All batched or none.

        Example:
            >>> import numpy as np
            >>> a = Dataset.from_tensor_slices({"x": np.arange(3)})
            >>> b = Dataset.from_tensor_slices(np.arange(10, 14))
            >>> [(f["x"].tolist(), y.tolist()) for f, y in Dataset.zip(a, b).batch(2)]
            [([0, 1], [10, 11]), ([2], [12])]
        """
        if datasets is not None and args:
            raise TypeError(
                "zip() takes datasets as arguments or `datasets=`, not both."
            )
        value = (
            datasets if datasets is not None else (args[0] if len(args) == 1 else args)
        )
        structure, children = flatten(value)
        if not children:
            raise ValueError("zip() needs at least one dataset.")
        for child in children:
            if not isinstance(child, Dataset):
                raise TypeError(f"zip() takes Datasets, got {type(child).__name__}.")
        return Dataset(ZipNode([c._node for c in children], structure))

    # -- transformations -------------------------------------------------------

    def shuffle(
        self,
        buffer_size: int,
        seed: int | None = None,
        reshuffle_each_iteration: bool = True,
    ) -> Dataset:
        """Shuffles with a buffer of `buffer_size` rows (elements after `batch`).

        The buffer works as tf.data's: each output is drawn uniformly from the
        buffer and replaced by the next input; a buffer at least as large as
        the data gives a full shuffle. Vectorised over blocks of rows.

        Args:
            buffer_size: Rows held in the buffer (>= 1).
            seed: Makes the order reproducible; `None` draws a seed per iterator
                (saved in its state, so a restored iterator continues the same order).
            reshuffle_each_iteration: Give each pass of an enclosing `repeat` its
                own order.

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices(np.arange(6)).shuffle(6, seed=1).batch(6)
            >>> sorted(next(iter(ds)).tolist())
            [0, 1, 2, 3, 4, 5]
        """
        _check_int("buffer_size", buffer_size, minimum=1)
        if seed is not None:
            _check_int("seed", seed, minimum=None)
        return Dataset(
            ShuffleNode(self._node, buffer_size, seed, bool(reshuffle_each_iteration))
        )

    def repeat(self, count: int | None = None) -> Dataset:
        """Passes over the data `count` times; `None` (or -1) repeats forever.

        Example:
            >>> import numpy as np
            >>> Dataset.from_tensor_slices(np.arange(3)).repeat(2).batch(4).cardinality()
            2
        """
        if count is not None:
            _check_int("count", count, minimum=-1)
        return Dataset(RepeatNode(self._node, None if count == -1 else count))

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        """Groups consecutive rows into batches of `batch_size` rows.

        Args:
            batch_size: Rows per batch (>= 1).
            drop_remainder: Drop a last batch with fewer rows.

        Example:
            >>> import numpy as np
            >>> [b.tolist() for b in Dataset.from_tensor_slices(np.arange(5)).batch(2)]
            [[0, 1], [2, 3], [4]]
        """
        _check_int("batch_size", batch_size, minimum=1)
        if self._node.batched:
            raise ValueError(
                "batch() on a dataset that is already batched is not supported; "
                "use one batch() with the final batch_size."
            )
        return Dataset(BatchNode(self._node, batch_size, bool(drop_remainder)))

    def map(
        self,
        fn: Callable[..., Any],
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
    ) -> Dataset:
        """Applies `fn` to each batch (after `batch`) or to blocks of rows (before).

        `fn` gets the element's parts as arguments when it is a tuple
        (`fn(features, labels)`), else the element itself, and returns the new
        element. Before `batch` it receives runs of rows of any length and must
        work row-wise. `num_parallel_calls` and `deterministic` are accepted
        for tf.data compatibility; the work is vectorised instead.

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices({"x": np.arange(4)}).batch(2)
            >>> [b["x2"].tolist() for b in ds.map(lambda f: {"x2": f["x"] * 2})]
            [[0, 2], [4, 6]]
        """
        if not callable(fn):
            raise TypeError(f"map() needs a callable, got {type(fn).__name__}.")
        return Dataset(MapNode(self._node, fn))

    def map_blocks(self, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Dataset:
        """Applies a row-wise `fn` to the features of whole blocks, before `batch`.

        Not in tf.data. `fn` takes the features dict of one block (an Arrow
        record batch of a file, or all rows of in-memory data at once) and
        returns a dict of columns with the same number of rows; labels are
        kept. It is applied right above the source (or above the first
        `map`, `filter` or combining stage), even when called on a batched
        dataset, so work such as a vocabulary lookup runs once per block
        instead of once per batch. String feature columns of files reach
        `fn` as `pyarrow.DictionaryArray`s (Parquet's dictionary pages as
        they are), so it can look each distinct value up once. Positions are
        unchanged: a position saved with `map_blocks` restores without it.

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices(({"x": np.arange(4.0)}, np.arange(4)))
            >>> ds = ds.shuffle(4, seed=0).batch(2).map_blocks(lambda f: {"x2": f["x"] * 2})
            >>> features, labels = next(iter(ds))
            >>> (features["x2"] == labels * 2).all()
            np.True_
        """
        if not callable(fn):
            raise TypeError(f"map_blocks() needs a callable, got {type(fn).__name__}.")
        return Dataset(insert_block_fn(self._node, fn))

    def filter(self, predicate: Callable[..., Any]) -> Dataset:
        """Keeps the rows (elements after `batch`) for which `predicate` is True.

        Before `batch`, `predicate` gets a block of rows (arrays) and returns
        one boolean per row, so write it with numpy operators
        (`(f["age"] >= 18) & (f["fare"] > 0)`, not `and`); after `batch` it
        gets a batch and returns one boolean.

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices({"x": np.arange(6)})
            >>> next(iter(ds.filter(lambda f: f["x"] % 2 == 0).batch(9)))["x"].tolist()
            [0, 2, 4]
        """
        if not callable(predicate):
            raise TypeError(
                f"filter() needs a callable, got {type(predicate).__name__}."
            )
        return Dataset(FilterNode(self._node, predicate))

    def cache(self, filename: str | os.PathLike[str] = "") -> Dataset:
        """Keeps the first complete pass and serves later passes from it.

        In memory by default; with `filename`, in an Arrow IPC file written
        while the first pass is read (renamed into place when it completes),
        memory-mapped by later passes, iterators and processes. As in tf, an
        existing file is used as it is: delete it when the data changes.
        Positions are kept: a resumed iterator with nothing cached reads the
        input again from its start and skips what was given.

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices(np.arange(3)).cache().repeat(2).batch(6)
            >>> next(iter(ds)).tolist()
            [0, 1, 2, 0, 1, 2]
        """
        return Dataset(CacheNode(self._node, os.fspath(filename)))

    def concatenate(self, dataset: Dataset) -> Dataset:
        """The elements of this dataset, then those of `dataset` (same structure).

        Example:
            >>> import numpy as np
            >>> a = Dataset.from_tensor_slices(np.arange(3))
            >>> next(iter(a.concatenate(a).batch(9))).tolist()
            [0, 1, 2, 0, 1, 2]
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(
                f"concatenate() takes a Dataset, got {type(dataset).__name__}."
            )
        return Dataset(ConcatenateNode(self._node, dataset._node))

    def unbatch(self) -> Dataset:
        """Splits batches back into rows (or rows of arrays along their first axis).

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices(np.arange(5)).batch(2).unbatch().batch(5)
            >>> next(iter(ds)).tolist()
            [0, 1, 2, 3, 4]
        """
        return Dataset(UnbatchNode(self._node))

    def padded_batch(
        self,
        batch_size: int,
        padded_shapes: Any = None,
        padding_values: Any = None,
        drop_remainder: bool = False,
    ) -> Dataset:
        """Batches rows of varying length, padding each to the longest of its batch.

        Rows of varying length (Arrow list columns, e.g. from `from_generator`)
        become numpy `[batch, length]` arrays; `padded_shapes` (one shape per
        leaf, or one for all; `None` / -1 for "longest") fixes lengths and
        `padding_values` (default 0) fills.

        Example:
            >>> def rows():
            ...     yield from ([1], [2, 3], [4, 5, 6])
            >>> ds = Dataset.from_generator(rows).padded_batch(2)
            >>> [b.tolist() for b in ds]
            [[[1, 0], [2, 3]], [[4, 5, 6]]]
        """
        _check_int("batch_size", batch_size, minimum=1)
        if self._node.batched:
            raise ValueError("padded_batch() on a dataset that is already batched.")
        return Dataset(
            PaddedBatchNode(
                self._node,
                batch_size,
                bool(drop_remainder),
                padded_shapes,
                padding_values,
            )
        )

    def interleave(
        self,
        map_func: Callable[..., Any],
        cycle_length: int | None = None,
        block_length: int | None = None,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
    ) -> Dataset:
        """Maps each row to a dataset and interleaves their rows, as tf.data does.

        `cycle_length` datasets are open at once (default: the CPU count, as
        tf's AUTOTUNE); `block_length` (default 1) rows are taken from each
        in turn. The usual use reads several files at once:
        `files.interleave(lambda f: Dataset.from_csv(f), cycle_length=4)`.
        `num_parallel_calls` and `deterministic` are accepted for tf
        compatibility; the order is always tf's deterministic one.

        Example:
            >>> import numpy as np
            >>> starts = Dataset.from_tensor_slices(np.array([0, 10]))
            >>> ds = starts.interleave(
            ...     lambda s: Dataset.from_tensor_slices(np.arange(s, s + 3)), cycle_length=2
            ... )
            >>> next(iter(ds.batch(6))).tolist()
            [0, 10, 1, 11, 2, 12]
        """
        if not callable(map_func):
            raise TypeError(
                f"interleave() needs a callable, got {type(map_func).__name__}."
            )
        if cycle_length is not None and cycle_length != AUTOTUNE:
            _check_int("cycle_length", cycle_length, minimum=1)
        if block_length is not None:
            _check_int("block_length", block_length, minimum=1)
        cycle = None if cycle_length == AUTOTUNE else cycle_length
        node = InterleaveNode(
            self._node, map_func, cycle, block_length or 1, node_of=_node_of
        )
        return Dataset(node)

    def prefetch(self, buffer_size: int = AUTOTUNE) -> Dataset:
        """Prepares up to `buffer_size` elements ahead on a background thread.

        Errors raised while preparing reach the consumer; closing or dropping
        the iterator stops the thread. `AUTOTUNE` (-1) means 2.

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices(np.arange(4)).batch(2).prefetch(1)
            >>> [b.tolist() for b in ds]
            [[0, 1], [2, 3]]
        """
        if buffer_size != AUTOTUNE:
            _check_int("buffer_size", buffer_size, minimum=1)
        size = _AUTOTUNE_BLOCKS if buffer_size == AUTOTUNE else buffer_size
        return Dataset(PrefetchNode(self._node, size))

    def shard(self, num_shards: int, index: int) -> Dataset:
        """Keeps a disjoint 1/`num_shards` part, for one of several processes.

        Directly on a source the split is cheap: contiguous row ranges of
        in-memory data, or every `num_shards`-th Parquet row group / file
        (each process reads only its own; row counts can then differ between
        shards by up to a row group). Elsewhere, or with fewer pieces than
        shards, it keeps every `num_shards`-th row (element after `batch`).

        Example:
            >>> import numpy as np
            >>> [b.tolist() for b in Dataset.from_tensor_slices(np.arange(6)).shard(2, 1).batch(9)]
            [[3, 4, 5]]
        """
        _check_int("num_shards", num_shards, minimum=1)
        _check_int("index", index, minimum=0)
        if index >= num_shards:
            raise ValueError(f"`index` must be < num_shards={num_shards}, got {index}.")
        node = self._node
        if isinstance(node, ArraySource) and node.shard_spec is None:
            return Dataset(node.sharded(num_shards, index))
        if isinstance(node, FileSource):
            sharded = node.sharded(num_shards, index)
            if sharded is not None:
                return Dataset(sharded)
        return Dataset(ShardNode(node, num_shards, index))

    def take(self, count: int) -> Dataset:
        """The first `count` elements (rows before `batch`); -1 takes all.

        Example:
            >>> import numpy as np
            >>> [b.tolist() for b in Dataset.from_tensor_slices(np.arange(9)).batch(2).take(2)]
            [[0, 1], [2, 3]]
        """
        _check_int("count", count, minimum=-1)
        return self if count == -1 else Dataset(TakeNode(self._node, count))

    def skip(self, count: int) -> Dataset:
        """Drops the first `count` elements (rows before `batch`); -1 drops all.

        Example:
            >>> import numpy as np
            >>> [b.tolist() for b in Dataset.from_tensor_slices(np.arange(5)).skip(2).batch(9)]
            [[2, 3, 4]]
        """
        _check_int("count", count, minimum=-1)
        if count == -1:
            return self.take(0)
        return self if count == 0 else Dataset(SkipNode(self._node, count))

    # -- inspection and iteration ----------------------------------------------

    def cardinality(self) -> int:
        """Number of elements, or `INFINITE_CARDINALITY` (-1) / `UNKNOWN_CARDINALITY` (-2).

        Example:
            >>> import numpy as np
            >>> Dataset.from_tensor_slices(np.arange(10)).batch(4).cardinality()
            3
        """
        return self._node.cardinality()

    def iterator(self, state: Mapping[str, Any] | None = None) -> DatasetIterator:
        """An iterator, resumed at `state` (from `DatasetIterator.get_state`) if given.

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices(np.arange(4)).batch(2)
            >>> it = ds.iterator()
            >>> _ = next(it)
            >>> [b.tolist() for b in ds.iterator(it.get_state())]
            [[2, 3]]
        """
        return DatasetIterator(self._node, state)

    def __iter__(self) -> DatasetIterator:
        return DatasetIterator(self._node)

    def as_numpy_iterator(self) -> DatasetIterator:
        """Same as `iter(dataset)` (elements are already numpy / Arrow)."""
        return iter(self)

    def __repr__(self) -> str:
        return f"Dataset({'.'.join(n.describe() for n in self._node.chain())})"


def _check_int(name: str, value: Any, *, minimum: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(
            f"`{name}` must be an int, got {type(value).__name__} {value!r}."
        )
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")


def _files(
    dataset: pads.FileSystemDataset,
    root: str,
    columns: Columns,
    label: Label,
    filter: Any,
    batch_rows: int,
) -> FileSource:
    _check_int("batch_rows", batch_rows, minimum=1)
    return file_source(dataset, root, columns, label, filter, batch_rows)


def _node_of(value: Any) -> Node | None:
    """The last stage of a Dataset, or None when `value` is not one."""
    return value._node if isinstance(value, Dataset) else None
