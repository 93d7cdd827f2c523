"""Helpers shared by tests: tiny model functions, input functions and configs."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import estimators as est


def classifier_model_fn(features, labels, mode, params):
    """A small MLP classifier on feature "x" with dropout and an accuracy metric."""
    net = features["x"]
    for units in params.get("hidden_units", [8]):
        net = nn.relu(nn.Dense(units)(net))
        if params.get("dropout"):
            net = nn.Dropout(
                params["dropout"], deterministic=mode != est.ModeKeys.TRAIN
            )(net)
    logits = nn.Dense(params.get("n_classes", 3))(net)
    predicted = jnp.argmax(logits, 1)
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(
            mode,
            predictions={
                "class_ids": predicted[:, None],
                "probabilities": jax.nn.softmax(logits),
            },
        )
    loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    accuracy = est.metrics.accuracy(labels=labels, predictions=predicted)
    est.summary.scalar("accuracy", accuracy)
    if mode == est.ModeKeys.EVAL:
        return est.EstimatorSpec(
            mode, loss=loss, eval_metric_ops={"accuracy": accuracy}
        )
    optimizer = params.get("optimizer") or optax.adam(params.get("learning_rate", 0.05))
    return est.EstimatorSpec(mode, loss=loss, optimizer=optimizer)


def batches_of(x, y, batch_size, epochs=1):
    """An input_fn giving `epochs` passes over (x, y) in order, as plain tuples."""

    def input_fn():
        for _ in range(epochs):
            for i in range(0, len(x), batch_size):
                labels = None if y is None else y[i : i + batch_size]
                yield {"x": x[i : i + batch_size]}, labels

    return input_fn


def fast_config(**kwargs):
    """A RunConfig that writes no periodic checkpoints or logs unless asked."""
    defaults = dict(
        save_checkpoints_secs=None, log_step_count_steps=None, save_summary_steps=0
    )
    defaults.update(kwargs)
    return est.RunConfig(**defaults)
