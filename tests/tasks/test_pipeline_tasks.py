"""The stages one after the other, as the flow calls them, without Prefect's engine."""

import dataclasses
import json
import os

import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from estimators_pipeline.tasks import runs
from estimators_pipeline.tasks.evaluate import evaluate, evaluate_champion
from estimators_pipeline.tasks.export import export
from estimators_pipeline.tasks.ingest import ingest
from estimators_pipeline.tasks.predict import resolve_model, score_to_parquet
from estimators_pipeline.tasks.register import register
from estimators_pipeline.tasks.runs import end_run, start_run
from estimators_pipeline.tasks.train import train
from estimators_pipeline.tasks.transform import transform


def _train(config, splits, columns, run):
    return train.fn(
        config.estimator,
        config.train,
        config.eval,
        config.data.label,
        splits,
        columns,
        run,
        config.gate.metric,
        config.gate.higher_is_better,
    )


def _champion(config, splits):
    return evaluate_champion.fn(
        config.model_name, config.gate, config.eval, config.data.label, splits
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory, make_iris_config):
    config = make_iris_config(tmp_path_factory.mktemp("chain") / "runs")
    label = config.data.label
    splits = ingest.fn(config.data, config.features, config.work_dir)
    run = start_run.fn(config, splits)
    run_id = run.run_id
    columns = transform.fn(config.features, label, splits, config.work_dir)
    model = _train(config, splits, columns, run)
    candidate = evaluate.fn(config.estimator, config.eval, label, splits, model, run)
    assert _champion(config, splits) is None  # the first model
    exported = export.fn(config.estimator, label, splits, model, candidate, run)
    decision = register.fn(config.model_name, config.gate, exported, None)
    end_run.fn(run)
    return locals()


def test_the_first_model_becomes_champion(chain):
    decision, config = chain["decision"], chain["config"]
    assert decision.promoted and decision.version == "1"
    champion = MlflowClient().get_model_version_by_alias(config.model_name, "champion")
    assert str(champion.version) == "1" and champion.run_id == chain["run_id"]
    assert champion.tags["gate.decision"] == "promoted"
    logged = MlflowClient().get_logged_model(
        chain["exported"].model_uri.removeprefix("models:/")
    )
    experiment = MlflowClient().get_run(chain["run_id"]).info.experiment_id
    assert logged.experiment_id == experiment and str(logged.status) == "READY"


def test_the_run_holds_params_tags_metrics_and_artifacts(chain):
    client, run_id = MlflowClient(), chain["run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.steps"] == "200"
    assert run.data.params["estimator.args.hidden_units"] == "[10, 10]"
    assert run.data.tags["data.fingerprint"] == chain["splits"].fingerprint
    assert run.data.tags["registered_model.version"] == "1"
    # loss at every save_summary_steps (20) up to steps (200)
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == list(
        range(20, 201, 20)
    )
    [accuracy] = client.get_metric_history(run_id, "eval/accuracy")
    assert (
        accuracy.step == 200
        and accuracy.value == chain["candidate"].metrics["accuracy"]
    )
    paths = {a.path for a in client.list_artifacts(run_id)}
    assert {"checkpoints", "pipeline", "plots"} <= paths
    assert {a.path for a in client.list_artifacts(run_id, "plots")} == {
        "plots/confusion_matrix.png",
        "plots/training_curve.png",
    }
    assert "checkpoints/checkpoint.json" in {
        a.path for a in client.list_artifacts(run_id, "checkpoints")
    }


def test_the_champion_is_rescored_exactly_on_the_same_split(chain):
    champion = _champion(chain["config"], chain["splits"])
    assert champion.version == "1" and champion.source == "evaluated"
    assert champion.metrics == chain["candidate"].metrics


def test_training_resumes_from_the_run_model_dir(chain):
    config = chain["config"]
    again = _train(config, chain["splits"], chain["columns"], chain["run"])
    assert again == chain["model"]
    assert "ckpt-201" not in os.listdir(again.model_dir)  # nothing new to train


