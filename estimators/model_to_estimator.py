"""`model_to_estimator`: an Estimator from a compiled Keras model or a flax module.

tf.keras.estimator.model_to_estimator's programming model: the model's current
weights are the Estimator's initial state (a pre-trained, partly frozen model
fine-tunes as in the TF Estimators guide), its optimizer, loss and metrics are
carried over, and the Estimator's checkpoints can be loaded back into the plain
model with `load_checkpoint_into` (Keras) or `load_flax_variables` (flax).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from estimators.estimator import Estimator
from estimators.run_config import RunConfig

__all__ = ["model_to_estimator"]


def model_to_estimator(
    keras_model: Any = None,
    keras_model_path: str | os.PathLike[str] | None = None,
    custom_objects: Mapping[str, Any] | None = None,
    model_dir: str | os.PathLike[str] | None = None,
    config: RunConfig | None = None,
    checkpoint_format: str | None = None,
    metric_names_map: Mapping[str, str] | None = None,
    export_outputs: Mapping[str, Any] | None = None,
    *,
    module: Any = None,
    variables: Mapping[str, Any] | None = None,
    optimizer: Any = None,
    loss: Callable[[Any, Any], Any] | None = None,
    metrics: Mapping[str, Callable[[Any, Any], Any]] | None = None,
) -> Estimator:
    """An Estimator that trains, evaluates, predicts and exports a Keras or flax model.

    Give either a compiled Keras 3 model (JAX backend), as tf's
    `tf.keras.estimator.model_to_estimator`, or a flax.linen `module` with an
    optax `optimizer` and a `loss`.

    Keras: the model must be built and compiled. Its current weights are the
    initial state; its trainable weights are `params/keras/<layer>/<weight>`, the
    others (frozen layers, batch-norm statistics) `non_trainable/keras/...` and
    stay frozen. The compiled optimizer (with its state), loss and metrics are
    Keras's own. Features are the model's input (an array, or a dict keyed by the
    `keras.Input` names), labels its target; `{"features": ..., "sample_weights":
    ...}` weights examples as in tf. Predictions are keyed by output name (the
    last layer's name for a Sequential).

    flax: `module(features)` (with `train=`/`training=` set in TRAIN mode when its
    `__call__` takes it) gives the predictions; its variables are
    `params/model/...` (and e.g. `batch_stats/model/...`), initialised from
    `variables` when given (pre-trained weights), else by `module.init`.

    Args:
        keras_model: A compiled Keras 3 model.
        keras_model_path: A `.keras` file to load the compiled model from.
        custom_objects: For loading `keras_model_path`.
        model_dir: The Estimator's model_dir.
        config: A `RunConfig`.
        checkpoint_format: Kept for tf compatibility; checkpoints are always the
            Estimator's (safetensors) and load back with `load_checkpoint_into`.
        metric_names_map: Keras metric name -> name in `evaluate`'s result.
        export_outputs: Kept for tf compatibility: every output is exported.
        module: A flax.linen module (instead of `keras_model`).
        variables: The flax module's initial variables, e.g. pre-trained.
        optimizer: The optax optimizer of the flax module.
        loss: `loss(labels, predictions)` for the flax module: per-example values
            (their mean over the real examples is taken) or a scalar such as an
            `est.losses` function gives.
        metrics: For the flax module, name -> `fn(labels, predictions)` returning
            an `est.metrics` metric.

    Returns:
        An `Estimator`.

    Example:
        >>> import flax.linen as nn, numpy as np, optax
        >>> import estimators as est
        >>> x = np.linspace(-1, 1, 32, dtype=np.float32)[:, None]
        >>> regressor = est.model_to_estimator(
        ...     module=nn.Dense(1), optimizer=optax.sgd(0.5),
        ...     loss=lambda y, p: (p[:, 0] - y) ** 2)
        >>> regressor = regressor.train(lambda: (x, 3 * x[:, 0]), steps=100)
        >>> w = est.load_flax_variables(regressor.model_dir)["params"]["kernel"]
        >>> round(float(w[0, 0]), 2)
        3.0
    """
    del checkpoint_format, export_outputs
    if (keras_model is not None) + (keras_model_path is not None) + (
        module is not None
    ) != 1:
        raise ValueError(
            "give exactly one of `keras_model`, `keras_model_path` and `module`."
        )
    if module is not None:
        from estimators import flax_module

        model_fn = flax_module.flax_model_fn(
            module, optimizer=optimizer, loss=loss, metrics=metrics, variables=variables
        )
        return Estimator(model_fn, model_dir=model_dir, config=config)
    for name, value in (
        ("optimizer", optimizer),
        ("loss", loss),
        ("metrics", metrics),
        ("variables", variables),
    ):
        if value is not None:
            raise ValueError(
                f"`{name}` is for a flax `module`; a Keras model brings its own "
                "(compile it with them)."
            )
    from estimators import keras as keras_lib

    if keras_model_path is not None:
        keras = keras_lib.import_keras()
        keras_model = keras.models.load_model(
            os.fspath(keras_model_path), custom_objects=custom_objects
        )
    model_fn = keras_lib.keras_model_fn(keras_model, metric_names_map=metric_names_map)
    return Estimator(model_fn, model_dir=model_dir, config=config)
