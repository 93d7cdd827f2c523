"""Feature columns from a config's `ColumnSpec`s, and their frozen JSON file.

A spec names a factory of `estimators.feature_column` and its arguments; an
argument that is itself a column is written the same way:

    {"indicator_column": {"categorical_column":
        {"categorical_column_with_vocabulary_list": {"key": "workclass", "top_k": 20}}}}

Columns are grouped by the estimator argument they go to (`feature_columns`, or
`linear_feature_columns` and `dnn_feature_columns` for wide & deep).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from estimators import atomic
from estimators import feature_column as fc

__all__ = ["all_columns", "build_groups", "raw_keys", "read_groups", "write_groups"]

DEFAULT_GROUP = "feature_columns"
_FORMAT = "estimators.pipeline.feature_columns"
_NOT_COLUMNS = {"deserialize", "input_layer", "linear_model", "make_parse_example_spec"}


def _factories() -> dict[str, Any]:
    return {
        name: getattr(fc, name)
        for name in fc.__all__
        if name[0].islower()
        and name not in _NOT_COLUMNS
        and not name.startswith("is_")
        and ("column" in name or name == "shared_embeddings")
    }


def _is_spec(value: Any, factories: Mapping[str, Any]) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and next(iter(value)) in factories
    )


def _build(spec: Any, where: str, factories: Mapping[str, Any]) -> Any:
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ValueError(
            f"{where}: a feature column is written {{factory: {{argument: value}}}}, "
            f"e.g. {{numeric_column: {{key: age}}}}; got {spec!r}."
        )
    [(name, args)] = spec.items()
    if name not in factories:
        raise ValueError(
            f"{where}: unknown feature column {name!r}; known: {sorted(factories)}."
        )
    if not isinstance(args, Mapping):
        raise ValueError(
            f"{where} ({name}): arguments must be a mapping, got {args!r}."
        )
    kwargs = {k: _argument(v, f"{where}.{k}", factories) for k, v in args.items()}
    try:
        return factories[name](**kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} ({name}): {e}") from None


def _argument(value: Any, where: str, factories: Mapping[str, Any]) -> Any:
    if _is_spec(value, factories):
        return _build(value, where, factories)
    if isinstance(value, list):
        return [_argument(v, f"{where}[{i}]", factories) for i, v in enumerate(value)]
    return value


def build_groups(
    features: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, list[fc.FeatureColumn]]:
    """Builds the columns of a config's `features`, grouped by estimator argument.

    Args:
        features: A list of specs (group `feature_columns`), or a mapping from
            argument name to list of specs.

    Returns:
        Argument name -> columns (`shared_embeddings` contributes several).

    Example:
        >>> groups = build_groups([{"numeric_column": {"key": "x"}}])
        >>> [c.name for c in groups["feature_columns"]]
        ['x']
    """
    factories = _factories()
    if isinstance(features, Mapping):
        named = dict(features)
    else:
        named = {DEFAULT_GROUP: list(features)}
    groups: dict[str, list[fc.FeatureColumn]] = {}
    for group, specs in named.items():
        columns: list[fc.FeatureColumn] = []
        for i, spec in enumerate(specs):
            built = _build(spec, f"features.{group}[{i}]", factories)
            columns.extend(built if isinstance(built, list | tuple) else [built])
        groups[group] = columns
    return groups


def all_columns(
    groups: Mapping[str, Sequence[fc.FeatureColumn]],
) -> list[fc.FeatureColumn]:
    """Every column of every group, once, in order."""
    seen: dict[str, fc.FeatureColumn] = {}
    for columns in groups.values():
        for column in columns:
            seen.setdefault(column.name, column)
    return list(seen.values())


def raw_keys(groups: Mapping[str, Sequence[fc.FeatureColumn]]) -> dict[str, str]:
    """Raw feature key -> dtype name ("float32", "int64", "string") the columns read."""
    spec = fc.make_parse_example_spec(all_columns(groups))
    return {key: value.dtype for key, value in sorted(spec.items())}


def write_groups(groups: Mapping[str, Sequence[fc.FeatureColumn]], path: str) -> str:
    """Writes frozen groups as one JSON file, atomically; returns `path`."""
    payload = {
        "format": _FORMAT,
        "groups": {g: json.loads(fc.serialize(cols)) for g, cols in groups.items()},
    }
    atomic.write_json(path, payload, indent=1, sort_keys=True)
    return path


def read_groups(path: str) -> dict[str, list[fc.FeatureColumn]]:
    """Reads `write_groups`' file back into frozen columns."""
    with open(path, encoding="utf-8") as f:
        payload = json.load(f)
    if payload.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a feature-column file written by the pipeline.")
    return {
        g: fc.deserialize(json.dumps(cols)) for g, cols in payload["groups"].items()
    }
