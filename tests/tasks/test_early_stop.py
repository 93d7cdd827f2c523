"""Evaluation during training, early stopping and restore-best, as the flow runs them."""

import os

import pytest
from mlflow.tracking import MlflowClient

from estimators_pipeline.tasks.evaluate import evaluate
from estimators_pipeline.tasks.ingest import ingest
from estimators_pipeline.tasks.runs import start_run
from estimators_pipeline.tasks.train import train
from estimators_pipeline.tasks.transform import transform


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, make_iris_config):
    # min_delta 10 on the loss: no evaluation after the first is an improvement,
    # so training stops after `patience` (2) more evaluations (steps 40, 60).
    config = make_iris_config(
        tmp_path_factory.mktemp("early") / "runs",
        **{
            "train.steps": 400,
            "eval.every_n_steps": 20,
            "eval.early_stopping": {
                "metric": "loss",
                "higher_is_better": False,
                "patience": 2,
                "min_delta": 10.0,
            },
        },
    )
    label = config.data.label
    splits = ingest.fn(config.data, config.features, config.work_dir)
    run = start_run.fn(config, splits)
    columns = transform.fn(config.features, label, splits, config.work_dir)
    model = train.fn(
        config.estimator, config.train, config.eval, label, splits, columns, run
    )
    evaluation = evaluate.fn(config.estimator, config.eval, label, splits, model, run)
    return locals()


def test_training_stops_when_evaluations_stop_improving(stopped):
    model = stopped["model"]
    # train_and_evaluate evaluates ckpt-60 before step 61, so the stop comes
    # after step 61, whose final checkpoint is evaluated once more.
    assert model.stopped_early_at == 61
    steps = MlflowClient().get_metric_history(stopped["run"].run_id, "eval/loss")
    assert sorted({m.step for m in steps}) == [20, 40, 60, 61]  # the eval curve


def test_the_best_checkpoint_is_the_one_evaluated(stopped):
    model = stopped["model"]
    assert os.path.basename(model.checkpoint_path) == "ckpt-20"
    assert stopped["evaluation"].global_step == 20
