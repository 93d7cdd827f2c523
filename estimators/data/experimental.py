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

import glob
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from estimators.data._csv import CsvReader, column_default, header_names, infer_types
from estimators.data.dataset import AUTOTUNE, Dataset

__all__ = ["make_csv_dataset"]


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
        column_names = header_names(filenames, field_delim, use_quote_delim, encoding)
    column_names = list(column_names)
    if len(column_names) != len(set(column_names)):
        raise ValueError(f"make_csv_dataset: duplicate column names in {column_names}.")
    selected = (
        list(range(len(column_names)))
        if select_columns is None
        else _column_indices(select_columns, column_names)
    )
    if column_defaults is None:
        types = infer_types(
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
        types, defaults = zip(
            *(column_default(d) for d in column_defaults), strict=True
        )
    names = [column_names[i] for i in selected]
    if label_name is not None and label_name not in names:
        raise ValueError(
            f"make_csv_dataset: label_name {label_name!r} is not one of the "
            f"columns {names}."
        )
    reader = CsvReader(
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
