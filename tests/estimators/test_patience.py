"""est.EarlyStopping: patience, min_delta, smoothing and restore-best."""

from __future__ import annotations

import json
import os

import jax.numpy as jnp
import optax
import pytest
from support import batches_of, classifier_model_fn, fast_config

import estimators as est


def observe_all(stopper, values, start=10, every=10):
    """Feeds `values` as evaluations at steps 10, 20, ...; returns where it
    would stop (the step of the first evaluation that calls for it) or None."""
    for i, value in enumerate(values):
        stopper.observe(start + i * every, value)
        if stopper.should_stop():
            return start + i * every
    return None


@pytest.mark.parametrize(
    ("kwargs", "values", "stop", "best"),
    [
        # patience 0 (Keras' default): the first evaluation without improvement.
        ({}, [1.0, 0.9, 0.9], 30, 20),  # 0.9 is not < 0.9
        # patience 2: two in a row without improvement.
        ({"patience": 2}, [1.0, 1.1, 0.9, 0.95, 0.92], 50, 30),
        ({"patience": 2}, [1.0, 1.1, 0.9, 0.95, 0.8], None, 50),
        # min_delta 0.1: improving means below best - 0.1.
        # 0.95 > 1.0 - 0.1 (wait 1); 0.85 < 0.9 (best); 0.8 > 0.75 (1); 0.8 (2)
        ({"patience": 2, "min_delta": 0.1}, [1.0, 0.95, 0.85, 0.8, 0.8], 50, 30),
        # mode max: the accuracy has to rise.
        ({"mode": "max", "metric": "accuracy", "patience": 1}, [0.5, 0.7, 0.7], 30, 20),
        # smoothing 0.5 over a noisy descent: s = 1.0, 0.5*1.0 + 0.5*0.6 = 0.8,
        # 0.5*0.8 + 0.5*0.7 = 0.75 (< 0.8: still improving), 0.5*0.75 + 0.5*0.4
        # = 0.575 (best); unsmoothed, 0.7 > 0.6 stops at step 30.
        ({"smoothing": 0.5}, [1.0, 0.6, 0.7, 0.4], None, 40),
        ({"smoothing": 0.0}, [1.0, 0.6, 0.7, 0.4], 30, 20),
    ],
)  # fmt: skip
def test_patience_min_delta_and_smoothing(kwargs, values, stop, best):
    stopper = est.EarlyStopping(**kwargs)
    assert observe_all(stopper, values) == stop
    assert stopper.best_step == best


def test_smoothed_best_value():
    stopper = est.EarlyStopping(smoothing=0.5)
    observe_all(stopper, [1.0, 0.6, 0.7, 0.4])
    assert stopper.best_value == pytest.approx(0.575)  # see the case above


def record(model_dir, evaluations, prefix="eval_val"):
    """Appends `{step: {key: value}}` as `evaluate` records its results."""
    with est.JsonlWriter(os.path.join(model_dir, "metrics.jsonl")) as writer:
        for step, metrics in evaluations.items():
            writer.write_scalars(step, {f"{prefix}/{k}": v for k, v in metrics.items()})


def test_the_hook_follows_the_recorded_evaluations(tmp_path):
    stopper = est.EarlyStopping(patience=1, eval_name="val", restore_best=False)
    context = est.StepContext(mode="train", global_step=20, model_dir=str(tmp_path))
    record(tmp_path, {10: {"loss": 1.0}, 20: {"loss": 0.5}})
    record(tmp_path, {20: {"loss": 9.0}}, prefix="eval")  # another evaluation
    stopper.begin(context)  # replays the history: best 0.5 at 20
    assert (stopper.best_step, stopper.wait) == (20, 0)
    record(tmp_path, {30: {"loss": 0.6}})
    context.global_step = 30
    stopper.after_step(context)
    assert context.stop_requested and stopper.stopped_at == 30
    # A resumed run replays the same history and stops at once.
    again = est.StepContext(mode="train", global_step=30, model_dir=str(tmp_path))
    stopper.begin(again)
    assert again.stop_requested


