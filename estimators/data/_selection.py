"""Choosing columns and rows: feature / label names, element layout, filters.

Errors are one line naming what is missing and listing what is available.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from estimators.data._structure import Spec

__all__ = [
    "Label",
    "element_spec",
    "filter_error",
    "label_list",
    "missing_column_error",
    "require_columns",
    "select_columns",
    "to_expression",
]

Label = str | Sequence[str] | None


def element_spec(features: list[str], labels: str | list[str] | None) -> Spec:
    """`{feature: leaf}` alone, or `({feature: leaf}, label leaf or dict)`."""
    feature_spec = ("dict", tuple((name, i) for i, name in enumerate(features)))
    if labels is None:
        return feature_spec
    first = len(features)
    if isinstance(labels, str):
        return ("tuple", (feature_spec, first))
    label_spec = ("dict", tuple((name, first + i) for i, name in enumerate(labels)))
    return ("tuple", (feature_spec, label_spec))


def select_columns(
    available: list[str],
    columns: Sequence[str] | None,
    labels: str | Sequence[str] | None,
    where: str,
) -> tuple[list[str], str | list[str] | None]:
    """Feature and label column names, checked against what `where` has."""
    if isinstance(columns, str):
        columns = [columns]
    label_names = label_list(labels)
    for name in label_names:
        if name not in available:
            raise missing_column_error(name, available, where, "label column")
    for name in columns or ():
        if name not in available:
            raise missing_column_error(name, available, where, "column")
    chosen = list(columns) if columns is not None else list(available)
    features = [name for name in chosen if name not in label_names]
    labels = labels if labels is None or isinstance(labels, str) else label_names
    return features, labels


def missing_column_error(
    name: str, available: list[str], where: str, what: str
) -> ValueError:
    listed = ", ".join(available) if available else "(none)"
    return ValueError(
        f"{what} {name!r} not found in {where}; available columns: {listed}."
    )


def label_list(labels: str | Sequence[str] | None) -> list[str]:
    if labels is None:
        return []
    return [labels] if isinstance(labels, str) else list(labels)


def to_expression(filter: Any) -> Any:
    import pyarrow.compute as pc

    if filter is None or isinstance(filter, pc.Expression):
        return filter
    import pyarrow.parquet as pq

    try:
        return pq.filters_to_expression(filter)
    except (TypeError, ValueError) as error:
        raise TypeError(
            "`filter` must be a pyarrow.compute.Expression or a list of "
            f"(column, op, value) tuples, got {filter!r} ({error})."
        ) from None


def filter_error(
    filter: Any, error: BaseException, names: list[str], where: str
) -> ValueError:
    text = str(error).strip().splitlines()[0]
    match = re.search(r"FieldRef\.Name\((.*?)\)", text)
    if match:
        return missing_column_error(
            match.group(1), names, where, f"filter {filter}: column"
        )
    return ValueError(f"filter {filter} cannot apply to {where}: {text}")


def require_columns(features: list[str], labels: Label, where: str) -> None:
    if not features and labels is None:
        raise ValueError(f"no columns selected from {where}.")
