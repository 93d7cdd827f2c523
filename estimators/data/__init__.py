"""Input pipelines: `Dataset` (tf.data-like, over Arrow and numpy) and input_fns.

Example:
    >>> import numpy as np
    >>> from estimators.data import Dataset
    >>> ds = Dataset.from_tensor_slices(({"x": np.arange(4.0)}, np.arange(4)))
    >>> ds = ds.shuffle(4, seed=0).batch(2).prefetch(1)
    >>> [labels.shape for _, labels in ds]
    [(2,), (2,)]
"""

from estimators.data import experimental, inputs
from estimators.data.dataset import (
    AUTOTUNE,
    INFINITE_CARDINALITY,
    UNKNOWN_CARDINALITY,
    Dataset,
)
from estimators.data.inputs import numpy_input_fn, pandas_input_fn
from estimators.data.iterator import DatasetIterator

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "Dataset",
    "DatasetIterator",
    "experimental",
    "inputs",
    "numpy_input_fn",
    "pandas_input_fn",
]
