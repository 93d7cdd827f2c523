"""The batch format: how Arrow, pandas and Python values become columns.

ARCHITECTURE.md fixes what a batch holds: numeric and boolean columns are
numpy arrays; string and binary columns stay `pyarrow.Array` (nulls allowed)
so vocabulary lookup and hashing stay vectorised in Arrow. The rules here:

- floats: nulls become NaN; integers and booleans with nulls become float64
  with NaN (numpy has no integer null);
- strings: `pyarrow.StringArray` (large strings and dictionary-encoded strings,
  e.g. pandas categoricals, are decoded to it so every batch has one type);
- timestamps and dates: numpy datetime64 (nulls are NaT);
- fixed-size lists of numbers: a 2-d numpy array; anything else stays Arrow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._block import Column

__all__ = ["from_arrow", "from_value", "table_from_pandas"]


def from_arrow(array: pa.Array | pa.ChunkedArray, *, as_float: bool = False) -> Column:
    """Converts one Arrow column to the batch format.

    Args:
        array: The column.
        as_float: Give integers and booleans as float64 even without nulls in
            this piece, because other pieces of the same column have some.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return array.cast(pa.string())
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return array.cast(pa.binary())
    if pa.types.is_null(kind):
        return np.full(len(array), np.nan)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        if as_float or array.null_count:
            # Unsafe: integers beyond 2**53 lose precision instead of raising.
            return array.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return array.to_numpy(zero_copy_only=False)
    if pa.types.is_floating(kind) or pa.types.is_temporal(kind):
        return array.to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_list(kind) and array.null_count == 0:
        values = from_arrow(array.flatten())
        if isinstance(values, np.ndarray):
            return values.reshape(len(array), kind.list_size, *values.shape[1:])
    return array


def from_value(value: Any, name: str) -> Column:
    """Converts a user-given leaf (numpy, Arrow, pandas, list) to a column."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return from_arrow(value)
    if type(value).__module__.startswith("pandas"):
        return _from_series(value, name)
    if isinstance(value, str | bytes):
        raise TypeError(f"{name!r}: expected an array of values, got a single string.")
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name!r}: cannot convert {type(value).__name__} to an array ({error})."
        ) from None


def _from_series(series: Any, name: str) -> Column:
    values = getattr(series, "array", series)
    dtype = getattr(series, "dtype", None)
    if (
        dtype is not None
        and getattr(dtype, "kind", "O") in "biufcmM"
        and not (series.isna().any() if hasattr(series, "isna") else False)
    ):
        return np.asarray(values)
    try:
        return from_arrow(pa.Array.from_pandas(series))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise TypeError(f"{name!r}: {_first_line(error)}") from None


def table_from_pandas(frame: Any) -> pa.Table:
    """A pandas DataFrame as an Arrow table (index dropped), with a clear error."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise TypeError(f"cannot convert the DataFrame: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