def test_a_missing_metric_is_named(tmp_path):
    stopper = est.EarlyStopping("auc", eval_name="val")
    record(tmp_path, {10: {"accuracy": 0.5, "loss": 1.0}})
    context = est.StepContext(mode="train", global_step=10, model_dir=str(tmp_path))
    with pytest.raises(KeyError, match=r"'auc' is not in the 'eval_val' results"):
        stopper.begin(context)


def ascent_after(step):
    """SGD that descends until `step`, then ascends: the loss gets worse."""
    return optax.sgd(lambda count: jnp.where(count < step, 0.1, -0.1))


def classifier(tmp_path, **config):
    return est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "model"),
        config=fast_config(**config),
        params={"hidden_units": [4], "optimizer": ascent_after(20)},
    )


def endless(x, y):
    def input_fn():
        while True:
            yield {"x": x}, y

    return input_fn


def steps_of(model):
    return [est.checkpoints.checkpoint_step(p) for p in
            est.checkpoints.all_checkpoints(model.model_dir)]  # fmt: skip


def test_train_and_evaluate_two_eval_sets_with_early_stopping_and_restore_best(
    tmp_path, blobs
):
    x, y = blobs
    # keep_checkpoint_max=1 would prune the best checkpoint: its copy survives.
    model = classifier(tmp_path, save_checkpoints_steps=10, keep_checkpoint_max=1)
    stopper = est.EarlyStopping("loss", patience=2, eval_name="val")
    receiver = est.build_raw_serving_input_receiver_fn({"x": x[:1]})
    results, exports = est.train_and_evaluate(
        model,
        est.TrainSpec(endless(x, y), max_steps=100, hooks=[stopper]),
        [
            est.EvalSpec(batches_of(x, y, 45), name="val", every_n_steps=5),
            est.EvalSpec(
                batches_of(x[::2], y[::2], 45),
                name="test",
                throttle_secs=0,
                exporters=est.FinalExporter("final", receiver),
            ),
        ],
    )
    val = est.read_eval_metrics(model.model_dir, "val")
    # Descent until step 20, ascent after: the val loss is lowest at 20, worse
    # at 25 (wait 1) and 30 (wait 2 = patience): stop at 30.
    assert list(val) == [5, 10, 15, 20, 25, 30]
    assert val[20]["loss"] < min(val[15]["loss"], val[25]["loss"])
    assert (stopper.stopped_at, stopper.best_step) == (30, 20)
    assert stopper.best_value == val[20]["loss"]
    # The best checkpoint (pruned by keep_checkpoint_max=1 at step 30) is back as
    # the latest; the steps after it are gone.
    assert model.latest_checkpoint() == os.path.join(model.model_dir, "ckpt-20")
    assert steps_of(model) == [20] and stopper.restored == model.latest_checkpoint()
    # The final results and export are those of the best model, for both sets.
    assert results["val"]["global_step"] == results["test"]["global_step"] == 20
    assert results["val"]["loss"] == pytest.approx(val[20]["loss"], rel=1e-6)
    with open(os.path.join(exports["test"][0], "export.json")) as f:
        assert json.load(f)["global_step"] == 20
    # The "test" set followed the checkpoints (10, 20, 30, the last in memory);
    # its evaluation of step 20 served for the final export.
    assert sorted(est.read_eval_metrics(model.model_dir, "test")) == [10, 20, 30]
    assert model.evaluate(batches_of(x, y, 45))["loss"] == pytest.approx(
        val[20]["loss"], rel=1e-6
    )