def test_the_champion_scores_a_csv(chain, tmp_path, repo):
    uri = resolve_model.fn(chain["config"].model_name)
    assert uri == f"models:/{chain['config'].model_name}/1"
    out = tmp_path / "scored.parquet"
    scored = score_to_parquet(uri, str(repo / "data/iris_test.csv"), str(out))
    table = pq.read_table(out)
    assert scored.rows == table.num_rows == 30
    assert {"SepalLength", "Species", "class_ids", "probabilities"} <= set(
        table.column_names
    )


def test_a_champion_that_cannot_read_the_new_split_falls_back_to_its_record(
    chain, tmp_path
):
    splits = chain["splits"]
    table = pq.read_table(splits.eval_uri).drop_columns(["PetalWidth"])
    pq.write_table(table, tmp_path / "eval.parquet")
    changed = dataclasses.replace(splits, eval_uri=str(tmp_path / "eval.parquet"))
    champion = _champion(chain["config"], changed)
    assert champion.source == "recorded" and champion.version == "1"
    assert champion.metrics["accuracy"] == chain["candidate"].metrics["accuracy"]
    assert "could not be evaluated on this split" in champion.notes[0]


def test_the_run_says_who_ran_what_on_which_data(chain):
    client, run_id = MlflowClient(), chain["run_id"]
    run = client.get_run(run_id)
    tags = run.data.tags
    assert tags["mlflow.user"] and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.name"] == runs.SOURCE_NAME
    assert tags["mlflow.source.git.commit"]
    assert run.info.run_name.startswith(chain["config"].model_name + "-")
    inputs = {
        d.dataset.name: {t.key: t.value for t in d.tags}.get("mlflow.data.context")
        for d in run.inputs.dataset_inputs
    }
    # (+ "dataset", logged by mlflow.models.evaluate in the export stage)
    assert inputs["train"] == "training" and inputs["eval"] == "evaluation"
    schema = json.loads(run.inputs.dataset_inputs[0].dataset.schema)
    assert {c["name"] for c in schema["mlflow_colspec"]} >= {"SepalLength", "Species"}


def test_training_metrics_are_grouped_for_the_mlflow_ui(chain):
    metrics = MlflowClient().get_run(chain["run_id"]).data.metrics
    assert {"train/loss", "train/steps_per_sec", "eval/accuracy"} <= set(metrics)
    assert not {"loss", "global_step/sec"} & set(metrics)


def test_mlflow_evaluate_works_on_the_exported_model(chain, tmp_path):
    import mlflow

    data = pq.read_table(chain["splits"].eval_uri).to_pandas()
    mlflow.set_experiment(f"evaluate-{chain['config'].model_name}")
    with mlflow.start_run():
        result = mlflow.models.evaluate(
            chain["exported"].model_uri,
            data,
            targets="Species",
            model_type="classifier",
            model_config={"output": "class_ids"},
            evaluators=["default"],
        )
    assert result.metrics["accuracy_score"] == pytest.approx(
        chain["candidate"].metrics["accuracy"], abs=1e-6
    )
    predicted = mlflow.pyfunc.load_model(chain["exported"].model_uri).predict(
        data.drop(columns=["Species"])
    )
    assert predicted["class_ids"].dtype.kind == "i"  # scalars, not [id] lists
    one = mlflow.pyfunc.load_model(chain["exported"].model_uri)
    only = one.predict(data.drop(columns=["Species"]), params={"output": "class_ids"})
    assert only.name == "class_ids" and only.tolist() == predicted["class_ids"].tolist()
    metrics = MlflowClient().get_run(chain["run_id"]).data.metrics
    assert metrics["accuracy_score"] == result.metrics["accuracy_score"]  # by export
    paths = {a.path for a in MlflowClient().list_artifacts(chain["run_id"])}
    assert "confusion_matrix.png" in paths


def test_scoring_data_without_a_model_column_names_it(chain, tmp_path, repo):
    import pyarrow.csv as pacsv

    data = pacsv.read_csv(repo / "data/iris_test.csv")
    uri = resolve_model.fn(chain["config"].model_name)
    source = tmp_path / "partial.parquet"
    pq.write_table(data.drop_columns(["PetalWidth"]), source)
    with pytest.raises(ValueError, match=r"no column\(s\) \['PetalWidth'\]"):
        score_to_parquet(uri, str(source), str(tmp_path / "out.parquet"))
    assert not (tmp_path / "out.parquet").exists()
