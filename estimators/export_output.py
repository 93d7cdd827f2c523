"""Serving signatures of a model_fn: `EstimatorSpec(export_outputs={...})`.

tf.estimator's `PredictOutput`, `ClassificationOutput` and `RegressionOutput`,
with tf's output keys and its rule for the default signature: with no
`export_outputs` the predictions are the `serving_default` signature; one
signature is also the default; several must name one `serving_default`.
An export holds every signature; `ExportedModel(..., signature_name=...)` (and
MLflow's `params={"signature_name": ...}`) serve a named one.

Example:
    >>> import numpy as np
    >>> outputs = {"scores": ClassificationOutput(scores=np.zeros((2, 3)))}
    >>> sorted(signature_outputs(outputs, predictions={"p": np.ones(2)}))
    ['scores', 'serving_default']
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_SERVING_SIGNATURE_DEF_KEY",
    "ClassificationOutput",
    "ExportOutput",
    "PredictOutput",
    "RegressionOutput",
    "check_export_outputs",
    "signature_outputs",
]

DEFAULT_SERVING_SIGNATURE_DEF_KEY = "serving_default"


class ExportOutput(abc.ABC):
    """An output of a model that can be served (one serving signature)."""

    @property
    @abc.abstractmethod
    def kind(self) -> str:
        """ "predict", "classify" or "regress" (tf's method names)."""

    @abc.abstractmethod
    def outputs(self) -> dict[str, Any]:
        """The signature's named output arrays."""


class PredictOutput(ExportOutput):
    """A generic signature: a dict of arrays (or one array, named "output").

    Args:
        outputs: The arrays served, by name.
    """

    def __init__(self, outputs: Any) -> None:
        if not isinstance(outputs, Mapping):
            outputs = {"output": outputs}
        for key in outputs:
            if not isinstance(key, str) or not key:
                raise ValueError(
                    f"PredictOutput: output keys must be non-empty strings, got {key!r}."
                )
        self._outputs = dict(outputs)

    @property
    def kind(self) -> str:
        return "predict"

    def outputs(self) -> dict[str, Any]:
        return dict(self._outputs)


class ClassificationOutput(ExportOutput):
    """A classification signature: "scores" `[batch, n]` and/or "classes".

    Args:
        scores: Float scores per class (e.g. probabilities).
        classes: The classes (ids here: JAX holds no strings; an export of a
            canned classifier maps ids to names on the host).
    """

    def __init__(self, scores: Any = None, classes: Any = None) -> None:
        if scores is None and classes is None:
            raise ValueError(
                "ClassificationOutput: give `scores`, `classes` or both, got neither."
            )
        self.scores, self.classes = scores, classes

    @property
    def kind(self) -> str:
        return "classify"

    def outputs(self) -> dict[str, Any]:
        found = {"scores": self.scores, "classes": self.classes}
        return {k: v for k, v in found.items() if v is not None}


class RegressionOutput(ExportOutput):
    """A regression signature: one float "outputs" array.

    Args:
        value: The regression output, `[batch]` or `[batch, 1]`.
    """

    def __init__(self, value: Any) -> None:
        if value is None:
            raise ValueError("RegressionOutput: `value` must be an array, got None.")
        self.value = value

    @property
    def kind(self) -> str:
        return "regress"

    def outputs(self) -> dict[str, Any]:
        return {"outputs": self.value}


def check_export_outputs(export_outputs: Any) -> dict[str, ExportOutput] | None:
    """Validates `EstimatorSpec.export_outputs` where the spec is built."""
    if export_outputs is None:
        return None
    if not isinstance(export_outputs, Mapping):
        raise TypeError(
            "EstimatorSpec: `export_outputs` must be a dict of signature name to "
            f"est.export.PredictOutput/ClassificationOutput/RegressionOutput, got "
            f"{type(export_outputs).__name__}."
        )
    for name, output in export_outputs.items():
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"EstimatorSpec: `export_outputs` keys must be signature names, got "
                f"{name!r}."
            )
        if not isinstance(output, ExportOutput):
            raise TypeError(
                f"EstimatorSpec: export_outputs[{name!r}] must be an "
                "est.export.PredictOutput, ClassificationOutput or RegressionOutput, "
                f"got {type(output).__name__}."
            )
    return dict(export_outputs)


def signature_outputs(
    export_outputs: Mapping[str, ExportOutput] | None, predictions: Any
) -> dict[str, ExportOutput]:
    """Every serving signature, with `serving_default` chosen as tf chose it."""
    if not export_outputs:
        return {DEFAULT_SERVING_SIGNATURE_DEF_KEY: PredictOutput(predictions)}
    outputs = dict(export_outputs)
    if len(outputs) == 1:
        ((_, only),) = outputs.items()
        outputs.setdefault(DEFAULT_SERVING_SIGNATURE_DEF_KEY, only)
    if DEFAULT_SERVING_SIGNATURE_DEF_KEY not in outputs:
        raise ValueError(
            f"EstimatorSpec: several export_outputs {sorted(outputs)} were given but "
            f"none is the default: name one of them "
            f"'{DEFAULT_SERVING_SIGNATURE_DEF_KEY}'."
        )
    return outputs
