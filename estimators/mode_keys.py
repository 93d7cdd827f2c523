"""The three modes a `model_fn` is called in."""

from __future__ import annotations

import enum

__all__ = ["ModeKeys"]


class ModeKeys(enum.StrEnum):
    """Standard names for model modes, as in tf.estimator.

    Example:
        >>> ModeKeys.PREDICT == "infer"
        True
    """

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"
