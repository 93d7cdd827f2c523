"""`est.data.experimental`: tf.data.experimental's readers.

`make_csv_dataset` follows tf 2.15's `tf.data.experimental.make_csv_dataset`:
the files (a glob or a list) are listed and sorted, shuffled as a whole when
`shuffle`, read `num_parallel_reads` at a time by `interleave`, the rows
shuffled (buffer `shuffle_buffer_size`) and repeated `num_epochs` times,
batched (the last partial batch dropped when repeating forever) and
prefetched. Column types are inferred from the first `num_rows_for_inference`
rows as tf does (int32, int64, float32, float64, string), and missing values
take the column's default (0 or ""). Parsing is Arrow's, a record batch at a
time; positions are saved like any other pipeline's.
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from estimators.data.dataset import AUTOTUNE, Dataset
from estimators.data.files import file_source, open_files

__all__ = ["make_csv_dataset"]

_TYPES = {
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
}
_ORDER = list(_TYPES)  # least permissive first, as tf tries them
_INT = r"^\s*[+-]?\d+\s*$"
_FLOAT = r"^\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)\s*$"


def make_csv_dataset(
    file_pattern: str | Sequence[str],
    batch_size: int,
    column_names: Sequence[str] | None = None,
    column_defaults: Sequence[Any] | None = None,
    label_name: str | None = None,
    select_columns: Sequence[str | int] | None = None,
    field_delim: str = ",",
    use_quote_delim: bool = True,
    na_value: str = "",
    header: bool = True,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    prefetch_buffer_size: int | None = None,
    num_parallel_reads: int | None = None,
    sloppy: bool = False,
    num_rows_for_inference: int | None = 100,
    compression_type: str | None = None,
    ignore_errors: bool = False,
    encoding: str = "utf-8",
) -> Dataset:
    """Reads CSV files into batches of `(features, label)`, as tf 2.15 does.

    Args:
        file_pattern: A glob (`"data/*.csv"`) or a list of paths / globs.
        batch_size: Rows per batch.
        column_names: Names of the columns, in file order (default: the header).
        column_defaults: One per (selected) column: a dtype (`np.float32`,
            `"string"`, ...) makes the column required; a value (`0.0`, `""`,
            or tf's one-element list `[0.0]`) is used where a value is missing.
            Default: types inferred from the first rows, missing values 0 / "".
        label_name: The label column; elements are then `(features, label)`.
        select_columns: Names or indices of the columns to read (file order).
        field_delim: The field separator.
        use_quote_delim: Whether `"` quotes fields.
        na_value: A string read as a missing value (besides the empty field).
        header: Whether the files start with a header line.
        num_epochs: Passes over the data (`None`: forever).
        shuffle: Shuffle the files and the rows.
        shuffle_buffer_size: Rows in the shuffle buffer.
        shuffle_seed: Seed of both shuffles.
        prefetch_buffer_size: Batches prepared ahead (default 2, 0 for none).
        num_parallel_reads: Files read at a time, rows interleaved (default 1).
        sloppy: Accepted for tf compatibility; the order is deterministic.
        num_rows_for_inference: Rows read to infer the column types (`None`:
            all rows of all files).
        compression_type: `None`/`""` or `"GZIP"` (files named `*.gz`).
        ignore_errors: Drop rows that cannot be parsed (wrong number of fields,
            a value of the wrong type, a missing required value) instead of
            raising.
        encoding: The files' text encoding.

    Returns:
        A `Dataset` of `(features, label)` batches (features alone without
        `label_name`); numbers as numpy arrays of the inferred dtype, strings
        as Arrow string arrays.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "titanic.csv"
        >>> _ = path.write_text("survived,sex,age\\n1,female,38\\n0,male,\\n")
        >>> ds = make_csv_dataset(str(path), batch_size=2, label_name="survived",
        ...                       num_epochs=1, shuffle=False)
        >>> features, label = next(iter(ds))
        >>> features["age"].tolist(), features["sex"].to_pylist(), label.tolist()
        ([38, 0], ['female', 'male'], [1, 0])
    """
    filenames = _file_names(file_pattern)
    if column_names is None:
        if not header:
            raise ValueError(
                "make_csv_dataset: cannot infer column names without a header "
                "line; give column_names=[...]."
            )
        column_names = _header(filenames, field_delim, use_quote_delim, encoding)
    column_names = list(column_names)
    if len(column_names) != len(set(column_names)):
        raise ValueError(f"make_csv_dataset: duplicate column names in {column_names}.")
    selected = (
        list(range(len(column_names)))
        if select_columns is None
        else _column_indices(select_columns, column_names)
    )
    if column_defaults is None:
        types = _infer_types(
            filenames,
            len(column_names),
            selected,
            field_delim,
            use_quote_delim,
            na_value,
            header,
            num_rows_for_inference,
            encoding,
        )
        defaults: list[Any] = [0 if t != "string" else "" for t in types]
    else:
        if len(column_defaults) != len(selected):
            raise ValueError(
                f"make_csv_dataset: column_defaults has {len(column_defaults)} "
                f"entries for {len(selected)} (selected) columns."
            )
        types, defaults = zip(*(_default(d) for d in column_defaults), strict=True)
    names = [column_names[i] for i in selected]
    if label_name is not None and label_name not in names:
        raise ValueError(
            f"make_csv_dataset: label_name {label_name!r} is not one of the "
            f"columns {names}."
        )
    reader = _CsvReader(
        column_names=column_names,
        names=names,
        types=list(types),
        defaults=list(defaults),
        label=label_name,
        field_delim=field_delim,
        use_quote_delim=use_quote_delim,
        na_value=na_value,
        header=header,
        compression_type=compression_type,
        ignore_errors=ignore_errors,
        encoding=encoding,
    )
    dataset = Dataset.from_tensor_slices(np.array(filenames))
    if shuffle:
        dataset = dataset.shuffle(len(filenames), shuffle_seed)
    dataset = dataset.interleave(
        reader, cycle_length=num_parallel_reads or 1, block_length=1
    )
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, shuffle_seed)
    if num_epochs != 1:
        dataset = dataset.repeat(num_epochs)
    dataset = dataset.batch(batch_size, drop_remainder=num_epochs is None)
    if prefetch_buffer_size == 0:
        return dataset
    return dataset.prefetch(prefetch_buffer_size or AUTOTUNE)


def _file_names(file_pattern: str | Sequence[str]) -> list[str]:
    patterns = (
        [file_pattern]
        if isinstance(file_pattern, str | os.PathLike)
        else list(file_pattern)
    )
    if not patterns:
        raise ValueError("make_csv_dataset: `file_pattern` is empty.")
    names = [n for p in patterns for n in glob.glob(os.fspath(p))]
    if not names:
        raise ValueError(f"make_csv_dataset: no files match {file_pattern!r}.")
    return sorted(names)


def _open_text(name: str, encoding: str) -> Any:
    """A text file, gunzipped when it is named *.gz (as Arrow reads it)."""
    if name.endswith(".gz"):
        import gzip

        return gzip.open(name, "rt", encoding=encoding, newline="")
    return open(name, encoding=encoding, newline="")


def _rows(
    filenames: list[str], delim: str, quote: bool, header: bool, encoding: str
) -> Any:
    quoting = csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE
    for name in filenames:
        with _open_text(name, encoding) as f:
            rows = csv.reader(f, delimiter=delim, quoting=quoting)
            if header:
                next(rows, None)
            yield from ((name, row) for row in rows)


def _header(filenames: list[str], delim: str, quote: bool, encoding: str) -> list[str]:
    quoting = csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE
    headers = []
    for name in filenames:
        with _open_text(name, encoding) as f:
            row = next(csv.reader(f, delimiter=delim, quoting=quoting), None)
        if row is None:
            raise ValueError(f"make_csv_dataset: {name!r} is empty (no header line).")
        headers.append(row)
    for name, row in zip(filenames[1:], headers[1:], strict=True):
        if row != headers[0]:
            raise ValueError(
                f"make_csv_dataset: {name!r} has header {row}, but "
                f"{filenames[0]!r} has {headers[0]}."
            )
    return headers[0]


def _column_indices(select: Sequence[str | int], names: list[str]) -> list[int]:
    indices = []
    for value in select:
        if isinstance(value, int | np.integer):
            if not 0 <= value < len(names):
                raise ValueError(
                    f"make_csv_dataset: select_columns index {value} is out of "
                    f"range for {len(names)} columns."
                )
            indices.append(int(value))
        elif value in names:
            indices.append(names.index(value))
        else:
            raise ValueError(
                f"make_csv_dataset: select_columns {value!r} is not a column; "
                f"columns: {names}."
            )
    if len(set(indices)) != len(indices):
        raise ValueError("make_csv_dataset: select_columns names a column twice.")
    return sorted(indices)


def _infer_types(
    filenames: list[str],
    num_columns: int,
    selected: list[int],
    delim: str,
    quote: bool,
    na_value: str,
    header: bool,
    limit: int | None,
    encoding: str,
) -> list[str]:
    """tf's `_infer_column_defaults`: the least permissive type for each column."""
    types: list[str | None] = [None] * len(selected)
    rows = _rows(filenames, delim, quote, header, encoding)
    for count, (name, row) in enumerate(rows):
        if limit is not None and count >= limit:
            break
        if len(row) != num_columns:
            raise ValueError(
                f"make_csv_dataset: a row of {name!r} has {len(row)} fields, "
                f"expected {num_columns} ({row[:5]}...)."
            )
        for j, index in enumerate(selected):
            types[j] = _infer_type(row[index], na_value, types[j])
    return [t or "string" for t in types]


def _infer_type(value: str, na_value: str, previous: str | None) -> str | None:
    if value in ("", na_value):
        return previous
    for i, kind in enumerate(_ORDER):
        if _parses_as(value, kind) and (
            previous is None or previous in _ORDER[: i + 1]
        ):
            return kind
    return previous  # pragma: no cover - "string" always parses


def _parses_as(value: str, kind: str) -> bool:
    with np.errstate(over="ignore"):  # "1e39" as float32 is inf: not float32
        return _try_parse(value, kind)


def _try_parse(value: str, kind: str) -> bool:
    try:
        if kind == "int32":
            return int(np.int32(value)) == int(np.int64(value))
        if kind == "int64":
            np.int64(value)
            return True
        if kind in ("float32", "float64"):
            return bool(np.dtype(kind).type(value) < np.inf)
    except (ValueError, OverflowError):
        return False
    return True


def _default(value: Any) -> tuple[str, Any]:
    """`(type, default or None for required)` of one `column_defaults` entry."""
    if isinstance(value, list | tuple):
        if not value:
            return "float32", None  # tf: an empty constant is a required float32
        if len(value) != 1:
            raise ValueError(
                f"make_csv_dataset: a column default holds one value, got {value!r}."
            )
        value = value[0]
    kind = _dtype_name(value)
    if kind is not None:
        return kind, None
    if isinstance(value, bool) or not isinstance(value, int | float | str | np.generic):
        raise TypeError(
            "make_csv_dataset: a column default is a dtype or a number or string, "
            f"got {value!r}."
        )
    if isinstance(value, str):
        return "string", value
    if isinstance(value, np.generic):
        return str(value.dtype), value.item()
    return ("int32" if isinstance(value, int) else "float32"), value


def _dtype_name(value: Any) -> str | None:
    if value in (str, "string", bytes):
        return "string"
    if isinstance(value, type | np.dtype) or (
        isinstance(value, str) and value in _TYPES
    ):
        try:
            name = np.dtype(value).name
        except TypeError:
            return None
        if name not in _TYPES:
            raise ValueError(
                f"make_csv_dataset: column type {name} is not one of {list(_TYPES)}."
            )
        return name
    name = getattr(value, "name", None)  # tf.float32-like objects
    return name if isinstance(name, str) and name in _TYPES else None


class _CsvReader:
    """One file as a Dataset; called by `interleave` for each file name."""

    __name__ = "csv_file"

    def __init__(self, **options: Any) -> None:
        self.__dict__.update(options)
        self.features = [n for n in self.names if n != self.label]

    def __call__(self, filename: Any) -> Dataset:
        import pyarrow.csv as pacsv
        import pyarrow.dataset as pads

        path = str(filename)
        compression = (self.compression_type or "").upper()
        if compression == "GZIP" and not path.endswith(".gz"):
            raise ValueError(
                f"make_csv_dataset: compression_type='GZIP' needs files named "
                f"*.gz; got {path!r}."
            )
        if compression not in ("", "GZIP"):
            raise ValueError(
                f"make_csv_dataset: compression_type {self.compression_type!r} is "
                "not supported; use None or 'GZIP'."
            )
        # Columns not selected are read as strings: never a conversion error.
        # (The scan projects the selected ones; ConvertOptions.include_columns
        # would make pyarrow.dataset see each twice.)
        read_as = dict.fromkeys(self.column_names, pa.string())
        for name, kind in zip(self.names, self.types, strict=True):
            read_as[name] = pa.string() if self.ignore_errors else _TYPES[kind]
        convert = pacsv.ConvertOptions(
            column_types=read_as,
            null_values=sorted({"", self.na_value}),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        parse = pacsv.ParseOptions(
            delimiter=self.field_delim,
            quote_char='"' if self.use_quote_delim else False,
            invalid_row_handler=(lambda row: "skip") if self.ignore_errors else None,
        )
        read = pacsv.ReadOptions(
            column_names=self.column_names,
            skip_rows=1 if self.header else 0,
            encoding=self.encoding,
        )
        file_format = pads.CsvFileFormat(
            parse_options=parse, convert_options=convert, read_options=read
        )
        source = file_source(
            open_files(path, file_format, None),
            path,
            self.features,
            self.label,
            None,
            65536,
        )
        source.record_fn = self._complete
        self.path = path
        return Dataset(source)

    def _complete(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Typed columns with defaults filled; rows that fail dropped or reported."""
        keep = None
        columns = {}
        for name, kind, default in zip(
            self.names, self.types, self.defaults, strict=True
        ):
            column = batch.column(name)
            if self.ignore_errors and kind != "string":
                column, valid = _parse(column, kind)
                keep = valid if keep is None else pc.and_(keep, valid)
            if default is None:
                present = pc.is_valid(column)
                if self.ignore_errors:
                    keep = present if keep is None else pc.and_(keep, present)
                elif not pc.all(present).as_py():
                    raise ValueError(
                        f"make_csv_dataset: {self.path!r}: column {name!r} is required "
                        "(its column_defaults entry is a dtype) but a row has no value; "
                        "give a default such as [0.0], or ignore_errors=True."
                    )
            else:
                column = column.fill_null(pa.scalar(default, _TYPES[kind]))
            columns[name] = column
        table = pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))
        return table if keep is None else table.filter(keep)


def _parse(column: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    """Strings parsed as `kind` where they can be; `valid` marks those rows."""
    pattern = _INT if kind.startswith("int") else _FLOAT
    text = pc.utf8_trim_whitespace(column)
    ok = pc.match_substring_regex(text, pattern, ignore_case=True)
    ok = pc.or_kleene(pc.is_null(text), ok).fill_null(True)
    cleaned = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    if kind.startswith("int"):
        wide = pc.cast(cleaned, pa.float64()) if kind == "int32" else None
        if wide is not None:
            limit = np.iinfo(np.int32)
            fits = pc.and_(
                pc.greater_equal(wide, limit.min), pc.less_equal(wide, limit.max)
            ).fill_null(True)
            ok = pc.and_(ok, fits)
            cleaned = pc.if_else(fits, cleaned, pa.scalar(None, pa.string()))
    parsed = pc.cast(cleaned, _TYPES[kind])
    return parsed, ok
