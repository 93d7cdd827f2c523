"""Numeric columns: real-valued features of a fixed shape, optionally normalised."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from estimators.feature_column import base, in_model, raw_values, validation
from estimators.feature_column.base import DenseColumn
from estimators.feature_column.errors import FeatureInputError
from estimators.feature_column.host_context import HostContext
from estimators.feature_column.parse_spec import FixedLenFeature

__all__ = ["NumericColumn", "numeric_column"]

NORMALIZERS = ("zscore",)


@dataclass(frozen=True, repr=False)
class NumericColumn(DenseColumn):
    """A real-valued feature of fixed `shape`; built by `numeric_column`.

    `default_value`, `mean` and `std` are flattened to `prod(shape)` floats.
    `mean` and `std` are filled by `analyze()` when `normalizer="zscore"`.
    """

    key: str
    shape: tuple[int, ...] = (1,)
    default_value: tuple[float, ...] | None = None
    dtype: str = "float32"
    normalizer_fn: Callable[[Any], Any] | None = None
    normalizer: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def name(self) -> str:
        return self.key

    @property
    def _dense_size(self) -> int:
        return math.prod(self.shape)

    @property
    def _open_analyzer(self) -> str | None:
        if self.normalizer == "zscore" and (self.mean is None or self.std is None):
            return "zscore mean and std"
        return None

    def _raw_keys(self) -> frozenset[str]:
        return frozenset({self.key})

    def _parse_spec(self) -> dict[str, Any]:
        return {self.key: FixedLenFeature(self.shape, self.dtype, self.default_value)}

    def _host_values(self, ctx: HostContext) -> np.ndarray:
        """`float64 [B, prod(shape)]`, defaults filled; raises on missing values."""
        raw = ctx.raw(self.key, self)
        if _plain_numbers(raw, self.shape):  # fast path, same result
            values = raw.astype(np.float64).reshape(-1, 1)
            if raw.dtype.kind != "f":
                return values  # integers and booleans are never missing
        else:
            flat, layout = raw_values.numeric_values(raw, self.key)
            values = _rows(self, flat, layout)
        missing = np.isnan(values)
        if self.default_value is not None:
            return np.where(missing, np.asarray(self.default_value), values)
        if missing.any():
            row, col = np.argwhere(missing)[0]
            where = (
                f"row {row}" if values.shape[1] == 1 else f"row {row}, element {col}"
            )
            raise FeatureInputError(
                f"feature '{self.key}': missing value ({where}: null or NaN) and "
                "the column has no default_value; pass numeric_column(..., "
                "default_value=...) or clean the data."
            )
        return values

    def _host_outputs(self, ctx: HostContext) -> dict[str, np.ndarray]:
        base.require_frozen(self)
        raw = ctx.raw(self.key, self)
        if _plain_numbers(raw, self.shape) and raw.dtype.kind == "f":
            # One cast: NaN stays NaN in float32 and the default is the same
            # float32 either way, so this equals the float64 route below.
            with np.errstate(over="ignore"):
                out = raw.astype(np.float32).reshape(-1, 1)
            if np.isfinite(out).all():
                return {self.name: out}
            _check_not_infinite(self, out, raw.reshape(-1, 1))
            missing = np.isnan(out)
            if self.default_value is not None:
                out[missing] = np.float32(self.default_value[0])
                return {self.name: out}
        values = self._host_values(ctx)  # raises the missing-value error
        if _plain_numbers(raw, self.shape) and raw.dtype.kind != "f":
            # Integers (never missing, < 2**64) cannot overflow float32.
            return {self.name: values.astype(np.float32).reshape(-1, *self.shape)}
        with np.errstate(over="ignore"):
            out = values.astype(np.float32)
        _check_not_infinite(self, out, values)
        return {self.name: out.reshape(-1, *self.shape)}

    def _dense_tensor(self, features: Mapping[str, Any], params: Any) -> jnp.ndarray:
        x = in_model.read_numeric(features, self.name, self.key, self.shape)
        if self.default_value is not None:
            default = jnp.asarray(self.default_value, jnp.float32).reshape(self.shape)
            x = jnp.where(jnp.isnan(x), default, x)
        if self.normalizer_fn is not None:
            x = jnp.asarray(self.normalizer_fn(x), jnp.float32)
        if self.normalizer == "zscore":
            if self.mean is None or self.std is None:
                raise FeatureInputError(base.needs_analyze_message(self))
            mean = jnp.asarray(self.mean, jnp.float32).reshape(self.shape)
            std = jnp.asarray(self.std, jnp.float32).reshape(self.shape)
            x = in_model.safe_divide(x - mean, std) + jnp.where(std > 0, 0.0, x - mean)
        return x.reshape(x.shape[0], self._dense_size)


def _check_not_infinite(
    column: NumericColumn, out: np.ndarray, values: np.ndarray
) -> None:
    """Raises naming the first value that is infinite or overflows float32.

    Infinity is not a missing value (no default replaces it): it would make the
    model's outputs NaN without an error.
    """
    infinite = np.isinf(out)
    if not infinite.any():
        return
    row, col = np.argwhere(infinite)[0]
    where = f"row {row}" if out.shape[1] == 1 else f"row {row}, element {col}"
    value = values[row, col]
    kind = "an infinite value" if np.isinf(value) else "a value beyond float32"
    raise FeatureInputError(
        f"feature '{column.key}': {kind} ({where}: {float(value)!r}); the model "
        "computes in float32: clip or clean the data."
    )


def _plain_numbers(raw: Any, shape: tuple[int, ...]) -> bool:
    """A 1-D numpy numeric array for a `(1,)` column: `_host_values`' fast path."""
    return (
        type(raw) is np.ndarray
        and raw.ndim == 1
        and raw.dtype.kind in "biuf"
        and shape == (1,)
    )


