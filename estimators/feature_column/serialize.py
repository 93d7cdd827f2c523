"""JSON round trip of frozen columns (vocabularies and statistics included)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from estimators.feature_column import base
from estimators.feature_column.base import FeatureColumn
from estimators.feature_column.bucketized import BucketizedColumn
from estimators.feature_column.categorical import (
    HashedCategoricalColumn,
    IdentityCategoricalColumn,
)
from estimators.feature_column.crossed import CrossedColumn
from estimators.feature_column.dense import (
    EmbeddingColumn,
    IndicatorColumn,
    SharedEmbeddingColumn,
)
from estimators.feature_column.numeric import NumericColumn
from estimators.feature_column.vocabulary import VocabularyListColumn
from estimators.feature_column.weighted import WeightedCategoricalColumn

__all__ = ["deserialize", "serialize"]

FORMAT = "estimators.feature_column"
VERSION = 1


def _classes() -> dict[str, type[FeatureColumn]]:
    classes = (
        BucketizedColumn,
        CrossedColumn,
        EmbeddingColumn,
        HashedCategoricalColumn,
        IdentityCategoricalColumn,
        IndicatorColumn,
        NumericColumn,
        SharedEmbeddingColumn,
        VocabularyListColumn,
        WeightedCategoricalColumn,
    )
    return {cls.__name__: cls for cls in classes}


def _encode(value: Any, owner: FeatureColumn, field: str) -> Any:
    if isinstance(value, FeatureColumn):
        return _encode_column(value)
    if isinstance(value, tuple):
        return [_encode(v, owner, field) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if callable(value):
        raise ValueError(
            f"column '{owner.name}': `{field}` is a Python callable, which cannot be "
            "serialised; use the built-in options (e.g. normalizer='zscore', the "
            "default initializer) for columns that are saved or exported."
        )
    raise ValueError(f"column '{owner.name}': cannot serialise `{field}`={value!r}.")


def _encode_column(column: FeatureColumn) -> dict[str, Any]:
    encoded: dict[str, Any] = {"type": type(column).__name__}
    for field in dataclasses.fields(column):  # type: ignore[arg-type]
        encoded[field.name] = _encode(getattr(column, field.name), column, field.name)
    return encoded


def _decode(value: Any, classes: dict[str, type[FeatureColumn]]) -> Any:
    if isinstance(value, dict):
        return _decode_column(value, classes)
    if isinstance(value, list):
        return tuple(_decode(v, classes) for v in value)
    return value


def _decode_column(
    data: dict[str, Any], classes: dict[str, type[FeatureColumn]]
) -> FeatureColumn:
    kind = data.get("type")
    if kind not in classes:
        raise ValueError(
            f"deserialize: unknown column type {kind!r}; known: {sorted(classes)}."
        )
    fields = {k: _decode(v, classes) for k, v in data.items() if k != "type"}
    try:
        return classes[kind](**fields)
    except TypeError as e:
        raise ValueError(f"deserialize: bad fields for {kind}: {e}") from None


def serialize(columns: Iterable[FeatureColumn]) -> str:
    """Frozen columns as a JSON string (`deserialize` gives them back, `==`).

    Columns holding Python callables (`normalizer_fn`, `initializer`) cannot
    be serialised and raise a ValueError naming the column.

    Args:
        columns: Feature columns, usually the ones `analyze()` returned.

    Returns:
        JSON text: `{"format": ..., "version": 1, "columns": [...]}`.

    Example:
        >>> from estimators import feature_column as fc
        >>> cols = [fc.bucketized_column(fc.numeric_column("age"), [18, 65])]
        >>> fc.deserialize(fc.serialize(cols)) == cols
        True
    """
    encoded = [_encode_column(c) for c in base.as_column_list(columns, "columns")]
    return json.dumps({"format": FORMAT, "version": VERSION, "columns": encoded})


def deserialize(text: str) -> list[FeatureColumn]:
    """Columns from `serialize`'s JSON text.

    Args:
        text: The JSON string.

    Returns:
        The list of frozen columns.

    Example:
        >>> from estimators import feature_column as fc
        >>> fc.deserialize(fc.serialize([fc.numeric_column("x")]))[0].name
        'x'
    """
    try:
        payload = json.loads(text)
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"deserialize: not valid JSON: {e}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"deserialize: not a serialised feature-column list (format {FORMAT!r})."
        )
    if payload.get("version") != VERSION:
        raise ValueError(
            f"deserialize: version {payload.get('version')!r} is not supported "
            f"(this library reads version {VERSION})."
        )
    classes = _classes()
    return [_decode_column(c, classes) for c in payload.get("columns", [])]
