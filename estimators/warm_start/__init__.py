"""Warm start: a new model's variables initialised from another model's checkpoint.

The checkpoint may be one of ours or one written by TensorFlow (a tf.estimator
model_dir, a checkpoint prefix or a SavedModel), read without TensorFlow; rows
that follow a vocabulary are remapped by token with `VocabInfo`.
`list_variables` and `load_variable` read either kind of checkpoint.
"""

from estimators.warm_start._sources import list_variables, load_variable
from estimators.warm_start._vocab import vocabulary_fingerprints
from estimators.warm_start._warm_start import warm_start
from estimators.warm_start.settings import (
    VocabInfo,
    WarmStartReport,
    WarmStartSettings,
    WarmStartWarning,
)

__all__ = [
    "VocabInfo",
    "WarmStartReport",
    "WarmStartSettings",
    "WarmStartWarning",
    "list_variables",
    "load_variable",
    "vocabulary_fingerprints",
    "warm_start",
]