def _rows(column: NumericColumn, flat: np.ndarray, layout: Any) -> np.ndarray:
    """`[B, size]` values; list rows must hold `size` values (or none: missing)."""
    size = column._dense_size
    if layout.rows is None:
        if layout.width == size:
            return flat.reshape(layout.batch, size)
        row, got = 0, layout.width
    else:
        counts = np.bincount(layout.rows, minlength=layout.batch)
        wrong = np.flatnonzero((counts != size) & (counts != 0))
        if not len(wrong):
            values = np.full((layout.batch, size), np.nan)
            values[layout.rows, layout.cols] = flat
            return values
        row, got = int(wrong[0]), int(counts[wrong[0]])
    raise FeatureInputError(
        f"feature '{column.key}': expected {size} value(s) per row for shape "
        f"{column.shape}, got {got} (row {row})."
    )


def numeric_column(
    key: str,
    shape: int | tuple[int, ...] = (1,),
    default_value: float | Any | None = None,
    dtype: Any = "float32",
    normalizer_fn: Callable[[Any], Any] | None = None,
    *,
    normalizer: str | None = None,
) -> NumericColumn:
    """A real-valued feature, like `tf.feature_column.numeric_column`.

    The host transform fills missing values with `default_value` and returns
    `float32 [B, *shape]`; `input_layer` then applies `normalizer_fn` (a jnp
    function, as tf applied it in-graph) or the z-score learnt by `analyze()`.
    The model also accepts the raw numeric array, so no transform is needed.

    Args:
        key: Name of the raw feature.
        shape: Per-example shape (an int means `(int,)`). Default `(1,)`.
        default_value: Value (scalar or nested sequence of `shape`) used for
            nulls and NaNs; None (default) makes them an error.
        dtype: Raw dtype, used by `make_parse_example_spec`. Default float32.
        normalizer_fn: Function applied to the `float32 [B, *shape]` jnp array
            inside the model. Not serialisable.
        normalizer: `"zscore"` to learn mean and std with `analyze()` and use
            `(x - mean) / std` (`x - mean` where std is 0). Default None.

    Returns:
        A frozen `NumericColumn`.

    Example:
        >>> numeric_column("age").name
        'age'
        >>> numeric_column("pixels", shape=(2, 2), default_value=0.0).default_value
        (0.0, 0.0, 0.0, 0.0)
    """
    key = validation.check_key(key)
    shape_tuple = _check_shape(shape)
    dtype_name = validation.canonical_dtype(dtype)
    if dtype_name == "string" or dtype_name == "bool":
        raise ValueError(
            f"numeric_column '{key}': `dtype` must be a float or integer dtype, "
            f"got {dtype!r}; use a categorical column for strings."
        )
    if normalizer_fn is not None and not callable(normalizer_fn):
        raise ValueError(
            f"numeric_column '{key}': `normalizer_fn` must be callable, got "
            f"{normalizer_fn!r}."
        )
    if normalizer is not None and normalizer not in NORMALIZERS:
        raise ValueError(
            f"numeric_column '{key}': `normalizer` must be None or 'zscore', "
            f"got {normalizer!r}."
        )
    if normalizer is not None and normalizer_fn is not None:
        raise ValueError(
            f"numeric_column '{key}': give `normalizer_fn` or `normalizer`, not both."
        )
    return NumericColumn(
        key=key,
        shape=shape_tuple,
        default_value=_check_default(key, default_value, shape_tuple),
        dtype=dtype_name,
        normalizer_fn=normalizer_fn,
        normalizer=normalizer,
    )


def _check_shape(shape: Any) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, int | np.integer) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        raise ValueError(
            f"`shape` must be an int or a tuple of ints, got {shape!r}."
        ) from None
    if not dims or not all(
        isinstance(d, int | np.integer) and not isinstance(d, bool) and d > 0
        for d in dims
    ):
        raise ValueError(
            f"`shape` must be a non-empty tuple of positive ints, got {shape!r}."
        )
    return tuple(int(d) for d in dims)


def _check_default(
    key: str, default_value: Any, shape: tuple[int, ...]
) -> tuple[float, ...] | None:
    if default_value is None:
        return None
    try:
        values = np.asarray(default_value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"numeric_column '{key}': `default_value` must be a number or a "
            f"sequence of numbers, got {default_value!r}."
        ) from None
    if values.ndim == 0:
        values = np.full(shape, values)
    if values.shape != shape and values.size != math.prod(shape):
        raise ValueError(
            f"numeric_column '{key}': `default_value` must have shape {shape}, "
            f"got {values.shape}."
        )
    if np.isnan(values).any():
        raise ValueError(f"numeric_column '{key}': `default_value` must not be NaN.")
    return tuple(float(v) for v in values.reshape(-1))
