"""The one batching policy: which size each batch is compiled at, and its padding.

- TRAIN and EVAL run every batch at its true size, so a `model_fn` that reduces
  with plain `jnp.mean` sees no padding rows; a last partial batch costs one more
  compilation. Only a data-parallel strategy pads, to a multiple of its device
  count, and then the batch carries a mask (1 for real rows, 0 for padding) that
  `est.losses` and `est.metrics` honour.
- Fused TRAIN steps (a group of k batches run in one call) are compiled at a
  number of steps, `steps_size(k, longest)`: the longest group the run can form
  when k is over a quarter of it, else the next power of two. The step count is
  an argument of the call, so the groups of a run share one or a few
  compilations (a resumed run's first group and the input's last one too); the
  stacked batches past k are zeros that are never run.
- PREDICT (the Estimator, the Predictor and the exported model) pads the rows to
  a power of two, so that requests of varying sizes reuse a few compilations;
  padding rows are cut from the outputs, so they cannot change a result.

Example:
    >>> import numpy as np
    >>> batch = pad({"x": np.arange(3.0)}, None, rows=3, size=4)
    >>> batch.features["x"].tolist(), batch.mask.tolist()
    ([0.0, 1.0, 2.0, 2.0], [1.0, 1.0, 1.0, 0.0])
    >>> predict_size(5), train_size(5, multiple=2)
    (8, 6)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Batch",
    "next_power_of_two",
    "pad",
    "pad_steps",
    "pad_widths",
    "predict_size",
    "steps_size",
    "train_size",
    "unbatch",
    "unpad",
]


class Batch(NamedTuple):
    """Host arrays of one compiled call: features, labels and the padding mask.

    `mask` is None when every row is real (no padding).
    """

    features: Any
    labels: Any
    mask: np.ndarray | None


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << max(n - 1, 0).bit_length()


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def train_size(rows: int, multiple: int = 1) -> int:
    """The compiled size of a TRAIN or EVAL batch of `rows` rows."""
    return _round_up(max(rows, 1), multiple)


def predict_size(rows: int, multiple: int = 1) -> int:
    """The compiled size of a PREDICT batch of `rows` rows (a power of two)."""
    return _round_up(next_power_of_two(rows), multiple)


def steps_size(count: int, longest: int) -> int:
    """The compiled number of steps of a fused group of `count` steps.

    `longest` is the longest group the run can form; a group over a quarter of it
    takes its size, a shorter one the next power of two (at most 4x the input
    it stacks, at most log2(longest) compilations).
    """
    if count * 4 > longest:
        return max(count, longest)
    return next_power_of_two(count)


def pad_steps(batch: Batch, count: int, size: int) -> Batch:
    """Stacked batches (leading axis `count`) padded with zeros to `size`."""
    if count == size:
        return batch

    def grow(array: Any) -> np.ndarray:
        array = np.asarray(array)
        out = np.zeros((size, *array.shape[1:]), array.dtype)
        out[:count] = array
        return out

    return Batch(*(_each(part, grow) for part in batch))


def _pad_rows(array: np.ndarray, rows: int, size: int) -> np.ndarray:
    widths = [(0, size - rows)] + [(0, 0)] * (array.ndim - 1)
    return np.pad(array, widths, mode="edge" if rows else "constant")


def _each(tree: Any, fn: Any) -> Any:
    """`fn` on each array of a batch part: None, a dict of arrays or one array."""
    if tree is None:
        return None
    if isinstance(tree, Mapping):
        return {k: fn(v) for k, v in tree.items()}
    return fn(tree)


def _pad_tree(tree: Any, rows: int, size: int) -> Any:
    return _each(tree, lambda v: _pad_rows(np.asarray(v), rows, size))


def pad(features: Any, labels: Any, rows: int, size: int) -> Batch:
    """Pads `rows` real rows to `size` by repeating the last row; masks padding.

    Args:
        features: A dict of arrays (or one array) with `rows` rows.
        labels: The labels (array, dict of arrays or None).
        rows: The real rows.
        size: The compiled size, >= rows.
    """
    if rows == size:
        return Batch(features, labels, None)
    mask = np.zeros(size, np.float32)
    mask[:rows] = 1.0
    return Batch(_pad_tree(features, rows, size), _pad_tree(labels, rows, size), mask)


def pad_widths(
    features: Mapping[str, np.ndarray], var_width: Iterable[str]
) -> dict[str, np.ndarray]:
    """Pads the width (axis 1) of variable-width id lists to a power of two.

    Ids are padded with -1 ("no value") and weights with 0, so the predictions of
    the real rows do not change.
    """
    var_width = set(var_width)
    out = {}
    for name, value in features.items():
        if name in var_width and value.ndim >= 2:
            width = value.shape[1]
            target = next_power_of_two(width)
            if target != width:
                fill = -1 if value.dtype.kind in "iu" else 0
                widths = [(0, 0), (0, target - width)] + [(0, 0)] * (value.ndim - 2)
                value = np.pad(value, widths, constant_values=fill)
        out[name] = value
    return out


def unpad(outputs: Any, rows: int) -> dict[str, np.ndarray]:
    """The first `rows` rows of each output, as numpy; a bare array is "predictions".

    `np.asarray` per output: `jax.device_get` of a dict costs several times more
    on CPU, which matters for single-row latency.
    """
    if not isinstance(outputs, Mapping):
        outputs = {"predictions": outputs}
    return {key: np.asarray(value)[:rows] for key, value in outputs.items()}


def unbatch(predictions: Any, rows: int, single: bool) -> Iterator[Any]:
    """A batch's predictions as one item (`single=False`) or one per example."""
    if not single:
        yield predictions
    elif isinstance(predictions, Mapping):
        for i in range(rows):
            yield {k: v[i] for k, v in predictions.items()}
    else:
        yield from predictions
