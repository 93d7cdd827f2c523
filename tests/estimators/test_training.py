"""train_and_evaluate, TrainSpec / EvalSpec and the exporters."""

from __future__ import annotations

import json
import os

import optax
import pytest
from support import batches_of, classifier_model_fn, fast_config

import estimators as est


class RecordingExporter(est.Exporter):
    """Records `(global_step, is_the_final_export)` of every call; exports nothing."""

    def __init__(self, name="recorder"):
        self._name = name
        self.calls = []

    @property
    def name(self):
        return self._name

    def export(
        self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export
    ):
        assert export_path == os.path.join(estimator.model_dir, "export", self.name)
        assert eval_result["global_step"] == int(checkpoint_path.rsplit("-", 1)[1])
        self.calls.append((eval_result["global_step"], is_the_final_export))
        return eval_result["global_step"]


def endless(x, y, batch_size=30):
    def input_fn():
        while True:
            yield {"x": x[:batch_size]}, y[:batch_size]

    return input_fn


def estimator(tmp_path, save_every=10, **params):
    params.setdefault("hidden_units", [4])
    return est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "model"),
        config=fast_config(save_checkpoints_steps=save_every),
        params=params,
    )


def receiver(x):
    return est.build_raw_serving_input_receiver_fn({"x": x[:1]})


def stamps(path):
    return sorted(os.listdir(path))


def exported_step(path):
    with open(os.path.join(path, "export.json")) as f:
        return json.load(f)["global_step"]


def test_each_checkpoint_is_evaluated_and_the_last_once_more_as_final(tmp_path, blobs):
    x, y = blobs
    classifier = estimator(tmp_path)
    recorder = RecordingExporter()
    latest = est.LatestExporter("latest", receiver(x), exports_to_keep=2)
    final = est.FinalExporter("final", receiver(x))
    specs = (
        est.TrainSpec(endless(x, y), max_steps=30),
        est.EvalSpec(
            batches_of(x, y, 30),
            name="val",
            exporters=[recorder, latest, final],
            throttle_secs=0,
        ),
    )
    result, (step, latest_path, final_path) = est.train_and_evaluate(classifier, *specs)
    # checkpoints at 10, 20 and 30 (= max_steps, the final one)
    assert recorder.calls == [(10, False), (20, False), (30, True)]
    assert list(est.read_eval_metrics(classifier.model_dir, "val")) == [10, 20, 30]
    assert set(result) == {"accuracy", "loss", "global_step"}
    assert result["global_step"] == step == 30
    base = os.path.join(classifier.model_dir, "export")
    # LatestExporter exported steps 10, 20, 30 and kept the newest two.
    kept = stamps(os.path.join(base, "latest"))
    assert [exported_step(os.path.join(base, "latest", s)) for s in kept] == [20, 30]
    assert latest_path == os.path.join(base, "latest", kept[-1])
    assert stamps(os.path.join(base, "final")) == [os.path.basename(final_path)]
    assert exported_step(final_path) == 30

    # Run again: max_steps is reached, so it only evaluates and exports step 30.
    recorder.calls.clear()
    result, _ = est.train_and_evaluate(classifier, *specs)
    assert recorder.calls == [(30, True)] and result["global_step"] == 30


def test_throttled_training_that_ends_with_its_input(tmp_path, blobs):
    x, y = blobs
    recorder = RecordingExporter()
    evaluations = []

    class CountEvaluations(est.Hook):
        def begin(self, context):
            evaluations.append(context.global_step)

    est.train_and_evaluate(
        estimator(tmp_path),
        est.TrainSpec(batches_of(x, y, 30, epochs=9)),  # 90 / 30 * 9 = 27 steps
        est.EvalSpec(
            batches_of(x, y, 30),
            steps=2,
            hooks=[CountEvaluations()],
            exporters=[recorder],
            throttle_secs=3600,
        ),
    )
    # 10 is the first checkpoint; 20 comes less than an hour later; 27, the last
    # checkpoint, is evaluated once, as the final one.
    assert evaluations == [10, 27]
    assert recorder.calls == [(10, False), (27, True)]


