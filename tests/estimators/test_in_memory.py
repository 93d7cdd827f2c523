"""InMemoryEvaluatorHook and the evaluation of the in-memory train state."""

from __future__ import annotations

import pytest
from support import batches_of, classifier_model_fn, fast_config

import estimators as est


def endless(x, y, batch_size=30):
    def input_fn():
        while True:
            yield {"x": x[:batch_size]}, y[:batch_size]

    return input_fn


def classifier(tmp_path, **config):
    return est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "model"),
        config=fast_config(**config),
        params={"hidden_units": [4], "dropout": 0.2},  # dropout: the rng matters
    )


class CountSteps(est.Hook):
    """Records the global_step after each group of fused steps."""

    def __init__(self):
        self.steps = []

    def after_step(self, context):
        self.steps.append(context.global_step)

    def steps_until_needed(self, global_step):
        return None  # sees whatever groups the other hooks ask for


def test_in_memory_results_equal_an_evaluate_of_the_checkpoint_of_that_step(
    tmp_path, blobs
):
    x, y = blobs
    # Checkpoints every 5 steps and evaluations every 10: at 10 and 20 both exist.
    model = classifier(tmp_path, save_checkpoints_steps=5, keep_checkpoint_max=None)
    evaluator = est.InMemoryEvaluatorHook(
        model, batches_of(x, y, 30), name="val", every_n_iter=10
    )
    counter = CountSteps()
    model.train(endless(x, y), max_steps=25, hooks=[evaluator, counter])
    # At the start (step 0), every 10 steps, and at the end (25).
    assert sorted(evaluator.results) == [0, 10, 20, 25]
    # Fused runs end at the checkpoint steps (5, 15, 25) and the evaluations.
    assert counter.steps == [5, 10, 15, 20, 25]
    for step in (10, 20, 25):
        path = f"{model.model_dir}/ckpt-{step}"
        assert (
            model.evaluate(batches_of(x, y, 30), checkpoint_path=path)
            == (evaluator.results[step])
        )
    recorded = est.read_eval_metrics(model.model_dir, "val")
    assert sorted(recorded) == [0, 10, 20, 25]
    assert recorded[20]["loss"] == pytest.approx(evaluator.results[20]["loss"])


def test_no_checkpoint_is_written_for_an_evaluation(tmp_path, blobs):
    x, y = blobs
    model = classifier(tmp_path)  # no periodic checkpoints: only the final one
    evaluator = est.InMemoryEvaluatorHook(model, batches_of(x, y, 30), every_n_iter=4)
    model.train(endless(x, y), max_steps=10, hooks=[evaluator])
    assert sorted(evaluator.results) == [0, 4, 8, 10]
    assert [p.rsplit("/", 1)[1] for p in est.checkpoints.all_checkpoints(
        model.model_dir)] == ["ckpt-10"]  # fmt: skip
    # Training resumed: iterations count from the new start, as in tf.
    model.train(endless(x, y), steps=5, hooks=[evaluator])
    assert sorted(evaluator.results) == [10, 14, 15]


def test_train_state_is_only_available_during_training():
    context = est.StepContext(mode="eval", global_step=0, model_dir=None)
    with pytest.raises(RuntimeError, match="only available during training"):
        context.variables()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"every_n_iter": 0}, ValueError, "`every_n_iter` must be > 0"),
        ({"every_n_iter": None}, ValueError, "every_n_iter=None"),
        ({"steps": -1}, ValueError, "`steps` must be > 0"),
        ({"name": ""}, ValueError, "`name`"),
        ({"input_fn": None}, TypeError, "`input_fn` must be callable"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, error, message):
    model = est.Estimator(classifier_model_fn, model_dir=str(tmp_path))
    kwargs = {"input_fn": lambda: None, **kwargs}
    with pytest.raises(error, match=message):
        est.InMemoryEvaluatorHook(model, **kwargs)
