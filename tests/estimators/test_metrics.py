"""Tests for estimators.metrics: oracles, streaming exactness, mask, weights, AUC."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimators import metrics
from estimators._context import model_fn_scope
from estimators.metrics import Metric


def _value(metric: Metric) -> float:
    return float(metric.result())


def _close(actual, expected, tol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=tol, atol=tol)


def _ratio(state):
    return state["a"] / state["b"]


# ---------------------------------------------------------------- Metric pytree


def test_metric_is_a_pytree_summed_by_tree_map():
    a = metrics.mean([1.0, 2.0])
    b = metrics.mean([6.0])
    assert sorted(jax.tree.leaves(a)) == [2.0, 3.0]  # count, total
    summed = jax.tree.map(jnp.add, a, b)
    assert _value(summed) == 3.0  # (1 + 2 + 6) / 3
    assert _value(a.merge(b)) == 3.0


def test_user_built_derived_metric():
    label_mean = metrics.mean([1.0, 0.0, 1.0, 1.0])

    def baseline(state):
        m = state["total"] / state["count"]
        return jnp.maximum(m, 1 - m)

    derived = Metric(state=label_mean.state, result_fn=baseline)
    assert _value(derived) == 0.75  # max(3 / 4, 1 / 4)


def test_metric_returned_from_jit_and_merged():
    step = jax.jit(
        lambda x: {"m": Metric({"a": jnp.sum(x), "b": x.size * 1.0}, _ratio)}
    )
    first, second = step(jnp.array([1.0, 2.0])), step(jnp.array([4.0, 5.0]))
    assert _value(first["m"].merge(second["m"])) == 3.0  # (1 + 2 + 4 + 5) / 4


def test_merge_accepts_a_retraced_lambda_but_not_a_different_function():
    def build(scale):
        return Metric(
            {"a": jnp.float32(1.0), "b": jnp.float32(2.0)}, lambda s: s["a"] * scale
        )

    assert _value(build(3).merge(build(3))) == 6.0  # (1 + 1) * 3

    def with_default(offset=(1.0,)):
        return Metric({"a": jnp.float32(1.0)}, lambda s, o=offset: s["a"] + o[0])

    assert _value(with_default().merge(with_default((1.0,)))) == 3.0  # 1 + 1 + 1
    with pytest.raises(ValueError, match="different result functions"):
        build(3).merge(build(4))
    with pytest.raises(ValueError, match="different result functions"):
        metrics.mean([1.0]).merge(metrics.root_mean_squared_error([1.0], [1.0]))


def test_merge_rejects_other_state_keys_and_shapes():
    with pytest.raises(ValueError, match="state keys"):
        Metric({"a": 1.0}, _ratio).merge(Metric({"b": 1.0}, _ratio))
    with pytest.raises(ValueError, match="shapes"):
        Metric({"a": jnp.ones(2)}, _ratio).merge(Metric({"a": jnp.ones(3)}, _ratio))
    with pytest.raises(TypeError, match="`state` must be a dict"):
        Metric([1.0], _ratio)


# ---------------------------------------------------------------- oracles


def test_mean_accuracy_and_error_metrics():
    assert _value(metrics.mean([1.0, 2.0, 6.0], weights=[1.0, 1.0, 0.0])) == 1.5
    assert _value(metrics.mean([[1.0, 3.0]])) == 2.0  # every element counts
    _close(_value(metrics.accuracy([1, 2, 3], [1, 0, 3])), 2 / 3)  # (1 + 0 + 1) / 3
    # weights: (2 * 1 + 1 * 0 + 1 * 1) / (2 + 1 + 1)
    _close(_value(metrics.accuracy([1, 2, 3], [1, 0, 3], weights=[2, 1, 1])), 0.75)
    labels, predictions = [[0.0], [1.0]], [[1.0], [4.0]]  # errors 1 and 3
    assert _value(metrics.mean_squared_error(labels, predictions)) == 5.0  # (1 + 9) / 2
    _close(_value(metrics.root_mean_squared_error(labels, predictions)), math.sqrt(5))
    assert (
        _value(metrics.mean_absolute_error(labels, predictions)) == 2.0
    )  # (1 + 3) / 2


def test_accuracy_squeezes_a_trailing_unit_axis_and_casts_predictions():
    # float labels [B, 1] vs int class ids [B], as a head produces them
    _close(_value(metrics.accuracy([[1.0], [0.0], [2.0]], jnp.array([1, 1, 2]))), 2 / 3)
    with pytest.raises(
        ValueError, match=r"`labels` shape \(3,\).*`predictions` shape \(2,\)"
    ):
        metrics.accuracy([1, 2, 3], [1, 2])


def test_confusion_counts_precision_recall():
    labels, predictions = [1, 1, 0, 0, 1], [1, 0, 1, 0, 1]
    assert _value(metrics.true_positives(labels, predictions)) == 2.0
    assert _value(metrics.false_positives(labels, predictions)) == 1.0
    assert _value(metrics.true_negatives(labels, predictions)) == 1.0
    assert _value(metrics.false_negatives(labels, predictions)) == 1.0
    _close(_value(metrics.precision(labels, predictions)), 2 / 3)  # 2 / (2 + 1)
    _close(_value(metrics.recall(labels, predictions)), 2 / 3)  # 2 / (2 + 1)
    weights = [1.0, 1.0, 3.0, 1.0, 1.0]
    _close(_value(metrics.precision(labels, predictions, weights)), 0.4)  # 2 / (2 + 3)


def test_division_by_zero_gives_zero():
    assert _value(metrics.precision([1, 1], [0, 0])) == 0.0  # no predicted positive
    assert _value(metrics.recall([0, 0], [1, 1])) == 0.0  # no positive label
    assert _value(metrics.mean([1.0, 2.0], weights=0.0)) == 0.0


def test_threshold_metrics_follow_tf_comparisons():
    labels, scores = [1, 0, 1, 0], [0.9, 0.5, 0.5, 0.2]
    # accuracy uses >= (0.5 is positive): correct on 0.9, 0.5(label 1), 0.2 -> 3 / 4
    assert _value(metrics.accuracy_at_threshold(labels, scores, 0.5)) == 0.75
    # precision/recall use > (0.5 is negative): tp = 1, fp = 0, fn = 1
    assert _value(metrics.precision_at_threshold(labels, scores, 0.5)) == 1.0
    assert _value(metrics.recall_at_threshold(labels, scores, 0.5)) == 0.5
    at = metrics.precision_at_thresholds(labels, scores, [0.1, 0.5])
    # t=0.1: tp 2, fp 2 -> 0.5; t=0.5: tp 1, fp 0 -> 1
    np.testing.assert_allclose(at.result(), [0.5, 1.0])
    np.testing.assert_allclose(
        metrics.recall_at_thresholds(labels, scores, [0.1, 0.5]).result(), [1.0, 0.5]
    )


def test_mean_tensor_averages_over_examples():
    values = jnp.array([[1.0, 2.0], [3.0, 6.0], [5.0, 0.0]])
    result = metrics.mean_tensor(values, weights=[1.0, 1.0, 0.0]).result()
    np.testing.assert_allclose(result, [2.0, 4.0])  # [(1 + 3) / 2, (2 + 6) / 2]


# ---------------------------------------------------------------- AUC


def _np_thresholds(n):
    inner = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
    return np.asarray([0.0 - 1e-7, *inner, 1.0 + 1e-7], np.float32)


def _np_confusion(labels, scores, weights, n):
    is_pred = scores.astype(np.float32)[:, None] > _np_thresholds(n)[None, :]
    is_label = labels.astype(bool)[:, None]
    w = weights.astype(np.float32)[:, None]
    f32 = np.float32
    return {
        "tp": np.sum(w * (is_label & is_pred), 0, dtype=f32),
        "fp": np.sum(w * (~is_label & is_pred), 0, dtype=f32),
        "tn": np.sum(w * (~is_label & ~is_pred), 0, dtype=f32),
        "fn": np.sum(w * (is_label & ~is_pred), 0, dtype=f32),
    }


def _np_auc(c, curve, method):
    """tf.compat.v1.metrics.auc's formula, in numpy float32."""
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    eps = np.float32(1e-6)
    if curve == "PR" and method == "careful_interpolation":
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = np.maximum(p[:-1] - p[1:], 0)
        slope = np.divide(dtp, dp, out=np.zeros_like(dtp), where=dp != 0)
        intercept = tp[1:] - slope * p[1:]
        safe = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.ones_like(p[1:])
        np.divide(p[:-1], p[1:], out=ratio, where=safe)
        num, den = slope * (dtp + intercept * np.log(ratio)), tp[1:] + fn[1:]
        return np.sum(np.divide(num, den, out=np.zeros_like(num), where=den != 0))
    rec = (tp + eps) / (tp + fn + eps)
    x, y = (
        (fp / (fp + tn + eps), rec)
        if curve == "ROC"
        else (rec, (tp + eps) / (tp + fp + eps))
    )
    heights = {
        "careful_interpolation": (y[:-1] + y[1:]) / 2,
        "trapezoidal": (y[:-1] + y[1:]) / 2,
        "minoring": np.minimum(y[:-1], y[1:]),
        "majoring": np.maximum(y[:-1], y[1:]),
    }[method]
    return np.sum((x[:-1] - x[1:]) * heights)