def test_an_early_stopping_hook_ends_training_at_the_expected_step(tmp_path, blobs):
    x, y = blobs
    # A zero learning rate keeps every evaluation's loss equal: never a decrease.
    classifier = estimator(tmp_path, save_every=5, optimizer=optax.sgd(0.0))
    hook = est.stop_if_no_decrease_hook(
        classifier, "loss", 10, run_every_secs=None, run_every_steps=1
    )
    recorder = RecordingExporter()
    result, _ = est.train_and_evaluate(
        classifier,
        est.TrainSpec(endless(x, y), max_steps=100, hooks=[hook]),
        est.EvalSpec(batches_of(x, y, 30), exporters=[recorder], throttle_secs=0),
    )
    # The checkpoint of step s is evaluated before step s + 1 runs. The hook,
    # after step 16, sees evaluations at 5, 10, 15 with the best (first) at 5:
    # 15 - 5 = 10 >= 10 steps without decrease, so training stops at step 16,
    # which is saved and evaluated as the final checkpoint.
    assert recorder.calls == [(5, False), (10, False), (15, False), (16, True)]
    assert result["global_step"] == 16
    assert classifier.latest_checkpoint().endswith("ckpt-16")


def checkpoint_steps(model):
    return [est.checkpoints.checkpoint_step(p) for p in
            est.checkpoints.all_checkpoints(model.model_dir)]  # fmt: skip


def test_two_named_eval_specs_each_on_its_cadence(tmp_path, blobs):
    x, y = blobs
    classifier = estimator(tmp_path)  # a checkpoint every 10 steps
    val, test = RecordingExporter("val_recorder"), RecordingExporter("test_recorder")
    results, exports = est.train_and_evaluate(
        classifier,
        est.TrainSpec(endless(x, y), max_steps=30),
        [
            est.EvalSpec(
                batches_of(x, y, 30), name="val", exporters=val, throttle_secs=0
            ),
            est.EvalSpec(
                batches_of(x[:60], y[:60], 20),
                name="test",
                every_n_steps=4,
                exporters=[test, est.LatestExporter("latest", receiver(x), 2)],
            ),
        ],
    )
    assert set(results) == set(exports) == {"val", "test"}
    assert results["val"]["global_step"] == results["test"]["global_step"] == 30
    assert exports["val"] == [30] and exports["test"][0] == 30
    # The export of step 28, between checkpoints, is of the in-memory parameters.
    base = os.path.join(classifier.model_dir, "export", "latest")
    assert [exported_step(os.path.join(base, s)) for s in stamps(base)] == [28, 30]
    # "val" follows the checkpoints; "test" runs every 4 steps on the parameters
    # in memory, plus the final evaluation of step 30.
    assert val.calls == [(10, False), (20, False), (30, True)]
    assert test.calls == [(s, False) for s in range(4, 30, 4)] + [(30, True)]
    assert list(est.read_eval_metrics(classifier.model_dir, "val")) == [10, 20, 30]
    assert list(est.read_eval_metrics(classifier.model_dir, "test")) == [
        *range(4, 30, 4), 30]  # fmt: skip
    # The in-memory evaluations wrote no checkpoint into the model_dir (each
    # exporter call got one made for it, then deleted).
    assert checkpoint_steps(classifier) == [10, 20, 30]
    # An evaluation between checkpoints is of the exact step: the one at 20,
    # by both specs' data, gives what evaluate() of ckpt-20 gives.
    again = classifier.evaluate(
        batches_of(x[:60], y[:60], 20),
        checkpoint_path=classifier.model_dir + "/ckpt-20",
    )
    recorded = est.read_eval_metrics(classifier.model_dir, "test")[20]
    assert recorded["loss"] == pytest.approx(again["loss"], rel=1e-6)
    assert recorded["accuracy"] == pytest.approx(again["accuracy"])


def test_every_n_steps_needs_no_checkpoints(tmp_path, blobs):
    x, y = blobs
    classifier = estimator(tmp_path, save_every=None)  # only the final checkpoint
    result, _ = est.train_and_evaluate(
        classifier,
        est.TrainSpec(endless(x, y), max_steps=12),
        est.EvalSpec(batches_of(x, y, 30), every_n_steps=5),
    )
    assert list(est.read_eval_metrics(classifier.model_dir)) == [5, 10, 12]
    assert result["global_step"] == 12 and checkpoint_steps(classifier) == [12]


