"""The shapes of the program's features, found by transforming an empty example.

The transformed features of one raw row with no real value (missing categories,
zeros) give each feature's dtype and per-example shape; transforming it again with
two values in every list column shows which widths follow the request (those get
a symbolic dimension in the export and are padded to power-of-two buckets).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from estimators.export.serving import STRING, InputSpec, ServingInputReceiver
from estimators.mode_keys import ModeKeys
from estimators.runner import ModelRunner

__all__ = ["example_features"]


def _example_column(spec: InputSpec, width: int) -> Any:
    """One row of a raw column with no real value, for tracing the shapes."""
    if spec.varlen:
        kind = (
            pa.large_string()
            if spec.dtype == STRING
            else pa.from_numpy_dtype(np.dtype(spec.dtype))
        )
        return pa.array([[None] * width], pa.list_(kind))
    shape = spec.shape or (1,)
    if spec.dtype == STRING:
        if spec.default_value is not None:
            return np.asarray(spec.default_value, object).reshape(1, *shape)
        return np.full((1, *shape), "", object)
    if spec.default_value is not None:
        return np.asarray(spec.default_value, spec.dtype).reshape(1, *shape)
    return np.zeros((1, *shape), spec.dtype)


def example_features(
    runner: ModelRunner, receiver: ServingInputReceiver
) -> tuple[dict[str, np.ndarray], frozenset[str]]:
    """Transformed features of one example row, and those of variable width.

    The raw example holds no real value (missing categories, zeros); it is
    transformed twice, with one and with two values in each list column: the
    features whose width follows are exported with a symbolic width.
    """
    shapes = []
    features: dict[str, np.ndarray] = {}
    for width in (1, 2):
        raw = {
            name: _example_column(spec, width)
            for name, spec in receiver.features.items()
        }
        pipeline = runner.pipeline_of(raw, ModeKeys.PREDICT)
        try:
            features, _, _ = pipeline.prepare(raw, None)
        except ValueError as e:
            raise ValueError(
                f"export_saved_model: the serving inputs do not fit the "
                f"model's feature columns: {e}"
            ) from None
        shapes.append({k: v.shape for k, v in features.items()})
    var_width = frozenset(
        k
        for k in shapes[0]
        if len(shapes[0][k]) >= 2
        and shapes[1].get(k, shapes[0][k])[1] != shapes[0][k][1]
    )
    if not features:
        raise ValueError(
            "export_saved_model: the serving inputs give the model no numeric feature "
            f"(inputs {sorted(receiver.features)}); declare feature columns for "
            "string inputs."
        )
    return features, var_width
