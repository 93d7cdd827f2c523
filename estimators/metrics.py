# Long by design: one family, tf.metrics' streaming metrics, sharing the Metric pytree.
"""Streaming evaluation metrics, exact however the data is batched.

A metric function returns a `Metric`: additive sufficient statistics of one
batch (weights and the padding mask already applied, reduced over the batch)
and a static `result_fn` that turns them into the value. Batches merge by adding
their statistics, so `accuracy` over ten batches equals `accuracy` over their
concatenation. Argument names follow `tf.compat.v1.metrics`; divisions by zero
give 0.

`weights` (default 1) may be a scalar, an array of the values' rank whose axes
are 1 or match, or one weight per example (`[B]` or `[B, 1]`). Inside a
`model_fn` the padding mask multiplies the weights of `[B, ...]` values (a scalar
has no examples and is not masked).
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, final

import jax
import jax.numpy as jnp
import numpy as np

from estimators.typing import Array
from estimators.weighting import div_no_nan, example_weights

__all__ = [
    "Metric",
    "accuracy",
    "accuracy_at_threshold",
    "as_metric",
    "auc",
    "compute_results",
    "false_negatives",
    "false_positives",
    "mean",
    "mean_absolute_error",
    "mean_squared_error",
    "mean_tensor",
    "merge_metric_dicts",
    "precision",
    "precision_at_threshold",
    "precision_at_thresholds",
    "recall",
    "recall_at_threshold",
    "recall_at_thresholds",
    "root_mean_squared_error",
    "true_negatives",
    "true_positives",
]

State = dict[str, jax.Array]


@final
@functools.partial(
    jax.tree_util.register_dataclass, data_fields=["state"], meta_fields=["result_fn"]
)
@dataclasses.dataclass(frozen=True, eq=False)
class Metric:
    """Additive sufficient statistics of a metric plus how to compute its value.

    A `Metric` is a pytree whose leaves are the arrays in `state`; `result_fn` is
    static. It can be returned from a jitted function and summed across batches
    with `merge` or `jax.tree.map(jnp.add, a, b)` (the latter needs the very same
    `result_fn` object, so prefer module-level functions to lambdas).

    Attributes:
        state: Additive statistics, e.g. `{"total": ..., "count": ...}`.
        result_fn: Maps `state` to the metric's value.

    Example:
        >>> m = Metric({"total": jnp.array(3.0), "count": jnp.array(4.0)},
        ...            lambda s: s["total"] / s["count"])
        >>> float(m.merge(m).result())  # (3 + 3) / (4 + 4)
        0.75
    """

    state: State
    result_fn: Callable[[State], jax.Array]

    def __post_init__(self) -> None:
        if not isinstance(self.state, Mapping):
            raise TypeError(
                f"`state` must be a dict of arrays, got {type(self.state).__name__}."
            )
        if not callable(self.result_fn):
            raise TypeError(f"`result_fn` must be callable, got {self.result_fn!r}.")

    def result(self) -> jax.Array:
        """The metric's value over all the examples merged into it."""
        return self.result_fn(self.state)

    def merge(self, other: Metric) -> Metric:
        """Adds `other`'s statistics to this metric's; both must be the same kind."""
        if not isinstance(other, Metric):
            raise TypeError(f"can only merge a Metric, got {type(other).__name__}.")
        if not _same_result_fn(self.result_fn, other.result_fn):
            raise ValueError(
                "cannot merge metrics with different result functions: "
                f"{self.result_fn!r} vs {other.result_fn!r} (define `result_fn` once, "
                "at module level, so that every batch shares it)."
            )
        if set(self.state) != set(other.state):
            raise ValueError(
                "cannot merge metrics with different state keys: "
                f"{sorted(self.state)} vs {sorted(other.state)}."
            )
        for key, value in self.state.items():
            if jnp.shape(value) != jnp.shape(other.state[key]):
                raise ValueError(
                    f"cannot merge metric state {key!r}: shapes {jnp.shape(value)} "
                    f"and {jnp.shape(other.state[key])} differ."
                )
        state = {k: jnp.add(v, other.state[k]) for k, v in self.state.items()}
        return Metric(state, self.result_fn)


