"""The command line before any flow runs: config errors, resend, packaging."""

import io
import json
import os
import tomllib
from contextlib import redirect_stderr, redirect_stdout

import pytest
from mlflow.tracking import MlflowClient

from estimators_pipeline.flows import cli
from estimators_pipeline.tasks.config import PipelineConfig
from estimators_pipeline.tasks.runs import experiment_id, run_dir


def _cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (["--set", "estimator.type=DNNClasifier"], "did you mean 'DNNClassifier'?"),
        (["--set", "gate.metric=auc"], "gate.metric: DNNClassifier has no evaluation"),
        (["--set", "train.steps=0"], "train.steps: Input should be greater than 0"),
        (["--set", "train.stepz=5"], "train.stepz: Extra inputs are not permitted"),
        (["--set", "nonsense"], "--set takes name=value"),
    ],
)
def test_a_config_mistake_exits_2_with_one_line_and_creates_no_run(
    write_config, change, expected
):
    path = write_config("iris")
    name = PipelineConfig.from_yaml(path).model_name
    code, out, err = _cli("run", "--config", str(path), *change)
    assert code == cli.EXIT_USAGE
    assert expected in err and err.count("\n") == 1, err
    assert out == ""
    assert MlflowClient().get_experiment_by_name(name) is None  # nothing created


def test_a_yaml_syntax_error_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model_name: m\ndata: {uri: d.csv, label: y\n")
    code, _, err = _cli("run", "--config", str(path))
    assert code == cli.EXIT_USAGE
    assert "bad.yaml: YAML syntax error: line 3, column 1:" in err
    assert err.count("\n") == 1


def test_resend_sends_spooled_points(write_config):
    path = write_config("iris")
    config = PipelineConfig.from_yaml(path)
    client = MlflowClient()
    run_id = client.create_run(experiment_id(client, config)).info.run_id
    folder = run_dir(config.work_dir, config.model_name, run_id)
    os.makedirs(folder)
    with open(os.path.join(folder, "train.unsent.jsonl"), "w") as f:
        for step in (1, 2):
            point = {"key": "train/loss", "value": 1.0, "timestamp": 0, "step": step}
            f.write(json.dumps(point) + "\n")
    code, out, _ = _cli("resend", "--config", str(path))
    assert code == cli.EXIT_OK
    assert f"MLflow run {run_id}: resent 2 points" in out
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [1, 2]
    assert _cli("resend", "--config", str(path))[1].startswith("Nothing to resend")


def test_the_pipeline_installs_under_its_own_name(repo):
    """No top-level `flows` or `tasks`; every package folder is in the wheel."""
    setuptools = tomllib.loads((repo / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]
    packages = set(setuptools["packages"])
    assert not packages & {"flows", "tasks"}
    assert setuptools["package-dir"] == {
        "estimators_pipeline.flows": "flows",
        "estimators_pipeline.tasks": "tasks",
    }
    folders = {
        os.path.relpath(root, repo).replace(os.sep, ".")
        for root, _, files in os.walk(repo / "estimators")
        if "__init__.py" in files
    }
    assert folders <= packages, sorted(folders - packages)
    scripts = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["estimators-pipeline"] == "estimators_pipeline.flows.cli:main"


def test_predict_refuses_an_output_it_would_not_write_as_named(tmp_path):
    code, _, err = _cli(
        "predict", "--model", "m", "--input", "x.csv", "--output", "out.csv"
    )
    assert code == cli.EXIT_USAGE
    assert "--output writes Parquet; name the file *.parquet, got 'out.csv'" in err


def test_stage_lines_are_printed_once_per_record_however_often_shown(tmp_path):
    import logging

    from estimators_pipeline.flows import display

    for _ in range(3):  # three runs in one process
        display.show_stages(str(tmp_path / "pipeline.log"))
    logger = logging.getLogger("prefect.task_runs")
    ours = [
        h
        for h in logger.handlers
        if isinstance(h, display._StageLine) or h.get_name() == display._FILE_HANDLER
    ]
    assert len(ours) == 2

    def record(level, message):
        made = logging.LogRecord("prefect.task_runs", level, "", 0, message, (), None)
        made.task_run_name = "ingest-abc"
        return made

    err = io.StringIO()
    with redirect_stderr(err):
        for handler in ours:
            handler.handle(record(logging.INFO, "ingest: 120 rows"))
            handler.handle(record(logging.ERROR, "boom\nTraceback ..."))
    assert err.getvalue() == "  ingest            | ingest: 120 rows\n"
    for handler in ours:
        handler.flush()
    text = (tmp_path / "pipeline.log").read_text()
    assert text.count("ingest: 120 rows") == 1 and "Traceback" in text


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ("model_name=../escape", "model_name"),
        ("tracking.experiment=../../x", "tracking.experiment"),
        ("gate.alias=v1", "gate.alias"),
    ],
)
def test_a_name_that_would_escape_exits_2_and_creates_nothing(
    write_config, tmp_path, change, key
):
    path = write_config("iris")
    work_dir = PipelineConfig.from_yaml(path).work_dir
    parent = os.path.dirname(work_dir)
    before = sorted(os.listdir(parent))
    code, out, err = _cli("run", "--config", str(path), "--set", change)
    assert code == cli.EXIT_USAGE
    assert err.startswith(f"estimators-pipeline: {key}: ") and err.count("\n") == 1
    assert out == ""
    assert sorted(os.listdir(parent)) == before  # no work_dir, no ../escape
    assert not os.path.exists(os.path.join(parent, "escape"))


def test_resume_takes_only_a_run_id(tmp_path):
    code, _, err = _cli("run", "--resume", "../../etc")
    assert code == cli.EXIT_USAGE
    assert "--resume: '../../etc' is not an MLflow run id" in err


def test_the_report_degrades_when_prefect_and_mlflow_cannot_be_read(
    write_config, tmp_path, monkeypatch
):
    from estimators_pipeline.flows import report

    def down(*args):
        raise ConnectionError("connection refused\nand 300 more lines")

    monkeypatch.setattr(report, "stage_rows", down)
    monkeypatch.setattr(report, "summarize", down)
    config = PipelineConfig.from_yaml(write_config("iris"))
    log = tmp_path / "pipeline.log"
    stages, summary = report.read_back(config, "flow-run", str(log))
    assert stages == [("(Prefect unreachable)", "connection refused", 0.0)]
    assert summary.reason.endswith("is unreachable (connection refused)")
    text = report.format_report(config, stages, summary)
    assert text.splitlines()[-1].endswith("the run's results are not shown.")
    assert log.read_text().count("Traceback") == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "../m"], "--model: '../m' is not a valid name"),
        (["--model", "m", "--alias", "a/b"], "--alias: 'a/b' is not a valid name"),
    ],
)
def test_predict_checks_the_names_it_turns_into_a_model_uri(args, expected):
    code, _, err = _cli("predict", *args, "--input", "x.csv", "--output", "out.parquet")
    assert code == cli.EXIT_USAGE
    assert err.startswith(f"estimators-pipeline: {expected}") and err.count("\n") == 1


def test_resume_tells_an_unknown_run_from_an_unreachable_server(monkeypatch):
    run_id = "0123456789abcdef0123456789abcdef"
    code, _, err = _cli("run", "--resume", run_id)
    assert code == cli.EXIT_USAGE
    assert f"--resume {run_id}: no pipeline run with that id" in err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    code, _, err = _cli("run", "--resume", run_id)
    assert code == cli.EXIT_USAGE and err.count("\n") == 1
    assert "MLflow at http://127.0.0.1:1 is unreachable (" in err
    assert "try again when it answers" in err
