"""tf.estimator's `numpy_input_fn` and `pandas_input_fn`, returning Datasets.

Same arguments, defaults and checks as `tf.compat.v1.estimator.inputs`; the
returned `input_fn()` builds a `Dataset`: shuffle (buffer `queue_capacity`,
a new order each epoch), repeat `num_epochs` times (`None`: forever), batch.
Batches run across epochs and the last one may be smaller. `num_threads` is
accepted for compatibility; the work is vectorised, not threaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from estimators.data._columns import from_value, table_from_pandas
from estimators.data.dataset import Dataset
from estimators.data.sources import ArraySource, index_labels

__all__ = ["numpy_input_fn", "pandas_input_fn"]


def numpy_input_fn(
    x: np.ndarray | Mapping[str, Any],
    y: np.ndarray | Mapping[str, Any] | None = None,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool | None = None,
    queue_capacity: int = 1000,
    num_threads: int = 1,
) -> Callable[[], Dataset]:
    """An input_fn over numpy arrays: `(features, labels)` batches.

    Args:
        x: A dict of arrays (the features dict), or one array, which is then
            the features themselves, as in tf.
        y: Labels: an array, a dict of arrays, or `None` (elements are then
            the features alone).
        batch_size: Rows per batch.
        num_epochs: Passes over the data; `None` repeats forever.
        shuffle: Required: whether to shuffle (`True` for training).
        queue_capacity: The shuffle buffer, in rows.
        num_threads: Accepted for compatibility; has no effect.

    Raises:
        ValueError: `shuffle` not given as a bool, bad sizes, or arrays of
            different lengths (the message names them).

    Example:
        >>> import numpy as np
        >>> input_fn = numpy_input_fn({"x": np.arange(5.0)}, np.arange(5),
        ...                           batch_size=2, shuffle=False)
        >>> [labels.tolist() for _, labels in input_fn()]
        [[0, 1], [2, 3], [4]]
    """
    _check_common(shuffle, batch_size, num_epochs, queue_capacity, num_threads)
    if isinstance(x, Mapping):
        if not x:
            raise ValueError("x cannot be an empty dict.")
        features: Any = {key: _array(value, f"x[{key!r}]") for key, value in x.items()}
    else:
        features = _array(x, "x")
    lengths = _lengths(features, "x")
    if y is not None:
        if isinstance(y, Mapping):
            if not y:
                raise ValueError("y cannot be an empty dict, use None instead.")
            labels: Any = {
                key: _array(value, f"y[{key!r}]") for key, value in y.items()
            }
        else:
            labels = _array(y, "y")
        lengths.update(_lengths(labels, "y"))
    _same_lengths(lengths)
    tensors = features if y is None else (features, labels)
    return _input_fn(tensors, batch_size, num_epochs, bool(shuffle), queue_capacity)


def pandas_input_fn(
    x: Any,
    y: Any = None,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool | None = None,
    queue_capacity: int | None = 1000,
    num_threads: int = 1,
    target_column: str = "target",
) -> Callable[[], Dataset]:
    """An input_fn over a pandas DataFrame: `(features, labels)` batches.

    String columns arrive as `pyarrow.StringArray`, numeric ones as numpy.

    Args:
        x: The features DataFrame (its index is used only to check `y`'s).
        y: A Series (labels array) or DataFrame (dict of label arrays), or `None`.
        batch_size: Rows per batch.
        num_epochs: Passes over the data; `None` repeats forever.
        shuffle: Required: whether to shuffle (`True` for training).
        queue_capacity: The shuffle buffer in rows (`None`: 4x the rows).
        num_threads: Accepted for compatibility; has no effect.
        target_column: Must not be a column of `x` when `y` is a Series (tf's rule).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"age": [30, 40, 50], "city": ["a", "b", "a"]})
        >>> input_fn = pandas_input_fn(df, pd.Series([0, 1, 0]), batch_size=2,
        ...                            shuffle=False)
        >>> features, labels = next(iter(input_fn()))
        >>> features["age"].tolist(), features["city"].to_pylist(), labels.tolist()
        ([30, 40], ['a', 'b'], [0, 1])
    """
    if queue_capacity is None:
        queue_capacity = max(1, 4 * len(x) if shuffle else len(x))
    _check_common(shuffle, batch_size, num_epochs, queue_capacity, num_threads)
    if not isinstance(target_column, str):
        raise TypeError(f"target_column must be a string, got {target_column!r}.")
    if type(x).__name__ != "DataFrame":
        raise TypeError(f"x must be a pandas DataFrame, got {type(x).__name__}.")
    table = table_from_pandas(x)
    features = {name: table.column(name) for name in table.column_names}
    labels_of_rows = index_labels(x)
    if y is None:
        return _input_fn(
            features,
            batch_size,
            num_epochs,
            bool(shuffle),
            queue_capacity,
            frame_index=labels_of_rows,
        )
    if type(y).__name__ == "Series" and target_column in x.columns:
        raise ValueError(
            f"Cannot use name {target_column!r} for target column: DataFrame "
            f"already has a column with that name: {list(x.columns)}."
        )
    if len(y) != len(x) or not np.array_equal(x.index, y.index):
        raise ValueError(
            f"Index for x and y are mismatched: x has {len(x)} rows with index "
            f"{_short(x.index)}, y has {len(y)} with {_short(y.index)}."
        )
    if type(y).__name__ == "DataFrame":
        labels: Any = {name: from_value(y[name], f"y[{name!r}]") for name in y.columns}
    else:
        labels = from_value(y, "y")
    return _input_fn(
        (features, labels),
        batch_size,
        num_epochs,
        bool(shuffle),
        queue_capacity,
        frame_index=labels_of_rows,
    )


def _input_fn(
    tensors: Any,
    batch_size: int,
    num_epochs: int | None,
    shuffle: bool,
    capacity: int,
    *,
    frame_index: Any = None,
) -> Callable[[], Dataset]:
    def input_fn() -> Dataset:
        dataset = Dataset.from_tensor_slices(tensors)
        source = dataset._node
        if isinstance(source, ArraySource):  # errors name a row by its index too
            source.row_labels = frame_index
        if shuffle:
            dataset = dataset.shuffle(capacity)
        if num_epochs != 1:
            dataset = dataset.repeat(num_epochs)
        return dataset.batch(batch_size)

    dataset = input_fn()  # fail now, not at the first training step
    del dataset
    return input_fn


def _check_common(
    shuffle: Any, batch_size: Any, num_epochs: Any, capacity: Any, threads: Any
) -> None:
    if not isinstance(shuffle, bool):
        raise ValueError(
            "shuffle must be provided and explicitly set as boolean (it is "
            f"recommended to set it as True for training); got {shuffle!r}."
        )
    for name, value in (
        ("batch_size", batch_size),
        ("queue_capacity", capacity),
        ("num_threads", threads),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or value < 1
        ):
            raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
    if num_epochs is not None and (
        isinstance(num_epochs, bool)
        or not isinstance(num_epochs, int | np.integer)
        or num_epochs < 1
    ):
        raise ValueError(
            f"`num_epochs` must be a positive int or None, got {num_epochs!r}."
        )


def _array(value: Any, name: str) -> Any:
    column = from_value(value, name)
    if getattr(column, "ndim", 1) == 0:
        raise ValueError(
            f"{name} must be an array with one row per example, got a scalar."
        )
    return column


def _lengths(value: Any, name: str) -> dict[str, int]:
    if isinstance(value, Mapping):
        return {f"{name}[{key!r}]": len(v) for key, v in value.items()}
    return {name: len(value)}


def _same_lengths(lengths: dict[str, int]) -> None:
    if len(set(lengths.values())) > 1:
        first, rows = next(iter(lengths.items()))
        other, count = next((k, n) for k, n in lengths.items() if n != rows)
        raise ValueError(
            f"Length of tensors in x and y is mismatched: {other} has {count} rows "
            f"but {first} has {rows}; all must have the same length."
        )


def _short(index: Any) -> str:
    values = list(index[:5])
    return repr(values)[:-1] + (", ...]" if len(index) > 5 else "]")