def _exact_roc_auc(labels, scores):
    """Mann-Whitney: the fraction of (positive, negative) pairs ranked right."""
    pos, neg = scores[labels == 1][:, None], scores[labels == 0][None, :]
    return np.mean((pos > neg) + 0.5 * (pos == neg))


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(0)
    labels = (rng.random(1000) < 0.4).astype(np.int32)
    scores = 1 / (1 + np.exp(-(1.5 * labels + rng.normal(size=1000))))
    return labels, scores.astype(np.float32)


def test_auc_small_oracle():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs are ordered right
    _close(_value(metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])), 0.75, tol=1e-5)
    perfect = metrics.auc([0, 1], [0.2, 0.9], curve="PR")
    _close(_value(perfect), 1.0, tol=1e-5)


def test_auc_roc_is_close_to_exact_sorting_auc(scored):
    labels, scores = scored
    approx = _value(metrics.auc(labels, scores))
    assert abs(approx - _exact_roc_auc(labels, scores)) < 1e-3


@pytest.mark.parametrize(
    ("curve", "method"),
    [
        ("ROC", "careful_interpolation"),
        ("PR", "careful_interpolation"),
        ("PR", "trapezoidal"),
        ("ROC", "minoring"),
        ("PR", "majoring"),
    ],
)
def test_auc_equals_numpy_reimplementation(scored, curve, method):
    labels, scores = scored
    metric = metrics.auc(labels, scores, curve=curve, summation_method=method)
    expected = _np_confusion(labels, scores, np.ones(len(labels)), 200)
    for key, counts in expected.items():
        np.testing.assert_array_equal(metric.state[key], counts)  # integer counts
    # the same float32 formula; only the summation order may differ
    _close(_value(metric), _np_auc(expected, curve, method), tol=1e-6)