def _same_closure_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(map(_same_closure_value, a, b))
    return isinstance(a, int | float | str | bytes) and a == b


def _same_result_fn(f: Callable[..., Any], g: Callable[..., Any]) -> bool:
    """Whether `f` and `g` compute the same thing (a re-traced lambda counts)."""
    if f is g or (f == g) is True:
        return True
    if not (isinstance(f, types.FunctionType) and isinstance(g, types.FunctionType)):
        return False
    cells_f, cells_g = f.__closure__ or (), g.__closure__ or ()
    return (
        f.__code__ is g.__code__
        and len(cells_f) == len(cells_g)
        and all(
            _same_closure_value(a.cell_contents, b.cell_contents)
            for a, b in zip(cells_f, cells_g, strict=True)
        )
        and _same_closure_value(f.__defaults__, g.__defaults__)
    )


# Result functions are module-level (or value-comparable) so that every batch's
# Metric carries an equal `result_fn` and batches merge.
def _mean_result(state: State) -> jax.Array:
    return div_no_nan(state["total"], state["count"])


def _root_mean_result(state: State) -> jax.Array:
    return jnp.sqrt(_mean_result(state))


def _total_result(state: State) -> jax.Array:
    return state["total"]


def _precision_result(state: State) -> jax.Array:
    return div_no_nan(state["tp"], state["tp"] + state["fp"])


def _recall_result(state: State) -> jax.Array:
    return div_no_nan(state["tp"], state["tp"] + state["fn"])


def _mean_metric(
    values: Array,
    weights: Array | None,
    result_fn: Callable[[State], jax.Array] = _mean_result,
) -> Metric:
    values = jnp.asarray(values, jnp.float32)
    w = example_weights(weights, values.shape)
    total = jnp.sum(jnp.where(w != 0, values * w, 0.0))
    return Metric({"total": total, "count": jnp.sum(w)}, result_fn)


def _squeeze_pair(labels: Array, predictions: Array) -> tuple[jax.Array, jax.Array]:
    """Drops a trailing size-1 axis from the higher-rank one; shapes must then match."""
    labels, predictions = jnp.asarray(labels), jnp.asarray(predictions)
    if labels.ndim == predictions.ndim + 1 and labels.shape[-1:] == (1,):
        labels = labels[..., 0]
    elif predictions.ndim == labels.ndim + 1 and predictions.shape[-1:] == (1,):
        predictions = predictions[..., 0]
    if labels.shape != predictions.shape:
        raise ValueError(
            f"`labels` shape {labels.shape} does not match `predictions` shape "
            f"{predictions.shape}."
        )
    return labels, predictions


def mean(values: Array, weights: Array | None = None) -> Metric:
    """Weighted mean of `values` over every element.

    Args:
        values: Values of any shape, `[B, ...]` to be masked per example.
        weights: Optional weights (see module docstring). Default 1.

    Example:
        >>> float(mean([1.0, 2.0, 6.0]).result())  # (1 + 2 + 6) / 3
        3.0
    """
    return _mean_metric(values, weights)


def mean_tensor(values: Array, weights: Array | None = None) -> Metric:
    """Element-wise weighted mean of `[B, ...]` values over the examples.

    Unlike tf, which averages whole tensors across calls, the mean is taken over
    the leading (example) axis, so the result has shape `values.shape[1:]` and does
    not depend on the batch size.

    Args:
        values: `[B, ...]` values.
        weights: Optional weights (see module docstring). Default 1.

    Example:
        >>> mean_tensor([[1.0, 2.0], [3.0, 6.0]]).result().tolist()  # [(1+3)/2, (2+6)/2]
        [2.0, 4.0]
    """
    values = jnp.asarray(values, jnp.float32)
    if values.ndim == 0:
        raise ValueError("`values` must have a leading example axis, got a scalar.")
    w = example_weights(weights, values.shape)
    total = jnp.sum(jnp.where(w != 0, values * w, 0.0), axis=0)
    return Metric({"total": total, "count": jnp.sum(w, axis=0)}, _mean_result)


