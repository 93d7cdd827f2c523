"""`make_parse_example_spec`: which raw features a set of columns reads, and how."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from estimators.feature_column import base
from estimators.feature_column.base import FeatureColumn

__all__ = ["FixedLenFeature", "VarLenFeature", "make_parse_example_spec"]


@dataclass(frozen=True)
class FixedLenFeature:
    """A raw feature with `shape` values per example (tf.io.FixedLenFeature)."""

    shape: tuple[int, ...]
    dtype: str
    default_value: tuple[float, ...] | None = None


@dataclass(frozen=True)
class VarLenFeature:
    """A raw feature with any number of values per example (tf.io.VarLenFeature)."""

    dtype: str


def make_parse_example_spec(
    feature_columns: Iterable[FeatureColumn],
) -> dict[str, FixedLenFeature | VarLenFeature]:
    """Raw key -> spec of every raw feature the columns read.

    Like `tf.feature_column.make_parse_example_spec`; serving signatures and
    input checks use it. Dtypes are names: `"float32"`, `"int64"`, `"string"`.

    Args:
        feature_columns: The columns.

    Returns:
        A dict from raw feature key to `FixedLenFeature` or `VarLenFeature`.

    Raises:
        ValueError: two columns read the same key with different specs.

    Example:
        >>> from estimators import feature_column as fc
        >>> spec = fc.make_parse_example_spec([
        ...     fc.numeric_column("age", default_value=0.0),
        ...     fc.categorical_column_with_hash_bucket("city", 10)])
        >>> spec["age"]
        FixedLenFeature(shape=(1,), dtype='float32', default_value=(0.0,))
        >>> spec["city"]
        VarLenFeature(dtype='string')
    """
    result: dict[str, FixedLenFeature | VarLenFeature] = {}
    for column in base.as_column_list(feature_columns):
        for key, spec in column._parse_spec().items():
            if key in result and result[key] != spec:
                raise ValueError(
                    f"feature '{key}' is read with two different specs: "
                    f"{result[key]} and {spec} (column '{column.name}')."
                )
            result[key] = spec
    return result
