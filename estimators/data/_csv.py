"""CSV helpers of `make_csv_dataset`: tf's type inference and defaults, and
one file read by Arrow with tf's missing-value and error rules.

Inference reads the first rows with Python's `csv` module, as tf does, and
picks for each column the least permissive of int32, int64, float32, float64
and string that parses every value seen. Reading is Arrow's, a record batch at
a time; each batch then gets its defaults filled and, with `ignore_errors`,
loses the rows that do not parse (the position counts rows read, so it stays
exact).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc
from estimators.data.dataset import Dataset
from estimators.data.files import file_source, open_files

__all__ = ["CsvReader", "column_default", "header_names", "infer_types"]

TYPES = {
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
}
_ORDER = list(TYPES)  # least permissive first, as tf tries them
_INT = r"^\s*[+-]?\d+\s*$"
_FLOAT = r"^\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)\s*$"


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


def header_names(
    filenames: list[str], delim: str, quote: bool, encoding: str
) -> list[str]:
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


def infer_types(
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


def column_default(value: Any) -> tuple[str, Any]:
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
        isinstance(value, str) and value in TYPES
    ):
        try:
            name = np.dtype(value).name
        except TypeError:
            return None
        if name not in TYPES:
            raise ValueError(
                f"make_csv_dataset: column type {name} is not one of {list(TYPES)}."
            )
        return name
    name = getattr(value, "name", None)  # tf.float32-like objects
    return name if isinstance(name, str) and name in TYPES else None


@dataclass(frozen=True)
class CsvReader:
    """One file as a Dataset; called by `interleave` for each file name."""

    column_names: list[str]  # every column of the files, in order
    names: list[str]  # the selected ones, in file order
    types: list[str]  # per selected column, a key of TYPES
    defaults: list[Any]  # per selected column; None: required
    label: str | None
    field_delim: str
    use_quote_delim: bool
    na_value: str
    header: bool
    compression_type: str | None
    ignore_errors: bool
    encoding: str

    @property
    def __name__(self) -> str:  # how interleave() describes its function
        return "csv_file"

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
            read_as[name] = pa.string() if self.ignore_errors else TYPES[kind]
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
        features = [n for n in self.names if n != self.label]
        source = file_source(
            open_files(path, file_format, None), path, features, self.label, None, 65536
        )
        source.record_fn = functools.partial(self._complete, path=path)
        return Dataset(source)

    def _complete(self, batch: pa.RecordBatch, path: str) -> pa.RecordBatch:
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
                    # The row in the batch; the file's reader makes it the file's.
                    row = pc.index(present, False).as_py()
                    raise ValueError(
                        f"make_csv_dataset: {path!r}: column {name!r} is required "
                        f"(its column_defaults entry is a dtype) but row {row} has no "
                        "value; give a default such as [0.0], or ignore_errors=True."
                    )
            else:
                column = column.fill_null(pa.scalar(default, TYPES[kind]))
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
    parsed = pc.cast(cleaned, TYPES[kind])
    return parsed, ok