def accuracy(labels: Array, predictions: Array, weights: Array | None = None) -> Metric:
    """Weighted fraction of `predictions` equal to `labels`.

    Args:
        labels: Ground truth, same shape as `predictions` (a trailing 1 is dropped).
        predictions: Predicted values, cast to the labels' dtype (as tf does).
        weights: Optional weights. Default 1.

    Example:
        >>> round(float(accuracy([1, 2, 3], [1, 0, 3]).result()), 4)  # (1 + 0 + 1) / 3
        0.6667
    """
    labels, predictions = _squeeze_pair(labels, predictions)
    if predictions.dtype != labels.dtype:
        predictions = predictions.astype(labels.dtype)
    return _mean_metric(labels == predictions, weights)


def mean_squared_error(
    labels: Array, predictions: Array, weights: Array | None = None
) -> Metric:
    """Weighted mean of `(predictions - labels) ** 2`.

    Example:
        >>> float(mean_squared_error([1.0, 2.0], [2.0, 4.0]).result())  # (1 + 4) / 2
        2.5
    """
    labels, predictions = _squeeze_pair(labels, predictions)
    return _mean_metric(jnp.square(predictions - labels), weights)


def root_mean_squared_error(
    labels: Array, predictions: Array, weights: Array | None = None
) -> Metric:
    """Square root of the weighted mean squared error.

    Example:
        >>> float(root_mean_squared_error([0.0, 0.0], [3.0, 4.0]).result())  # √(25/2)
        3.535533905029297
    """
    labels, predictions = _squeeze_pair(labels, predictions)
    return _mean_metric(jnp.square(predictions - labels), weights, _root_mean_result)


def mean_absolute_error(
    labels: Array, predictions: Array, weights: Array | None = None
) -> Metric:
    """Weighted mean of `|predictions - labels|`.

    Example:
        >>> float(mean_absolute_error([1.0, 2.0], [2.0, 4.0]).result())  # (1 + 2) / 2
        1.5
    """
    labels, predictions = _squeeze_pair(labels, predictions)
    return _mean_metric(jnp.abs(predictions - labels), weights)


def _confusion(
    labels: Array,
    predictions: Array,
    weights: Array | None,
    thresholds: Array | None = None,
) -> State:
    """Weighted tp/fp/tn/fn counts, at each threshold if `thresholds` is given.

    Labels are cast to bool (nonzero is positive). Without thresholds the
    predictions are cast to bool too; with thresholds an example is predicted
    positive at threshold t when `prediction > t` (as tf does).
    """
    labels, predictions = _squeeze_pair(labels, predictions)
    w = example_weights(weights, labels.shape).reshape(-1)
    is_label = labels.reshape(-1) != 0
    if thresholds is None:
        is_pred = predictions.reshape(-1) != 0
    else:
        thr = jnp.asarray(thresholds, jnp.float32)
        p = predictions.astype(jnp.float32).reshape((-1,) + (1,) * thr.ndim)
        is_pred = p > thr
        w = w.reshape(p.shape)
        is_label = is_label.reshape(p.shape)

    def count(selected: jax.Array) -> jax.Array:
        return jnp.sum(jnp.where(selected, w, 0.0), axis=0)

    return {
        "tp": count(is_label & is_pred),
        "fp": count(~is_label & is_pred),
        "tn": count(~is_label & ~is_pred),
        "fn": count(is_label & ~is_pred),
    }


def _pick(state: State, *keys: str) -> State:
    return {k: state[k] for k in keys}


def precision(
    labels: Array, predictions: Array, weights: Array | None = None
) -> Metric:
    """Weighted `tp / (tp + fp)`; labels and predictions are cast to bool.

    Example:
        >>> float(precision([1, 0, 1, 0], [1, 1, 0, 0]).result())  # 1 / (1 + 1)
        0.5
    """
    state = _confusion(labels, predictions, weights)
    return Metric(_pick(state, "tp", "fp"), _precision_result)