def test_training_without_data_names_the_input_fn(tmp_path, blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="train_spec.input_fn"):
        est.train_and_evaluate(
            estimator(tmp_path),
            est.TrainSpec(lambda: iter(())),
            est.EvalSpec(batches_of(x, y, 30)),
        )


def input_fn():
    return {"x": [[0.0]]}, [0]


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: est.TrainSpec(input_fn, max_steps=0), ValueError, "`max_steps` must be > 0, got 0"),
        (lambda: est.TrainSpec(input_fn, max_steps=2.5), ValueError, "`max_steps`"),
        (lambda: est.TrainSpec(None), TypeError, "`input_fn` must be callable"),
        (lambda: est.TrainSpec(input_fn, hooks=[object()]), TypeError, r"`hooks\[0\]`"),
        (lambda: est.TrainSpec(input_fn, saving_listeners=[est.Hook()]), TypeError, "saving_listeners"),
        (lambda: est.EvalSpec(input_fn, steps=0), ValueError, "`steps` must be > 0"),
        (lambda: est.EvalSpec(input_fn, every_n_steps=0), ValueError, "`every_n_steps` must be > 0"),
        (lambda: est.EvalSpec(input_fn, name=""), ValueError, "`name`"),
        (lambda: est.EvalSpec(input_fn, throttle_secs=-1), ValueError, "`throttle_secs` must be >= 0"),
        (lambda: est.EvalSpec(input_fn, start_delay_secs="1"), ValueError, "`start_delay_secs`"),
        (lambda: est.EvalSpec(input_fn, exporters=["latest"]), TypeError, r"`exporters\[0\]` must be an est.Exporter"),
        (lambda: est.EvalSpec(input_fn, exporters=[est.LatestExporter("a"), est.FinalExporter("a")]), ValueError, "distinct names"),
        (lambda: est.LatestExporter(""), ValueError, "`name`"),
        (lambda: est.LatestExporter("a/b"), ValueError, "one folder name"),
        (lambda: est.LatestExporter("a", exports_to_keep=0), ValueError, "`exports_to_keep`"),
        (lambda: est.FinalExporter("a", serving_input_receiver_fn=1), TypeError, "serving_input_receiver_fn"),
        (lambda: est.BestExporter(compare_fn=lambda a, b: True), ValueError, "best_eval_result"),
        (lambda: est.BestExporter(compare_fn=None), TypeError, "`compare_fn`"),
        (lambda: est.train_and_evaluate(object(), None, None), TypeError, "`estimator`"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_specs_are_swapped_by_mistake(tmp_path):
    classifier = est.Estimator(classifier_model_fn, model_dir=str(tmp_path))
    train_spec, eval_spec = est.TrainSpec(input_fn), est.EvalSpec(input_fn)
    with pytest.raises(TypeError, match="`train_spec` must be an est.TrainSpec"):
        est.train_and_evaluate(classifier, eval_spec, train_spec)


def test_a_single_exporter_and_none_hooks_are_accepted():
    exporter = est.LatestExporter("latest")
    spec = est.EvalSpec(input_fn, hooks=None, exporters=exporter)
    assert spec.exporters == (exporter,) and spec.hooks == ()


@pytest.mark.parametrize(
    ("specs", "error", "message"),
    [
        ([], ValueError, "at least one"),
        ("val", TypeError, "`eval_spec` must be an est.EvalSpec or a list"),
        ([est.EvalSpec(input_fn), est.EvalSpec(input_fn)], ValueError, "distinct names"),
        ([est.EvalSpec(input_fn, name="a"), est.EvalSpec(input_fn, name="a")], ValueError, "EvalSpec.name=|give each EvalSpec"),
        ([est.EvalSpec(input_fn, name="a"), None], TypeError, r"`eval_spec\[1\]`"),
        ([est.EvalSpec(input_fn, name="a", exporters=est.LatestExporter("e")),
          est.EvalSpec(input_fn, name="b", exporters=est.FinalExporter("e"))], ValueError, "exporters must have distinct names"),
    ],
)  # fmt: skip
def test_bad_eval_spec_lists_are_named(tmp_path, specs, error, message):
    classifier = est.Estimator(classifier_model_fn, model_dir=str(tmp_path))
    with pytest.raises(error, match=message):
        est.train_and_evaluate(classifier, est.TrainSpec(input_fn), specs)