def test_auc_bounds_and_thresholds(scored):
    labels, scores = scored
    low = _value(metrics.auc(labels, scores, summation_method="minoring"))
    high = _value(metrics.auc(labels, scores, summation_method="majoring"))
    assert low <= _value(metrics.auc(labels, scores)) <= high
    few = metrics.auc(labels, scores, thresholds=[0.75, 0.25, 0.5])
    assert few.state["tp"].shape == (5,)  # 3 thresholds plus the two endpoints


def test_auc_validates_its_options():
    with pytest.raises(ValueError, match="`curve` must be one of"):
        metrics.auc([1], [0.5], curve="roc")
    with pytest.raises(ValueError, match="`summation_method` must be one of"):
        metrics.auc([1], [0.5], summation_method="riemann")
    with pytest.raises(ValueError, match="`num_thresholds` must be >= 2"):
        metrics.auc([1], [0.5], num_thresholds=1)


# ---------------------------------------------------------------- streaming


@jax.jit  # one compile per batch shape instead of one per eager op and shape
def _all_metrics(labels, scores, weights=None, mask=None):
    with model_fn_scope(mask=mask):  # the mask is an argument, as in the Estimator
        return _metric_dict(labels, scores, weights)


def _metric_dict(labels, scores, weights):
    predicted = (scores > 0.5).astype(jnp.int32)
    return {
        "accuracy": metrics.accuracy(labels, predicted, weights),
        "precision": metrics.precision(labels, predicted, weights),
        "recall": metrics.recall(labels, predicted, weights),
        "label/mean": metrics.mean(labels, weights),
        "rmse": metrics.root_mean_squared_error(labels, scores, weights),
        "mae": metrics.mean_absolute_error(labels, scores, weights),
        "auc": metrics.auc(labels, scores, weights),
        "auc_precision_recall": metrics.auc(labels, scores, weights, curve="PR"),
        "recall@0.3": metrics.recall_at_threshold(labels, scores, 0.3, weights),
        "mean_tensor": metrics.mean_tensor(jnp.stack([scores, scores * 2], 1), weights),
    }