def recall(labels: Array, predictions: Array, weights: Array | None = None) -> Metric:
    """Weighted `tp / (tp + fn)`; labels and predictions are cast to bool.

    Example:
        >>> round(float(recall([1, 1, 1, 0], [1, 1, 0, 0]).result()), 4)  # 2 / (2 + 1)
        0.6667
    """
    state = _confusion(labels, predictions, weights)
    return Metric(_pick(state, "tp", "fn"), _recall_result)


def _count_metric(
    key: str, labels: Array, predictions: Array, weights: Array | None
) -> Metric:
    state = _confusion(labels, predictions, weights)
    return Metric({"total": state[key]}, _total_result)


def true_positives(
    labels: Array, predictions: Array, weights: Array | None = None
) -> Metric:
    """Weighted count of positive labels predicted positive (both cast to bool).

    Example:
        >>> float(true_positives([1, 1, 0], [1, 0, 1]).result())
        1.0
    """
    return _count_metric("tp", labels, predictions, weights)


def false_positives(
    labels: Array, predictions: Array, weights: Array | None = None
) -> Metric:
    """Weighted count of negative labels predicted positive (both cast to bool).

    Example:
        >>> float(false_positives([1, 0, 0], [1, 1, 1]).result())
        2.0
    """
    return _count_metric("fp", labels, predictions, weights)


def true_negatives(
    labels: Array, predictions: Array, weights: Array | None = None
) -> Metric:
    """Weighted count of negative labels predicted negative (both cast to bool).

    Example:
        >>> float(true_negatives([1, 0, 0], [0, 0, 1]).result())
        1.0
    """
    return _count_metric("tn", labels, predictions, weights)


def false_negatives(
    labels: Array, predictions: Array, weights: Array | None = None
) -> Metric:
    """Weighted count of positive labels predicted negative (both cast to bool).

    Example:
        >>> float(false_negatives([1, 1, 0], [0, 0, 0]).result())
        2.0
    """
    return _count_metric("fn", labels, predictions, weights)


def accuracy_at_threshold(
    labels: Array, predictions: Array, threshold: float, weights: Array | None = None
) -> Metric:
    """Accuracy of `predictions >= threshold` against 0/1 labels (tf's binary head).

    Note the `>=`: tf's head thresholds accuracy inclusively but precision and
    recall strictly (`>`); both are kept for identical numbers.

    Example:
        >>> m = accuracy_at_threshold([1, 0, 0], [0.5, 0.5, 0.2], 0.5)
        >>> round(float(m.result()), 4)  # 0.5 >= 0.5 is positive: (1 + 0 + 1) / 3
        0.6667
    """
    labels, predictions = _squeeze_pair(labels, predictions)
    is_pred = jnp.asarray(predictions, jnp.float32) >= threshold
    return _mean_metric(is_pred == (labels != 0), weights)


def precision_at_thresholds(
    labels: Array,
    predictions: Array,
    thresholds: Sequence[float],
    weights: Array | None = None,
) -> Metric:
    """Precision of `predictions > t` at each threshold `t`; a `[T]` result.

    Args:
        labels: 0/1 (or bool) labels, same shape as `predictions`.
        predictions: Scores, usually probabilities in [0, 1].
        thresholds: The thresholds `t`.
        weights: Optional weights. Default 1.

    Example:
        >>> m = precision_at_thresholds([1, 0, 1], [0.9, 0.6, 0.3], [0.5, 0.8])
        >>> m.result().tolist()  # [1 / (1 + 1), 1 / (1 + 0)]
        [0.5, 1.0]
    """
    state = _confusion(labels, predictions, weights, jnp.asarray(thresholds))
    return Metric(_pick(state, "tp", "fp"), _precision_result)


def recall_at_thresholds(
    labels: Array,
    predictions: Array,
    thresholds: Sequence[float],
    weights: Array | None = None,
) -> Metric:
    """Recall of `predictions > t` at each threshold `t`; a `[T]` result.

    Example:
        >>> m = recall_at_thresholds([1, 0, 1], [0.9, 0.6, 0.3], [0.5, 0.8])
        >>> m.result().tolist()  # [1 / 2, 1 / 2]
        [0.5, 0.5]
    """
    state = _confusion(labels, predictions, weights, jnp.asarray(thresholds))
    return Metric(_pick(state, "tp", "fn"), _recall_result)


