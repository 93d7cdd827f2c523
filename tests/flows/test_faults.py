"""The pipeline when MLflow or Prefect goes away: the verdict, the run's end.

In-process, a model_fn that points MLflow at a closed port and then fails
stands in for a tracking server lost during training, and "the server is back"
is the private SQLite store again. The slow tests run the command line in a
subprocess: against a Prefect API that does not answer, and against a real
`mlflow server` stopped during training and started again.
"""

import io
import os
import socket
from contextlib import redirect_stderr, redirect_stdout

import prefect.main  # noqa: F401 - see below
import pytest
from mlflow.tracking import MlflowClient

from estimators_pipeline.flows import cli
from estimators_pipeline.tasks import pending
from estimators_pipeline.tasks.config import PipelineConfig

# Prefect sets up its logging on first import and closes the handlers there
# were; absl's handler then closes its stream unless it is the current
# sys.stderr: imported inside `_cli`'s redirect, that would be pytest's capture.
BROKEN_MODEL = """
import os

def model_fn(features, labels, mode, params):
    os.environ["MLFLOW_TRACKING_URI"] = params["down_uri"]  # the server is lost
    raise RuntimeError("the model broke")
"""


def _cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def no_mlflow_retries(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    # Restored after the test whatever the model_fn set.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", os.environ["MLFLOW_TRACKING_URI"])
    return os.environ["MLFLOW_TRACKING_URI"]


def test_mlflow_lost_before_a_failure(
    prefect_harness, write_config, tmp_path, no_mlflow_retries
):
    store, down = no_mlflow_retries, _closed_port()
    (tmp_path / "broken_model.py").write_text(BROKEN_MODEL)
    estimator = {
        "model_fn": f"{tmp_path / 'broken_model.py'}:model_fn",
        "args": {"down_uri": down},
    }
    path = write_config("iris", estimator=estimator)
    config = PipelineConfig.from_yaml(path)

    code, out, err = _cli("run", "--config", str(path))

    # The report degrades to what Prefect knows; the verdict is one line.
    assert code == cli.EXIT_FAILED, out + err
    assert "train               Failed" in out
    assert f"MLflow at {down} is unreachable" in out
    assert "Traceback" not in out + err
    [verdict] = [line for line in err.splitlines() if "pipeline failed" in line]
    assert verdict.startswith("The pipeline failed at stage 'train': ")
    assert "the model broke" in verdict
    log = os.path.join(config.work_dir, "pipeline.log")
    with open(log, encoding="utf-8") as f:
        assert "reading the run from MLflow failed\nTraceback" in f.read()

    # The run's end waits in its folder, and is taken once MLflow is back.
    os.environ["MLFLOW_TRACKING_URI"] = store
    client = MlflowClient()
    experiment = client.get_experiment_by_name(config.experiment)
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "RUNNING"
    folder = os.path.join(config.work_dir, config.model_name, run.info.run_id)
    assert os.path.exists(os.path.join(folder, pending.PENDING_END))
    code, out, _ = _cli("resend", "--config", str(path))
    assert code == cli.EXIT_OK
    assert f"MLflow run {run.info.run_id}: ended FAILED" in out
    run = client.get_run(run.info.run_id)
    assert run.info.status == "FAILED"
    assert "the model broke" in run.data.tags["failure"]


@pytest.mark.slow
def test_prefect_down_is_one_line(repo, write_config):
    """A Prefect server that does not answer: one line, exit 1, nothing run."""
    import subprocess
    import sys

    path = write_config("iris")
    config = PipelineConfig.from_yaml(path)
    api = f"{_closed_port()}/api"
    env = dict(
        os.environ, PYTHONPATH=str(repo), JAX_PLATFORMS="cpu", PREFECT_API_URL=api
    )
    done = subprocess.run(
        [sys.executable, "-m", "estimators_pipeline.flows.cli", "run"]
        + ["--config", str(path)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == cli.EXIT_FAILED, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [line] = [x for x in done.stderr.splitlines() if x]
    assert line.startswith("The pipeline could not run: ")
    assert f"is the Prefect server at {api} up?" in line
    assert MlflowClient().get_experiment_by_name(config.experiment) is None
    with open(os.path.join(config.work_dir, "pipeline.log"), encoding="utf-8") as f:
        assert "running the flow failed\nTraceback" in f.read()


BLOCKED_MODEL = """
import os
import time


def model_fn(features, labels, mode, params):
    open(params["marker"] + ".training", "w").close()
    deadline = time.monotonic() + 300
    while not os.path.exists(params["marker"] + ".down"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    raise RuntimeError("the model broke while MLflow was down")
"""


class _MlflowServer:
    """`mlflow server` on 127.0.0.1 in its own process group, stopped by signal."""

    def __init__(self, root, port):
        import subprocess
        import sys

        mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        self.uri = f"http://127.0.0.1:{port}"
        self.log = root / f"mlflow-{port}.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [mlflow, "server", "--host", "127.0.0.1", "--port", str(port)]
                + ["--workers", "1", "--backend-store-uri"]
                + [f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination"]
                + [str(root / "mlartifacts")],
                env=env,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout=120):
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2):
                    return self
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(self.log.read_text()[-3000:])

    def stop(self):
        import contextlib
        import signal
        import subprocess

        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # what is left of the group
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.mark.slow
def test_a_run_failed_while_the_server_was_down_ends_when_it_returns(
    repo, write_config, tmp_path
):
    """A real tracking server stopped during training, then started again."""
    import subprocess
    import sys
    import time

    port = int(_closed_port().rsplit(":", 1)[1])
    server = _MlflowServer(tmp_path, port).wait_ready()
    marker = str(tmp_path / "model")
    (tmp_path / "blocked_model.py").write_text(BLOCKED_MODEL)
    estimator = {
        "model_fn": f"{tmp_path / 'blocked_model.py'}:model_fn",
        "args": {"marker": marker},
    }
    path = write_config("iris", estimator=estimator)
    config = PipelineConfig.from_yaml(path)
    env = dict(
        os.environ,
        PYTHONPATH=str(repo),
        JAX_PLATFORMS="cpu",
        MLFLOW_TRACKING_URI=server.uri,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="5",
    )
    env.pop("PREFECT_LOGGING_LEVEL", None)  # the command line's own
    command = [sys.executable, "-m", "estimators_pipeline.flows.cli"]
    pipeline = subprocess.Popen(
        [*command, "run", "--config", str(path)],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not os.path.exists(marker + ".training"):
            assert pipeline.poll() is None, pipeline.communicate()
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.5)
        server.stop()  # lost during training
        open(marker + ".down", "w").close()
        out, err = pipeline.communicate(timeout=300)
    finally:
        server.stop()
        if pipeline.poll() is None:
            pipeline.kill()
            pipeline.communicate()
    assert pipeline.returncode == cli.EXIT_FAILED, out + err
    assert "Traceback" not in out + err
    assert f"MLflow at {server.uri} is unreachable" in out
    [verdict] = [line for line in err.splitlines() if "pipeline failed" in line]
    assert "at stage 'train'" in verdict and "while MLflow was down" in verdict
    [kept] = [
        os.path.join(root, pending.PENDING_END)
        for root, _, files in os.walk(os.path.join(config.work_dir, config.model_name))
        if pending.PENDING_END in files
    ]

    server = _MlflowServer(tmp_path, port).wait_ready()  # back, same database
    try:
        client = MlflowClient(tracking_uri=server.uri)
        run_id = os.path.basename(os.path.dirname(kept))
        assert client.get_run(run_id).info.status == "RUNNING"
        resend = subprocess.run(
            [*command, "resend", "--config", str(path)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert resend.returncode == 0, resend.stdout + resend.stderr
        assert f"MLflow run {run_id}: ended FAILED" in resend.stdout
        run = client.get_run(run_id)
        assert run.info.status == "FAILED"
        assert "while MLflow was down" in run.data.tags["failure"]
        assert not os.path.exists(kept)
    finally:
        server.stop()
