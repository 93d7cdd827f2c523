"""Host-side coercion of raw feature values (numpy, pyarrow) for the transforms.

Everything here is vectorised with numpy and pyarrow.compute. Python loops
over rows only run on the error path (to name the offending row) and for numpy
object arrays that Arrow cannot convert, which are Python objects already.
Failures raise `FeatureInputError` naming the feature, the row and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc
from estimators.feature_column.errors import FeatureInputError

__all__ = [
    "Layout",
    "batch_size",
    "dense_width",
    "first_valid",
    "flatten",
    "integer_values",
    "numeric_values",
    "string_values",
    "text_array",
    "to_arrow",
    "typed_values",
]

_NUMBER_RE = r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)$"
_EXPECTED = {
    "string": "strings",
    "numeric": "a numeric column",
    "integer": "integer ids",
}
_ARROW_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)


def batch_size(value: Any, key: str) -> int:
    """Number of rows of a raw feature value."""
    if isinstance(value, pa.Array | pa.ChunkedArray | list | tuple):
        return len(value)
    shape = np.shape(value)
    if not shape:
        raise FeatureInputError(
            f"feature '{key}': expected an array with a leading batch dimension, "
            f"got a scalar {value!r}."
        )
    return int(shape[0])


@dataclass(frozen=True)
class Layout:
    """Where flat values go in a `[batch, width]` matrix (dense or ragged lists)."""

    batch: int
    width: int
    rows: np.ndarray | None = None  # ragged: row of each flat value
    cols: np.ndarray | None = None  # ragged: position of each flat value in its row

    def scatter(self, flat: np.ndarray, fill: Any) -> np.ndarray:
        """Places per-value results into `[batch, width]`, padding with `fill`."""
        if self.rows is None:
            return flat.reshape(self.batch, self.width)
        out = np.full((self.batch, self.width), fill, dtype=flat.dtype)
        out[self.rows, self.cols] = flat
        return out

    def row_of(self, flat_index: int) -> int:
        if self.rows is None:
            return flat_index // max(self.width, 1)
        return int(self.rows[flat_index])


def to_arrow(value: Any, key: str, want: str) -> pa.Array:
    """Converts a raw value (numpy, arrow, list) to one Arrow array.

    `want` ("string", "numeric" or "integer") shapes the conversion and the
    error message when a numpy object array mixes types Arrow cannot convert.
    """
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        if isinstance(value, pa.DictionaryArray):
            value = value.dictionary_decode()
        if pa.types.is_string_view(value.type) or pa.types.is_binary_view(value.type):
            value = value.cast(
                pa.large_binary()
                if pa.types.is_binary_view(value.type)
                else pa.large_string()
            )
        return value
    if isinstance(value, list | tuple):
        try:  # nested Python lists become Arrow list arrays (ragged allowed)
            return pa.array(value, from_pandas=True)
        except _ARROW_ERRORS:
            value = _object_array(value)
    elif not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except ValueError:
            value = _object_array(value)
    flat = value.reshape(-1) if value.ndim > 1 else value
    try:
        return pa.array(flat, from_pandas=True)
    except _ARROW_ERRORS:
        per_row = math.prod(value.shape[1:]) if value.ndim > 1 else 1
        return _object_fallback(flat, key, want, per_row)


def _object_array(values: Any) -> np.ndarray:
    """A 1-D object array of the items (numpy would stringify mixed lists)."""
    items = list(values)
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _object_fallback(flat: np.ndarray, key: str, want: str, per_row: int) -> pa.Array:
    """Converts values Arrow rejected, or names the first row that is wrong."""
    cleaned: list[Any] = []
    for index, v in enumerate(flat.tolist()):
        row = index // max(per_row, 1)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            cleaned.append(None)
        elif want == "string" and isinstance(v, str | bytes):
            cleaned.append(_as_text(v, key, row))
        elif want != "string" and isinstance(v, bool | int | float):
            cleaned.append(_as_float(v, key, row))
        else:
            expected = _EXPECTED[want]
            raise FeatureInputError(
                f"feature '{key}': expected {expected}, got {type(v).__name__} "
                f"(row {row}: {v!r})."
            )
    return pa.array(cleaned, type=pa.string() if want == "string" else pa.float64())


def _as_text(v: str | bytes, key: str, row: int) -> str:
    try:
        text = v.decode("utf-8") if isinstance(v, bytes) else v
        text.encode("utf-8")
    except UnicodeError:
        raise FeatureInputError(
            f"feature '{key}': value is not valid UTF-8 text (row {row}: {v!r})."
        ) from None
    return text


def _as_float(v: Any, key: str, row: int) -> float:
    try:
        return float(v)
    except OverflowError:
        raise FeatureInputError(
            f"feature '{key}': number out of the float64 range (row {row}: {v!r})."
        ) from None


def flatten(array: pa.Array, batch: int, source: Any = None) -> tuple[pa.Array, Layout]:
    """Splits a (possibly list-typed) array into flat values and their layout."""
    if (
        pa.types.is_list(array.type)
        or pa.types.is_large_list(array.type)
        or (pa.types.is_fixed_size_list(array.type))
    ):
        flat = array.flatten()
        rows = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(
            zero_copy_only=False
        )
        starts = np.cumsum(lengths) - lengths
        cols = np.arange(len(flat)) - starts[rows] if len(flat) else rows
        width = max(int(lengths.max()) if len(lengths) else 0, 1)
        return flat, Layout(batch, width, rows.astype(np.int64), cols.astype(np.int64))
    return array, Layout(batch, dense_width(source, batch, len(array)))


def dense_width(source: Any, batch: int, count: int) -> int:
    """Values per row: from a numpy shape (even for 0 rows), else `count / batch`."""
    if isinstance(source, np.ndarray) and source.ndim > 1:
        return math.prod(source.shape[1:])
    return count // batch if batch else 1


def string_values(
    value: Any, key: str, *, allow_numbers: bool
) -> tuple[pa.Array, Layout]:
    """Flat `large_string` values (nulls = missing) and their `[B, k]` layout.

    Empty strings count as missing, as tf's dense-to-sparse conversion dropped
    them. Integers become their decimal text when `allow_numbers` (hash columns).
    """
    array, layout, _ = text_array(value, key, allow_numbers=allow_numbers)
    array = pc.cast(array, pa.large_string())
    array = pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.large_string()), array)
    return array, layout


def text_array(
    value: Any, key: str, *, allow_numbers: bool
) -> tuple[pa.Array, Layout, bool]:
    """Flat string / large_string values (nulls and "" kept), their layout and
    whether they are integers turned into text."""
    batch = batch_size(value, key)
    array, layout = flatten(to_arrow(value, key, "string"), batch, value)
    kind = array.type
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.large_string()), layout, False
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        array = _decode_binary(array, key, layout)
    elif pa.types.is_integer(kind) and allow_numbers:
        return pc.cast(array, pa.large_string()), layout, True
    elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        row, shown = first_valid(array, layout)
        raise FeatureInputError(
            f"feature '{key}': expected strings, got {kind} (row {row}: {shown!r})."
        )
    return array, layout, False


def _decode_binary(array: pa.Array, key: str, layout: Layout) -> pa.Array:
    try:
        return pc.cast(array, pa.large_string())
    except pa.ArrowInvalid:
        for index, v in enumerate(array.to_pylist()):
            if v is not None:
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError:
                    row = layout.row_of(index)
                    raise FeatureInputError(
                        f"feature '{key}': value is not valid UTF-8 text "
                        f"(row {row}: {v!r})."
                    ) from None
        raise


def first_valid(array: pa.Array, layout: Layout) -> tuple[int, Any]:
    """Row and value of the first non-null entry (for error messages)."""
    valid = np.flatnonzero(pc.is_valid(array).to_numpy(zero_copy_only=False))
    if not len(valid):
        return 0, None
    return layout.row_of(int(valid[0])), array[int(valid[0])].as_py()


def numeric_values(value: Any, key: str) -> tuple[np.ndarray, Layout]:
    """Flat float64 values (NaN = missing) and their layout; parses numeric text."""
    batch = batch_size(value, key)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        flat = value.reshape(-1).astype(np.float64)
        return flat, Layout(batch, dense_width(value, batch, flat.size))
    array, layout = flatten(to_arrow(value, key, "numeric"), batch, value)
    return _floats(array, key, layout), layout


def _floats(
    array: pa.Array, key: str, layout: Layout, want: str = "numeric"
) -> np.ndarray:
    kind = array.type
    if pa.types.is_null(kind):
        return np.full(len(array), np.nan)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        array = _decode_binary(array, key, layout)
        kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parse_numbers(array, key, layout, want)
    if not (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
    ):
        row, shown = first_valid(array, layout)
        raise FeatureInputError(
            f"feature '{key}': expected {_EXPECTED[want]}, got {kind} "
            f"(row {row}: {shown!r})."
        )
    floats = pc.cast(array, pa.float64(), safe=False)
    return floats.to_numpy(zero_copy_only=False)


def _parse_numbers(array: pa.Array, key: str, layout: Layout, want: str) -> np.ndarray:
    text = pc.utf8_trim_whitespace(array)
    number = pc.fill_null(
        pc.match_substring_regex(text, _NUMBER_RE, ignore_case=True), False
    )
    blank = pc.fill_null(pc.equal(text, ""), True)
    bad = np.flatnonzero(
        ~number.to_numpy(zero_copy_only=False) & ~blank.to_numpy(zero_copy_only=False)
    )
    if len(bad):
        index = int(bad[0])
        raise FeatureInputError(
            f"feature '{key}': expected {_EXPECTED[want]}, got string "
            f"(row {layout.row_of(index)}: {array[index].as_py()!r})."
        )
    kept = pc.if_else(number, text, pa.scalar(None, text.type))
    return pc.cast(kept, pa.float64()).to_numpy(zero_copy_only=False)


def integer_values(value: Any, key: str) -> tuple[np.ndarray, np.ndarray, Layout]:
    """Flat int64 values, a missing mask (null, NaN or -1) and their layout.

    Floats are accepted when they hold whole numbers; anything else names the row.
    """
    batch = batch_size(value, key)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biu":
        flat = value.reshape(-1)
        layout = Layout(batch, dense_width(value, batch, flat.size))
        if flat.dtype == np.uint64 and len(flat) and flat.max() >= 2**63:
            index = int(np.argmax(flat >= 2**63))
            raise FeatureInputError(
                f"feature '{key}': id out of the int64 range "
                f"(row {layout.row_of(index)}: {int(flat[index])})."
            )
        ints = flat.astype(np.int64)
        return ints, ints == -1, layout
    array, layout = flatten(to_arrow(value, key, "integer"), batch, value)
    if pa.types.is_integer(array.type):
        missing = pc.is_null(array).to_numpy(zero_copy_only=False)
        try:
            ints = (
                pc.cast(array, pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
            )
        except pa.ArrowInvalid:
            index = int(np.argmax(pc.greater(array, 2**63 - 1).fill_null(False)))
            raise FeatureInputError(
                f"feature '{key}': id out of the int64 range "
                f"(row {layout.row_of(index)}: {array[index].as_py()})."
            ) from None
        return ints, missing | (ints == -1), layout
    numbers = _floats(array, key, layout, "integer")
    missing = np.isnan(numbers)
    whole = np.isfinite(numbers) & (np.floor(numbers) == numbers)
    with np.errstate(invalid="ignore"):
        fits = np.abs(numbers) < 2.0**63
    bad = np.flatnonzero(~missing & ~(whole & fits))
    if len(bad):
        index = int(bad[0])
        raise FeatureInputError(
            f"feature '{key}': expected integer ids, got {float(numbers[index])!r} "
            f"(row {layout.row_of(index)})."
        )
    ints = np.where(missing, -1, numbers).astype(np.int64)
    return ints, missing | (ints == -1), layout


def typed_values(raw: Any, key: str, dtype: str) -> tuple[pa.Array, np.ndarray, Layout]:
    """Flat Arrow values, their missing mask and layout, for a str or int column."""
    if dtype == "string":
        values, layout = string_values(raw, key, allow_numbers=False)
        return values, pc.is_null(values).to_numpy(zero_copy_only=False), layout
    ints, missing, layout = integer_values(raw, key)
    return pa.array(ints, pa.int64()), missing, layout