def precision_at_threshold(
    labels: Array, predictions: Array, threshold: float, weights: Array | None = None
) -> Metric:
    """Precision of `predictions > threshold`; a scalar result.

    Example:
        >>> float(precision_at_threshold([1, 0, 1], [0.9, 0.6, 0.3], 0.5).result())
        0.5
    """
    state = _confusion(labels, predictions, weights, jnp.float32(threshold))
    return Metric(_pick(state, "tp", "fp"), _precision_result)


def recall_at_threshold(
    labels: Array, predictions: Array, threshold: float, weights: Array | None = None
) -> Metric:
    """Recall of `predictions > threshold`; a scalar result.

    Example:
        >>> float(recall_at_threshold([1, 0, 1], [0.9, 0.6, 0.3], 0.5).result())
        0.5
    """
    state = _confusion(labels, predictions, weights, jnp.float32(threshold))
    return Metric(_pick(state, "tp", "fn"), _recall_result)


_AUC_EPSILON = 1e-6  # tf adds it to avoid dividing by zero
_THRESHOLD_EPSILON = 1e-7  # tf's endpoints lie just outside [0, 1]
_CURVES = ("ROC", "PR")
_SUMMATIONS = ("careful_interpolation", "trapezoidal", "minoring", "majoring")


@functools.lru_cache(maxsize=16)
def _auc_thresholds(num_thresholds: int) -> np.ndarray:
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    ends = [0.0 - _THRESHOLD_EPSILON], [1.0 + _THRESHOLD_EPSILON]
    return np.asarray(ends[0] + inner + ends[1], np.float32)


