"""The column base classes and the helpers that walk a tree of columns.

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

from estimators.feature_column import in_model
from estimators.feature_column.errors import FeatureInputError
from estimators.feature_column.host_context import HostContext

__all__ = [
    "CategoricalColumn",
    "DenseColumn",
    "FeatureColumn",
    "ParamFactory",
    "as_column_list",
    "describe",
    "is_feature_column",
    "needs_analyze_message",
    "replace_columns",
    "require_frozen",
    "walk",
]


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

    def _frozen_host_ids(self, ctx: HostContext) -> np.ndarray:
        """`_host_ids`, after checking that nothing is left to `analyze()`."""
        require_frozen(self)
        return self._host_ids(ctx)

    def _model_ids(self, features: Mapping[str, Any]) -> tuple[Any, Any]:
        """Reads `(ids [B, k] int32, weights [B, k] float32 | None)` in the model."""
        return in_model.read_ids(features, self.name, self.name), None

    def _checked_num_buckets(self) -> int:
        size = self.num_buckets
        if size is None:
            raise FeatureInputError(needs_analyze_message(self))
        return size


class DenseColumn(FeatureColumn):
    """A column that becomes a dense `float32 [B, d]` block of `input_layer`."""

    _creates_parameters: ClassVar[bool] = False
    """Whether `_dense_tensor` creates flax parameters (so needs a module)."""

    @property
    @abc.abstractmethod
    def _dense_size(self) -> int:
        """The width `d` of the column's block in `input_layer`."""

    @abc.abstractmethod
    def _dense_tensor(self, features: Mapping[str, Any], params: ParamFactory) -> Any:
        """The column's `float32 [B, d]` block, computed in the model with jnp."""


ParamFactory = Callable[[str, str, tuple[int, ...], Callable[..., Any]], Any]
"""`params(scope, name, shape, init)` creates or fetches a flax parameter."""


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
    """The error for a column whose statistics `analyze()` has not learnt yet."""
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