def test_results_are_exact_over_uneven_batches(scored):
    labels, scores = scored
    whole = metrics.compute_results(_all_metrics(labels, scores))
    merged: dict = {}
    for part in np.split(np.arange(len(labels)), [7, 400]):  # 7, 393, 600 examples
        merged = metrics.merge_metric_dicts(
            merged, _all_metrics(labels[part], scores[part])
        )
    streamed = metrics.compute_results(merged)
    for name in (
        "accuracy",
        "precision",
        "recall",
        "label/mean",
        "auc",
        "auc_precision_recall",
    ):
        assert streamed[name] == whole[name], name  # integer counts: bit-exact
    for name in ("rmse", "mae", "recall@0.3"):
        _close(streamed[name], whole[name])
    _close(streamed["mean_tensor"], whole["mean_tensor"])


def test_mask_matches_dropping_the_padded_examples(scored):
    labels, scores = scored[0][:10], scored[1][:10]
    mask = np.array([1.0] * 6 + [0.0] * 4, np.float32)
    weights = np.linspace(0.5, 2.0, 10).astype(np.float32)
    masked = metrics.compute_results(_all_metrics(labels, scores, weights, mask))
    real = metrics.compute_results(_all_metrics(labels[:6], scores[:6], weights[:6]))
    for name, value in real.items():
        _close(masked[name], value)


def test_per_example_weights_column_and_row_forms_agree(scored):
    labels, scores = scored[0][:8, None], scored[1][:8, None]  # [B, 1] like a head
    weights = np.arange(8, dtype=np.float32)
    rows = metrics.compute_results(_all_metrics(labels[:, 0], scores[:, 0], weights))
    column = metrics.auc(labels, scores, weights[:, None])
    _close(_value(column), rows["auc"])
    _close(_value(metrics.mean(scores, weights)), np.sum(scores[:, 0] * weights) / 28)


def test_jitted_eval_with_padded_last_batch_is_exact(scored):
    labels, scores = scored[0][:25], scored[1][:25]
    traces = []

    @jax.jit
    def eval_step(labels, scores, mask):
        traces.append(1)
        with model_fn_scope(mask=mask):
            return {
                "accuracy": metrics.accuracy(labels, scores > 0.5),
                "auc": metrics.auc(labels, scores),
                "scalar": jnp.float32(1.0),  # a plain value averages per batch
            }

    merged: dict = {}
    for start in range(0, 25, 10):  # 10, 10, then 5 padded to 10
        part = slice(start, start + 10)
        n = len(labels[part])
        pad = 10 - n
        batch = (
            np.pad(labels[part], (0, pad)),
            np.pad(scores[part], (0, pad), constant_values=0.99),
            np.array([1.0] * n + [0.0] * pad, np.float32),
        )
        merged = metrics.merge_metric_dicts(merged, eval_step(*batch))
    assert len(traces) == 1
    results = metrics.compute_results(merged)
    expected = metrics.compute_results(
        {
            "accuracy": metrics.accuracy(labels, scores > 0.5),
            "auc": metrics.auc(labels, scores),
            "scalar": 1.0,
        }
    )
    assert results == expected


def test_merge_metric_dicts_requires_the_same_names():
    with pytest.raises(ValueError, match="different names"):
        metrics.merge_metric_dicts({"a": 1.0}, {"b": 1.0})