def _interpolate_pr_auc(tp: jax.Array, fp: jax.Array, fn: jax.Array) -> jax.Array:
    """PR-AUC interpolating tp and fp linearly between thresholds (Davis &
    Goadrich 2006), in tf's closed form."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    slope = div_no_nan(dtp, jnp.maximum(p[:-1] - p[1:], 0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    ratio = jnp.where(both, div_no_nan(p[:-1], jnp.maximum(p[1:], 0)), 1.0)
    increments = div_no_nan(
        slope * (dtp + intercept * jnp.log(ratio)), jnp.maximum(tp[1:] + fn[1:], 0)
    )
    return jnp.sum(increments)


@dataclasses.dataclass(frozen=True)
class _AucResult:
    """AUC from confusion counts at thresholds; compares by value so batches merge."""

    curve: str
    summation_method: str

    def __call__(self, state: State) -> jax.Array:
        tp, fp, tn, fn = state["tp"], state["fp"], state["tn"], state["fn"]
        if self.curve == "PR" and self.summation_method == "careful_interpolation":
            return _interpolate_pr_auc(tp, fp, fn)
        eps = _AUC_EPSILON
        recall_ = (tp + eps) / (tp + fn + eps)
        if self.curve == "ROC":
            x, y = fp / (fp + tn + eps), recall_
        else:
            x, y = recall_, (tp + eps) / (tp + fp + eps)
        if self.summation_method == "minoring":
            heights = jnp.minimum(y[:-1], y[1:])
        elif self.summation_method == "majoring":
            heights = jnp.maximum(y[:-1], y[1:])
        else:  # trapezoidal, and careful_interpolation for ROC
            heights = (y[:-1] + y[1:]) / 2.0
        return jnp.sum((x[:-1] - x[1:]) * heights)


def auc(
    labels: Array,
    predictions: Array,
    weights: Array | None = None,
    num_thresholds: int = 200,
    curve: Literal["ROC", "PR"] = "ROC",
    summation_method: str = "careful_interpolation",
    thresholds: Sequence[float] | None = None,
) -> Metric:
    """Area under the ROC or PR curve, a Riemann sum over confusion counts.

    Counts are taken at tf's thresholds: `[0 - 1e-7]`, then
    `(i + 1) / (num_thresholds - 1)` for `i in range(num_thresholds - 2)`, then
    `[1 + 1e-7]`; an example is positive at `t` when `prediction > t`. The area
    uses tf's formula (rates carry `+1e-6` to avoid 0/0). With the default
    `"careful_interpolation"`, ROC is the trapezoidal sum and PR interpolates
    precision as tf.estimator's heads do; `"trapezoidal"` is tf.compat.v1's default
    and biased for PR; `"minoring"` / `"majoring"` bound the area from below /
    above.

    Args:
        labels: 0/1 (or bool) labels, same shape as `predictions`.
        predictions: Probabilities in [0, 1].
        weights: Optional weights. Default 1.
        num_thresholds: Number of thresholds, at least 2. Default 200.
        curve: "ROC" (default) or "PR".
        summation_method: "careful_interpolation" (default), "trapezoidal",
            "minoring" or "majoring".
        thresholds: Explicit thresholds in (0, 1) to use instead; the endpoints
            are added and `num_thresholds` is ignored.

    Example:
        >>> m = auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> round(float(m.result()), 4)  # 3 of the 4 (positive, negative) pairs
        0.75
    """
    if curve not in _CURVES:
        raise ValueError(f"`curve` must be one of {_CURVES}, got {curve!r}.")
    if summation_method not in _SUMMATIONS:
        raise ValueError(
            f"`summation_method` must be one of {_SUMMATIONS}, got {summation_method!r}."
        )
    if thresholds is not None:
        inner = sorted(float(t) for t in thresholds)
        thr = np.asarray(
            [0.0 - _THRESHOLD_EPSILON, *inner, 1.0 + _THRESHOLD_EPSILON], np.float32
        )
    elif num_thresholds < 2:
        raise ValueError(f"`num_thresholds` must be >= 2, got {num_thresholds}.")
    else:
        thr = _auc_thresholds(num_thresholds)
    state = _confusion(labels, predictions, weights, thr)
    return Metric(state, _AucResult(curve, summation_method))


def as_metric(value: Metric | Array, weight: Array | None = None) -> Metric:
    """Returns `value` if it is a `Metric`, else a metric averaging it over batches.

    A plain value (e.g. a scalar an `eval_metric_ops` entry computed itself, such
    as a batch mean) is weighted by `weight`, the batch's number of examples, so
    that batches of different sizes (the last partial one) average exactly; with
    no `weight` each batch counts once.

    Example:
        >>> float(as_metric(2.0).merge(as_metric(4.0)).result())  # (2 + 4) / 2
        3.0
        >>> float(as_metric(2.0, 3).merge(as_metric(4.0, 1)).result())  # (6 + 4) / 4
        2.5
    """
    if isinstance(value, Metric):
        return value
    count = jnp.ones((), jnp.float32) if weight is None else jnp.asarray(weight)
    count = count.astype(jnp.float32)
    total = jnp.asarray(value, jnp.float32) * count
    return Metric({"total": total, "count": count}, _mean_result)


def merge_metric_dicts(
    a: Mapping[str, Metric | Array], b: Mapping[str, Metric | Array]
) -> dict[str, Metric]:
    """Merges two `{name: Metric}` dicts batch-wise; an empty `a` starts a stream.

    Example:
        >>> total = merge_metric_dicts({}, {"acc": accuracy([1], [1])})
        >>> total = merge_metric_dicts(total, {"acc": accuracy([1], [0])})
        >>> compute_results(total)  # (1 + 0) / 2
        {'acc': 0.5}
    """
    if not a:
        return {name: as_metric(value) for name, value in b.items()}
    if set(a) != set(b):
        raise ValueError(
            f"cannot merge metric dicts with different names: {sorted(a)} vs {sorted(b)}."
        )
    return {name: as_metric(a[name]).merge(as_metric(b[name])) for name in a}


def compute_results(
    metrics: Mapping[str, Metric | Array],
) -> dict[str, float | np.ndarray]:
    """Each metric's value as a Python float (a numpy array if not scalar).

    Example:
        >>> compute_results({"mean": mean([1.0, 3.0])})
        {'mean': 2.0}
    """
    results: dict[str, float | np.ndarray] = {}
    for name, value in metrics.items():
        result = np.asarray(jax.device_get(as_metric(value).result()))
        results[name] = float(result) if result.ndim == 0 else result
    return results