def test_following_checkpoint_evaluations_the_best_checkpoint_is_copied(
    tmp_path, blobs
):
    x, y = blobs
    model = classifier(tmp_path, save_checkpoints_steps=5, keep_checkpoint_max=1)
    stopper = est.EarlyStopping(patience=1, eval_name="val")
    result, _ = est.train_and_evaluate(
        model,
        est.TrainSpec(endless(x, y), max_steps=100, hooks=[stopper]),
        est.EvalSpec(batches_of(x, y, 45), name="val", throttle_secs=0),
    )
    # ckpt-25 is evaluated before step 26 and is worse than ckpt-20: the stop is
    # requested there, and training ends at the next checkpoint, 30.
    assert list(est.read_eval_metrics(model.model_dir, "val")) == [
        5,
        10,
        15,
        20,
        25,
        30,
    ]
    assert (stopper.stopped_at, stopper.best_step) == (25, 20)
    assert steps_of(model) == [20] and result["global_step"] == 20


def test_in_memory_evaluator_and_early_stopping_in_train(tmp_path, blobs):
    x, y = blobs
    model = classifier(tmp_path)  # no periodic checkpoints at all
    evaluator = est.InMemoryEvaluatorHook(
        model, batches_of(x, y, 45), name="val", every_n_iter=5
    )
    stopper = est.EarlyStopping(patience=1, eval_name="val")
    model.train(endless(x, y), max_steps=100, hooks=[evaluator, stopper])
    # Evaluations at 0, 5, ..., 20 (best), 25 (worse: stop).
    assert sorted(evaluator.results) == [0, 5, 10, 15, 20, 25]
    assert (stopper.stopped_at, stopper.best_step) == (25, 20)
    # The best was saved from memory: the only periodic checkpoint is the final
    # one, which the restore replaced by the best.
    assert steps_of(model) == [20]
    restored = model.evaluate(batches_of(x, y, 45))
    assert restored == {**evaluator.results[20]}
    # Training again resumes from the best: the points recorded after it are
    # dropped, the history up to it replayed, and the same stop comes again.
    model.train(endless(x, y), max_steps=100, hooks=[evaluator, stopper])
    assert sorted(evaluator.results) == [20, 25]
    assert (stopper.stopped_at, stopper.best_step) == (25, 20)
    assert list(est.read_eval_metrics(model.model_dir, "val")) == [0, 5, 10, 15, 20, 25]
    assert steps_of(model) == [20]


def test_without_restore_best_nothing_is_kept(tmp_path, blobs):
    x, y = blobs
    model = classifier(tmp_path)
    evaluator = est.InMemoryEvaluatorHook(
        model, batches_of(x, y, 45), name="val", every_n_iter=5
    )
    stopper = est.EarlyStopping(patience=1, eval_name="val", restore_best=False)
    model.train(endless(x, y), max_steps=100, hooks=[evaluator, stopper])
    assert steps_of(model) == [25] and stopper.restored is None
    assert not os.path.exists(os.path.join(model.model_dir, "best"))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"metric": ""}, TypeError, "`metric`"),
        ({"mode": "auto"}, ValueError, '`mode` must be "min" or "max"'),
        ({"patience": -1}, ValueError, "`patience` must be an int >= 0"),
        ({"patience": 1.5}, ValueError, "`patience`"),
        ({"min_delta": -0.1}, ValueError, "`min_delta` must be >= 0"),
        ({"smoothing": 1.0}, ValueError, r"`smoothing` must be in \[0, 1\)"),
        ({"restore_best": "yes"}, TypeError, "`restore_best` must be a bool"),
        ({"eval_name": ""}, ValueError, "`eval_name`"),
        ({"min_steps": -1}, ValueError, "`min_steps`"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        est.EarlyStopping(**kwargs)


def test_an_eval_name_that_matches_no_evaluation_is_reported(tmp_path, blobs, caplog):
    x, y = blobs
    model = classifier(tmp_path)
    evaluator = est.InMemoryEvaluatorHook(
        model, batches_of(x, y, 45), name="val", every_n_iter=5
    )
    stopper = est.EarlyStopping(eval_name="vall")
    model.train(endless(x, y), max_steps=10, hooks=[evaluator, stopper])
    assert "EarlyStopping saw no 'eval_vall' evaluation" in caplog.text
