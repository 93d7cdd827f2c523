"""Requests on the host: columns from any container, checks, and batch buckets.

A request (a dict of columns, one dict row, a list of records, a pandas
DataFrame, an Arrow table or record batch, or JSON text of one of these) becomes
a dict of raw columns that the frozen feature-column transform takes. Errors are
`ServingInputError`s naming the column; the transformed features are then padded
to power-of-two buckets (rows, and the width of variable-length id lists) so
that request sizes reuse a few compilations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc
from estimators.export.serving import STRING, InputSpec
from estimators.feature_column import raw_values
from estimators.feature_column.base import walk
from estimators.feature_column.vocabulary import VocabularyListColumn

__all__ = ["ServingInputError"]


class ServingInputError(ValueError):
    """A request does not fit the model's inputs; the message names the column."""


# -- any container -> dict of columns -----------------------------------------------


def to_columns(inputs: Any) -> dict[str, Any]:
    """The raw columns of a request, without checks against a signature."""
    if isinstance(inputs, str | bytes | bytearray):
        try:
            inputs = json.loads(inputs)
        except ValueError as e:
            raise ServingInputError(f"request is not valid JSON: {e}") from None
    if isinstance(inputs, pa.Table | pa.RecordBatch):
        return {name: _combined(inputs.column(name)) for name in inputs.column_names}
    if _is_dataframe(inputs):
        return {
            str(name): _from_series(str(name), inputs[name]) for name in inputs.columns
        }
    if isinstance(inputs, Mapping):
        if any(_is_scalar(v) for v in inputs.values()):
            inputs = [inputs]  # one record: columns hold a value per row
        else:
            return {str(k): v for k, v in inputs.items()}
    if (
        isinstance(inputs, list | tuple)
        and inputs
        and all(isinstance(r, Mapping) for r in inputs)
    ):
        return _from_records(inputs)
    raise ServingInputError(
        "a request must be a dict of columns, a dict per row or a list of them, a "
        f"pandas DataFrame or an Arrow table; got {type(inputs).__name__}."
    )


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def _is_scalar(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 0
    return value is None or isinstance(
        value, str | bytes | int | float | bool | np.generic
    )


def _plain(value: Any) -> Any:
    """A record value as plain Python (MLflow hands records over as numpy arrays)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def _combined(column: Any) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _from_series(name: str, series: Any) -> Any:
    if series.dtype.kind in "biuf":
        return series.to_numpy()
    try:
        return pa.array(series, from_pandas=True)
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise ServingInputError(
            f"input column '{name}': values of mixed or unsupported types ({e})."
        ) from None


def _from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    records = list(records)
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(map(str, record)))
    columns: dict[str, Any] = {}
    for name in names:
        values = [_plain(record.get(name)) for record in records]
        try:
            columns[name] = pa.array(values, from_pandas=True)
        except (pa.ArrowException, ValueError, TypeError) as e:
            raise ServingInputError(
                f"input column '{name}': values of mixed or unsupported types ({e})."
            ) from None
    return columns


# -- checks against the receiver's input specs ----------------------------------------


def _count(value: Any) -> int:
    if isinstance(value, pa.Array | pa.ChunkedArray | list | tuple):
        return len(value)
    shape = np.shape(value)
    return int(shape[0]) if shape else -1


def rows_of(columns: Mapping[str, Any]) -> int:
    """The common row count of the columns; names the first that differs."""
    rows: tuple[str, int] | None = None
    for name, value in columns.items():
        count = _count(value)
        if count < 0:
            raise ServingInputError(
                f"input column '{name}': expected one value per row (a list or "
                f"array), got the scalar {value!r}."
            )
        if rows is None:
            rows = (name, count)
        elif count != rows[1]:
            raise ServingInputError(
                f"input column '{name}' has {count} rows but column '{rows[0]}' has "
                f"{rows[1]}; all columns need the same number of rows."
            )
    if rows is None:
        raise ServingInputError("the request has no columns.")
    return rows[1]


def check_inputs(
    columns: dict[str, Any], specs: Mapping[str, InputSpec], rows: int
) -> dict[str, Any]:
    """Fills defaults, names missing columns and shapes fixed multi-value columns."""
    missing = [
        n for n, s in specs.items() if n not in columns and s.default_value is None
    ]
    if missing:
        expected = ", ".join(f"{n} ({_describe(s)})" for n, s in specs.items())
        raise ServingInputError(
            f"the request is missing input column(s) {missing}; the model takes: "
            f"{expected}."
        )
    out = {}
    for name, spec in specs.items():
        if name not in columns:
            out[name] = _default_column(spec, rows)
            continue
        out[name] = _shaped(name, columns[name], spec, rows)
    return out


def _describe(spec: InputSpec) -> str:
    if spec.varlen:
        return f"list of {spec.dtype}"
    return spec.dtype if spec.shape in ((), (1,)) else f"{spec.dtype}{list(spec.shape)}"


def _default_column(spec: InputSpec, rows: int) -> Any:
    assert spec.default_value is not None
    if spec.dtype == STRING:
        return pa.array(list(spec.default_value) * rows, pa.large_string())
    shape = spec.shape or (1,)
    values = np.asarray(spec.default_value, dtype=spec.dtype).reshape(shape)
    return np.broadcast_to(values, (rows, *shape)).copy()


def _shaped(name: str, value: Any, spec: InputSpec, rows: int) -> Any:
    """Fixed multi-value columns given as lists per row become `[rows, *shape]`."""
    size = math.prod(spec.shape)
    if spec.varlen or size <= 1:
        if isinstance(value, list | tuple):
            return _arrow_or_numpy(name, value, spec)
        return value
    if isinstance(value, np.ndarray) and value.dtype != object:
        if value.size != rows * size:
            _raise_width(name, spec, value.size // max(rows, 1), 0)
        return value.reshape(rows, *spec.shape)
    array = value if isinstance(value, pa.Array) else _arrow_or_numpy(name, value, spec)
    if isinstance(array, np.ndarray):
        return _shaped(name, array, spec, rows)
    if not (
        pa.types.is_list(array.type)
        or pa.types.is_large_list(array.type)
        or pa.types.is_fixed_size_list(array.type)
    ):
        _raise_width(name, spec, 1, 0)
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(
        zero_copy_only=False
    )
    bad = np.flatnonzero(lengths != size)
    if len(bad):
        _raise_width(name, spec, int(lengths[bad[0]]), int(bad[0]))
    flat = array.flatten()
    if spec.dtype == STRING:
        return np.asarray(flat.to_pylist(), dtype=object).reshape(rows, *spec.shape)
    return _numbers(name, flat, spec).reshape(rows, *spec.shape)


def _arrow_or_numpy(name: str, value: Any, spec: InputSpec) -> Any:
    try:
        array = pa.array(value, from_pandas=True)
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise ServingInputError(
            f"input column '{name}': values of mixed or unsupported types ({e})."
        ) from None
    if (
        spec.dtype != STRING
        and not spec.varlen
        and (pa.types.is_integer(array.type) or pa.types.is_floating(array.type))
        and array.null_count == 0
    ):
        return array.to_numpy(zero_copy_only=False)
    return array


def _numbers(name: str, flat: pa.Array, spec: InputSpec) -> np.ndarray:
    if not (
        pa.types.is_integer(flat.type)
        or pa.types.is_floating(flat.type)
        or pa.types.is_boolean(flat.type)
        or pa.types.is_null(flat.type)
    ):
        raise ServingInputError(
            f"input column '{name}': expected {spec.dtype} values, got {flat.type}."
        )
    values = flat.to_numpy(zero_copy_only=False)
    return values.astype(np.float64 if flat.null_count else spec.dtype)


def _raise_width(name: str, spec: InputSpec, got: int, row: int) -> None:
    raise ServingInputError(
        f"input column '{name}': expected {math.prod(spec.shape)} values per row "
        f"(shape {list(spec.shape)}), got {got} (row {row})."
    )


def strict_vocabulary_columns(feature_columns: Iterable[Any]) -> list[Any]:
    """The vocabulary columns (nested ones too) that map unknown values to -1."""
    return [
        column
        for column in dict.fromkeys(walk(feature_columns))
        if isinstance(column, VocabularyListColumn)
        and not column.num_oov_buckets
        and column.default_value == -1
    ]


def check_vocabularies(
    columns: Mapping[str, Any],
    vocabulary_columns: Iterable[Any],
    transformed: Mapping[str, Any],
) -> None:
    """Refuses values outside a vocabulary that has no OOV bucket, naming them.

    The transform maps such values to -1 ("no value", as tf did); a served
    model says so instead, so that a typo in a request is not silently ignored.
    Only a column whose transformed ids hold a -1 is looked at again.

    Args:
        columns: The raw request columns.
        vocabulary_columns: From `strict_vocabulary_columns`.
        transformed: The transformed features.
    """
    for column in vocabulary_columns:
        if column.key not in columns:
            continue
        ids = transformed.get(column.name)
        if isinstance(ids, np.ndarray) and ids.dtype.kind == "i" and ids.min() >= 0:
            continue
        raw = columns[column.key]
        if column.dtype == STRING:
            values, layout = raw_values.string_values(
                raw, column.key, allow_numbers=False
            )
            known = pa.array(column.vocabulary_list, pa.large_string())
        else:
            ints, missing, layout = raw_values.integer_values(raw, column.key)
            values = pa.array(np.where(missing, 0, ints), mask=missing)
            known = pa.array(column.vocabulary_list, pa.int64())
        unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, known)))
        if pc.any(unknown).as_py():
            index = int(np.argmax(unknown.to_numpy(zero_copy_only=False)))
            shown = list(column.vocabulary_list[:5])
            more = " ..." if len(column.vocabulary_list) > 5 else ""
            raise ServingInputError(
                f"feature '{column.key}': unknown category {values[index].as_py()!r} "
                f"(row {layout.row_of(index)}); the column has no OOV bucket, known "
                f"values are {shown}{more}."
            )


# -- transformed features -> program arguments, in buckets ------------------------------


def to_program_features(
    features: Mapping[str, np.ndarray], specs: Mapping[str, Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """Checks the transformed features against the exported ones (dtype, shape)."""
    out = {}
    for name, spec in specs.items():
        if name not in features:
            raise ServingInputError(
                f"feature '{name}' is missing: the model reads it, but the request "
                f"gave {sorted(features)}."
            )
        value = np.asarray(features[name])
        dtype = np.dtype(spec["dtype"])
        if value.dtype != dtype:
            if _kind(value.dtype) != _kind(dtype) and not (
                _kind(dtype) == "f" and _kind(value.dtype) in "biu"
            ):
                raise ServingInputError(
                    f"feature '{name}': expected {dtype} values, got {value.dtype}."
                )
            value = value.astype(dtype)
        want = spec["shape"]
        got = value.shape[1:]
        if len(got) != len(want) or any(
            w is not None and w != g for w, g in zip(want, got, strict=False)
        ):
            fixed = [w for w in want if w is not None]
            if None not in want and math.prod(got) == math.prod(fixed):
                value = value.reshape(len(value), *want)
            else:
                shown = ["k" if w is None else w for w in want]
                raise ServingInputError(
                    f"feature '{name}': expected shape [batch, "
                    f"{', '.join(map(str, shown))}] per request, got {list(value.shape)}."
                )
        out[name] = value
    return out


def _kind(dtype: np.dtype) -> str:
    return "i" if dtype.kind in "iu" else dtype.kind
