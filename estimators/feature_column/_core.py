"""Base classes, the host-side batch context and helpers shared by all columns.

Every column is a frozen dataclass deriving from `FeatureColumn`. Columns that
produce integer ids derive from `CategoricalColumn`; columns that produce a
dense float vector inside the model derive from `DenseColumn` (a bucketized
column is both, as in tf). The private hooks below are what `transform`,
`input_layer`, `linear_model`, `analyze` and `serialize` call.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from estimators.feature_column import _inputs

__all__ = [
    "CategoricalColumn",
    "DenseColumn",
    "FeatureColumn",
    "FeatureInputError",
    "HostContext",
    "is_feature_column",
]


class FeatureInputError(ValueError):
    """A batch does not fit a column; the message names column, row and value."""


class FeatureColumn(abc.ABC):
    """Base of every feature column: a small frozen dataclass with a `name`."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The column's name; also the key of its transformed feature."""

    def __repr__(self) -> str:
        """Field values, with long vocabularies shortened so errors stay readable."""
        parts = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            text = repr(value)
            if isinstance(value, tuple) and len(value) > 8:
                head = ", ".join(map(repr, value[:5]))
                text = f"({head}, ... {len(value)} values)"
            parts.append(f"{field.name}={text}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def _open_analyzer(self) -> str | None:
        """What `analyze()` still has to learn for this column itself, or None."""
        return None

    _column_fields: ClassVar[tuple[str, ...]] = ()
    """Names of the fields that hold nested columns (or tuples with columns)."""

    def _children(self) -> tuple[FeatureColumn, ...]:
        """The columns this one is built on (nested fields)."""
        found: list[FeatureColumn] = []
        for name in self._column_fields:
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            found.extend(v for v in values if isinstance(v, FeatureColumn))
        return tuple(found)

    def _raw_keys(self) -> frozenset[str]:
        """The raw feature keys this column reads."""
        keys: frozenset[str] = frozenset()
        for child in self._children():
            keys |= child._raw_keys()
        return keys

    def _host_outputs(self, ctx: HostContext) -> dict[str, np.ndarray]:
        """The transformed features this column needs, keyed by column name."""
        outputs: dict[str, np.ndarray] = {}
        for child in self._children():
            outputs.update(child._host_outputs(ctx))
        return outputs

    def _parse_spec(self) -> dict[str, Any]:
        """Raw key -> FixedLenFeature / VarLenFeature for the raw features read."""
        spec: dict[str, Any] = {}
        for child in self._children():
            spec.update(child._parse_spec())
        return spec


class CategoricalColumn(FeatureColumn):
    """A column whose transformed feature is `int32 [B, k]` ids, -1 = no value."""

    @property
    @abc.abstractmethod
    def num_buckets(self) -> int | None:
        """Size of the id space, or None while a vocabulary or boundaries are open."""

    @abc.abstractmethod
    def _host_ids(self, ctx: HostContext) -> np.ndarray:
        """Computes the `int32 [B, k]` ids of one batch on the host."""

    def _host_outputs(self, ctx: HostContext) -> dict[str, np.ndarray]:
        return {self.name: ctx.ids(self)}

    def _model_ids(self, features: Mapping[str, Any]) -> tuple[Any, Any]:
        """Reads `(ids [B, k] int32, weights [B, k] float32 | None)` in the model."""
        from estimators.feature_column import _model

        return _model.read_ids(features, self, self.name), None

    def _checked_num_buckets(self) -> int:
        size = self.num_buckets
        if size is None:
            raise FeatureInputError(needs_analyze_message(self))
        return size


class DenseColumn(FeatureColumn):
    """A column that becomes a dense `float32 [B, d]` block of `input_layer`."""

    @property
    @abc.abstractmethod
    def _dense_size(self) -> int:
        """The width `d` of the column's block in `input_layer`."""

    @abc.abstractmethod
    def _dense_tensor(self, features: Mapping[str, Any], params: ParamFactory) -> Any:
        """The column's `float32 [B, d]` block, computed in the model with jnp."""


ParamFactory = Callable[[str, str, tuple[int, ...], Callable[..., Any]], Any]
"""`params(scope, name, shape, init)` creates or fetches a flax parameter."""


class HostContext:
    """One batch on the host: raw feature access with checks, per-column caching."""

    def __init__(self, features: Mapping[str, Any]) -> None:
        if not isinstance(features, Mapping):
            raise FeatureInputError(
                f"features must be a dict of arrays, got {type(features).__name__}."
            )
        self.features = features
        # Keyed by id(): hashing a column hashes all its fields (~40 us for a
        # 10k-value vocabulary). Holding the column keeps its id from reuse.
        self._ids: dict[int, tuple[FeatureColumn, np.ndarray]] = {}
        self._strings: dict[str, _inputs.EncodedStrings] = {}
        self._batch: tuple[str, int] | None = None

    def raw(self, key: str, column: FeatureColumn) -> Any:
        """Returns raw feature `key`, checking presence and batch size."""
        if key not in self.features:
            raise FeatureInputError(
                f"feature '{key}' (read by column '{column.name}') is missing; "
                f"available features: {sorted(map(str, self.features))}."
            )
        value = self.features[key]
        size = _inputs.batch_size(value, key)
        if self._batch is None:
            self._batch = (key, size)
        elif self._batch[1] != size:
            first, first_size = self._batch
            raise FeatureInputError(
                f"feature '{key}' has {size} rows but feature '{first}' has "
                f"{first_size}; all features of a batch need the same number of rows."
            )
        return value

    def ids(self, column: CategoricalColumn) -> np.ndarray:
        """The column's ids for this batch, computed once."""
        found = self._ids.get(id(column))
        if found is None:
            require_frozen(column)
            found = self._ids[id(column)] = (column, column._host_ids(self))
        return found[1]

    def strings(
        self, key: str, column: FeatureColumn, *, allow_numbers: bool
    ) -> _inputs.EncodedStrings:
        """Raw string feature `key`, dictionary-encoded once for all its columns.

        `allow_numbers` as in `_inputs.string_values` (integers as decimal
        text); an encoding made with it also serves calls without it when the
        feature holds no integers (else such a call raises, as it should).
        """
        found = self._strings.get(key)
        if found is None or (found.numbers and not allow_numbers):
            found = _inputs.string_codes(
                self.raw(key, column), key, allow_numbers=allow_numbers
            )
            self._strings[key] = found
        return found


def is_feature_column(value: Any) -> bool:
    """True for any feature column (what `params["feature_columns"]` may hold).

    Args:
        value: Any object.

    Returns:
        Whether it is a `FeatureColumn`.

    Example:
        >>> from estimators import feature_column as fc
        >>> fc.is_feature_column(fc.numeric_column("x")), fc.is_feature_column("x")
        (True, False)
    """
    return isinstance(value, FeatureColumn)


def describe(column: FeatureColumn) -> str:
    """`"VocabularyListColumn 'color'"`: short enough for one-line errors."""
    return f"{type(column).__name__} '{column.name}'"


def needs_analyze_message(column: FeatureColumn) -> str:
    what = column._open_analyzer or "statistics"
    return (
        f"column '{column.name}' needs analyze() first: its {what} is learnt from "
        "data; call fc.analyze(dataset, columns) and use the columns it returns."
    )


def require_frozen(column: FeatureColumn) -> None:
    """Raises the needs-analyze error if the column or a nested one is open."""
    if not column._column_fields and column._open_analyzer is None:
        return  # a frozen leaf (the common case, checked on every batch)
    for col in walk([column]):
        if col._open_analyzer is not None:
            raise FeatureInputError(needs_analyze_message(col))


def walk(columns: Iterable[FeatureColumn]) -> Iterator[FeatureColumn]:
    """Yields every column and, after it, the columns nested in it."""
    for column in columns:
        yield column
        yield from walk(column._children())


def as_column_list(feature_columns: Any, arg: str = "feature_columns") -> list[Any]:
    """Validates an iterable (or single) column argument into a list."""
    if isinstance(feature_columns, FeatureColumn):
        return [feature_columns]
    if isinstance(feature_columns, str | bytes | Mapping) or not isinstance(
        feature_columns, Iterable
    ):
        raise TypeError(
            f"`{arg}` must be an iterable of feature columns, "
            f"got {type(feature_columns).__name__}."
        )
    columns = list(feature_columns)
    for column in columns:
        if not isinstance(column, FeatureColumn):
            raise TypeError(
                f"`{arg}` must contain feature columns, got {column!r}; build them "
                "with fc.numeric_column(...), fc.indicator_column(...), ..."
            )
    return columns


def replace_columns(
    column: FeatureColumn, mapping: Mapping[FeatureColumn, FeatureColumn]
) -> FeatureColumn:
    """Returns `column` with every nested column found in `mapping` replaced."""
    if column in mapping:
        column = mapping[column]
    changes: dict[str, Any] = {}
    for name in column._column_fields:
        value = getattr(column, name)
        if isinstance(value, tuple):
            new: Any = tuple(
                replace_columns(v, mapping) if isinstance(v, FeatureColumn) else v
                for v in value
            )
        else:
            new = replace_columns(value, mapping)
        if new != value:
            changes[name] = new
    if not changes:
        return column
    return dataclasses.replace(column, **changes)  # type: ignore[type-var]


def check_key(key: Any, arg: str = "key") -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"`{arg}` must be a non-empty string, got {key!r}.")
    return key


