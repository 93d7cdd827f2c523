"""Summaries written from inside a `model_fn`, one value per global_step."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from estimators import _context

__all__ = ["scalar"]


def scalar(name: str, data: Any) -> None:
    """Records a scalar summary for the current step.

    The Estimator writes summaries every `RunConfig.save_summary_steps` through its
    metric writers, tagged with the global_step. A streaming metric is recorded as
    its value on the current batch.

    Args:
        name: The summary's name, e.g. "accuracy".
        data: A scalar array or an `est.metrics.Metric`.

    Example:
        >>> scalar("accuracy", 0.5)  # outside a model_fn this does nothing
    """
    if hasattr(data, "result") and callable(data.result):
        data = data.result()
    value = jnp.asarray(data)
    if value.size != 1:
        raise ValueError(
            f"summary.scalar({name!r}): expected a scalar, got shape {value.shape}."
        )
    _context.record_summary(name, value.reshape(()).astype(jnp.float32))
