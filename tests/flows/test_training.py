"""The training pipeline end to end under Prefect, as the README demo runs it."""

import io
from contextlib import redirect_stderr, redirect_stdout

import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from estimators_pipeline.flows import cli
from estimators_pipeline.tasks.config import PipelineConfig


def _cli(*args):
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(list(args))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def demo(prefect_harness, write_config):
    """`estimators-pipeline run` twice in a row, as `make demo` twice."""
    path = write_config("iris", **{"train.steps": 300, "train.save_summary_steps": 20})
    runs = [_cli("run", "--config", str(path), "--allow-reject") for _ in range(2)]
    return path, PipelineConfig.from_yaml(path), runs


def _runs(config):
    client = MlflowClient()
    experiment = client.get_experiment_by_name(config.experiment)
    return client.search_runs([experiment.experiment_id], order_by=["start_time ASC"])


def test_second_run_hits_the_cache_and_keeps_the_champion(demo):
    _, config, [(first_code, first), (second_code, second)] = demo
    assert first_code == second_code == 0, first + second
    assert "ingest              Completed" in first
    assert f"model {config.model_name} v1 took alias 'champion'" in first
    assert "ingest              Cached" in second
    assert "transform           Cached" in second
    assert "champion v1" in second  # the evaluation table compares with it
    assert f"model {config.model_name} v2 did not take alias 'champion'" in second
    assert "estimators-pipeline ui" in second


def test_one_mlflow_run_per_pipeline_run_with_everything_logged(demo):
    _, config, _ = demo
    client = MlflowClient()
    first, second = _runs(config)
    for run in (first, second):
        tags = run.data.tags
        assert run.info.status == "FINISHED"
        assert tags["prefect.deployment"] == "none"
        assert tags["mlflow.source.git.commit"]
        assert tags["data.fingerprint"] == first.data.tags["data.fingerprint"]
    assert (
        first.data.tags["prefect.flow_run_id"]
        != second.data.tags["prefect.flow_run_id"]
    )
    assert first.data.params["train.steps"] == "300"
    steps = [m.step for m in client.get_metric_history(first.info.run_id, "train/loss")]
    assert steps == list(range(20, 301, 20))
    assert [
        m.step for m in client.get_metric_history(first.info.run_id, "eval/accuracy")
    ] == [300]
    assert "champion/accuracy" in second.data.metrics
    assert {"checkpoints", "pipeline", "plots"} <= {
        a.path for a in client.list_artifacts(first.info.run_id)
    }
    versions = client.search_model_versions(f"name = '{config.model_name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert (
        str(client.get_model_version_by_alias(config.model_name, "champion").version)
        == "1"
    )


def test_a_weak_model_does_not_take_champion(demo):
    path, config, _ = demo
    code, out = _cli(
        "run",
        "--config",
        str(path),
        "--set",
        "train.steps=1",
        "--set",
        "estimator.args.optimizer={SGD: {learning_rate: 0.0001}}",
    )
    assert code == cli.EXIT_REJECTED, out
    assert f"model {config.model_name} v3 did not take alias 'champion'" in out
    client = MlflowClient()
    assert (
        str(client.get_model_version_by_alias(config.model_name, "champion").version)
        == "1"
    )
    assert (
        client.get_model_version(config.model_name, "3").tags["gate.decision"]
        == "rejected"
    )
    assert (
        _runs(config)[-1].info.status == "FINISHED"
    )  # logged in full, only not promoted


def test_a_failing_stage_fails_the_run_and_its_mlflow_run(demo):
    path, config, _ = demo
    err = io.StringIO()
    with redirect_stderr(err):
        code, out = _cli(
            "run",
            "--config",
            str(path),
            "--set",
            "estimator.args.optimizer={SGD: {learning_rate: 1.0e+30}}",
        )
    assert code == cli.EXIT_FAILED
    assert "train               Failed" in out
    [line] = [x for x in err.getvalue().splitlines() if "failed" in x]
    assert line.startswith("The pipeline failed at stage 'train': ")
    assert "NaN or infinite loss" in line and "pipeline.log" in line
    assert "Traceback" not in err.getvalue()
    failed = _runs(config)[-1]
    assert failed.info.status == "FAILED"
    assert "NaN" in failed.data.tags["failure"]


def test_the_prefect_run_page_gets_a_report_artifact(demo):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    _, config, _ = demo
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[f"{config.model_name}-report"])
            )
        )
    assert len(artifacts) >= 2  # one per run
    text = artifacts[0].data
    assert "took alias `champion`" in text or "did not take alias" in text
    assert "| accuracy **(gate)** |" in text
    assert (
        "#/experiments/" in text and f"#/models/{config.model_name}/versions/" in text
    )


def test_batch_predict_scores_with_the_champion(demo, repo, tmp_path):
    from estimators_pipeline.flows.batch_predict import batch_predict

    _, config, _ = demo
    scored = batch_predict(
        config.model_name,
        str(repo / "data/iris_test.csv"),
        str(tmp_path / "scored.parquet"),
    )
    assert scored.rows == 30 and scored.model_uri == f"models:/{config.model_name}/1"
    table = pq.read_table(scored.output_uri)
    assert {"Species", "class_ids", "probabilities"} <= set(table.column_names)