def check_positive_int(value: Any, arg: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"`{arg}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{arg}` must be >= {minimum}, got {value}.")
    if value >= 2**31:
        raise ValueError(f"`{arg}` must be < 2**31 (ids are int32), got {value}.")
    return int(value)


_STRING_ALIASES = ("string", "str", "bytes", "object", "binary", "utf8")
_NUMERIC_DTYPES = frozenset(
    f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)
) | {"float16", "float32", "float64", "bfloat16", "bool"}


def canonical_dtype(dtype: Any, arg: str = "dtype") -> str:
    """Maps `str`, `"string"`, `np.float32`, `jnp.int64`, ... to a dtype name."""
    if dtype in (str, bytes, np.str_, np.bytes_, object) or (
        isinstance(dtype, str) and dtype.lower() in _STRING_ALIASES
    ):
        return "string"
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = getattr(dtype, "name", None) or str(dtype)
    if name not in _NUMERIC_DTYPES:
        raise ValueError(f"`{arg}` must be a numeric dtype or 'string', got {dtype!r}.")
    return name


def is_integer_dtype(name: str) -> bool:
    return name.startswith(("int", "uint"))


def check_initializer(value: Any, arg: str) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise ValueError(
            f"`{arg}` must be None or a jax initializer `(key, shape, dtype)`, "
            f"got {value!r}."
        )
    return value
