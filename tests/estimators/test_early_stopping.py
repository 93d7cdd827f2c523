"""Early-stopping hooks and read_eval_metrics, over recorded evaluation results."""

from __future__ import annotations

import os

import pytest
from support import batches_of, classifier_model_fn, fast_config

import estimators as est
from estimators import early_stopping


@pytest.fixture
def classifier(tmp_path):
    return est.Estimator(
        classifier_model_fn, model_dir=str(tmp_path), config=fast_config()
    )


def record(model_dir, evaluations, prefix="eval"):
    """Appends `{step: {key: value}}` as `evaluate` records its results."""
    with est.JsonlWriter(os.path.join(model_dir, "metrics.jsonl")) as writer:
        for step, metrics in evaluations.items():
            writer.write_scalars(step, {f"{prefix}/{k}": v for k, v in metrics.items()})


def stops_at(hook, step):
    context = est.StepContext(mode="train", global_step=step, model_dir=None)
    hook.after_step(context)
    return context.stop_requested


def every_step(make, classifier, *args, **kwargs):
    return make(classifier, *args, run_every_secs=None, run_every_steps=1, **kwargs)


@pytest.mark.parametrize(
    ("losses", "stops"),
    [
        ({10: 1.0, 20: 0.8, 30: 0.9}, False),  # best at 20; 30 - 20 = 10 < 20
        ({10: 1.0, 20: 0.8, 30: 0.9, 40: 0.85}, True),  # 40 - 20 = 20 >= 20
        ({10: 1.0, 20: 1.0, 30: 1.0}, True),  # equal is no decrease: 30 - 10 = 20
        ({10: 1.0, 20: 0.8, 30: 0.7, 40: 0.6}, False),  # always decreasing
    ],
)
def test_stop_if_no_decrease(classifier, losses, stops):
    record(classifier.model_dir, {s: {"loss": v} for s, v in losses.items()})
    hook = every_step(est.stop_if_no_decrease_hook, classifier, "loss", 20)
    assert stops_at(hook, 41) is stops


def test_stop_if_no_increase_ignores_evaluations_before_min_steps(classifier):
    accuracies = {10: 0.9, 20: 0.5, 30: 0.6, 40: 0.55}
    record(classifier.model_dir, {s: {"accuracy": v} for s, v in accuracies.items()})
    make = est.stop_if_no_increase_hook
    # counting step 10: best 0.9 at 10, 40 - 10 = 30 >= 20
    assert stops_at(every_step(make, classifier, "accuracy", 20), 41)
    # from step 20: best 0.6 at 30, 40 - 30 = 10 < 20
    hook = every_step(make, classifier, "accuracy", 20, min_steps=20)
    assert not stops_at(hook, 41)


@pytest.mark.parametrize(
    ("make", "threshold", "stops"),
    [
        (est.stop_if_higher_hook, 0.8, True),  # 0.9 at step 20 > 0.8
        (est.stop_if_higher_hook, 0.9, False),  # strictly higher only
        (est.stop_if_lower_hook, 0.6, True),  # 0.5 at step 10 < 0.6
        (est.stop_if_lower_hook, 0.5, False),
    ],
)
def test_threshold_hooks(classifier, make, threshold, stops):
    record(classifier.model_dir, {10: {"accuracy": 0.5}, 20: {"accuracy": 0.9}})
    assert stops_at(every_step(make, classifier, "accuracy", threshold), 21) is stops


def test_min_steps_applies_to_thresholds(classifier):
    record(classifier.model_dir, {10: {"loss": 0.1}, 20: {"loss": 0.5}})
    hook = every_step(est.stop_if_lower_hook, classifier, "loss", 0.2, min_steps=11)
    assert not stops_at(hook, 21)  # 0.1 is at step 10 < min_steps


def test_eval_dir_selects_a_named_evaluation(classifier):
    record(classifier.model_dir, {10: {"loss": 0.1}}, prefix="eval_val")
    eval_dir = os.path.join(classifier.model_dir, "eval_val")
    hook = every_step(
        est.stop_if_lower_hook, classifier, "loss", 0.2, eval_dir=eval_dir
    )
    assert stops_at(hook, 11)
    assert not stops_at(every_step(est.stop_if_lower_hook, classifier, "loss", 0.2), 11)


def test_checks_run_every_steps(classifier):
    calls = []
    hook = est.make_early_stopping_hook(
        classifier, lambda: calls.append(1) or False, None, run_every_steps=3
    )
    for step in range(1, 11):
        stops_at(hook, step)
    assert len(calls) == 4  # steps 1, 4, 7, 10


def test_checks_run_every_secs(classifier, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(early_stopping.time, "monotonic", lambda: now[0])
    calls = []
    hook = est.make_early_stopping_hook(
        classifier, lambda: calls.append(now[0]) or False, run_every_secs=60
    )
    stops_at(hook, 1)  # the first step always checks
    now[0] += 59
    stops_at(hook, 2)
    now[0] += 1
    stops_at(hook, 3)
    assert calls == [100.0, 160.0]


def test_a_metric_missing_from_the_results_is_named(classifier):
    record(classifier.model_dir, {10: {"loss": 0.5}})
    hook = every_step(est.stop_if_no_increase_hook, classifier, "auc", 10)
    with pytest.raises(KeyError, match=r"'auc' is not in the 'eval' results at "):
        stops_at(hook, 11)


def test_training_stops_at_the_first_check_once_the_threshold_was_crossed(
    classifier, blobs
):
    x, y = blobs
    record(classifier.model_dir, {5: {"loss": 0.01}})
    hook = every_step(est.stop_if_lower_hook, classifier, "loss", 0.1)
    classifier.train(batches_of(x, y, 30, epochs=10), max_steps=20, hooks=[hook])
    # the first check, after step 1, finds 0.01 < 0.1
    assert classifier.get_variable_value("global_step") == 1


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda e: est.make_early_stopping_hook(e, lambda: False, 60, 10), ValueError, "exactly one of"),
        (lambda e: est.make_early_stopping_hook(e, lambda: False, None, None), ValueError, "exactly one of"),
        (lambda e: est.make_early_stopping_hook(e, lambda: False, 0), ValueError, "`run_every_secs` must be > 0"),
        (lambda e: est.make_early_stopping_hook(e, lambda: False, None, 0), ValueError, "`run_every_steps` must be > 0"),
        (lambda e: est.make_early_stopping_hook(e, True), TypeError, "`should_stop_fn` must be callable"),
        (lambda e: est.stop_if_no_decrease_hook(object(), "loss", 10), TypeError, "`estimator` must be an est.Estimator"),
        (lambda e: est.stop_if_no_decrease_hook(e, "loss", 0), ValueError, "`max_steps_without_decrease` must be an int > 0"),
        (lambda e: est.stop_if_no_increase_hook(e, "auc", 1.5), ValueError, "`max_steps_without_increase`"),
        (lambda e: est.stop_if_higher_hook(e, "auc", "0.9"), TypeError, "`threshold` must be a number"),
        (lambda e: est.stop_if_lower_hook(e, "", 0.1), TypeError, "`metric_name`"),
        (lambda e: est.stop_if_lower_hook(e, "loss", 0.1, min_steps=-1), ValueError, "`min_steps`"),
        (lambda e: est.stop_if_lower_hook(e, "loss", 0.1, eval_dir="/tmp/evaluations"), ValueError, "`eval_dir` must be <model_dir>/eval"),
        (lambda e: est.read_eval_metrics(e.model_dir, name=""), ValueError, "`name`"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(classifier, build, error, message):
    with pytest.raises(error, match=message):
        build(classifier)
