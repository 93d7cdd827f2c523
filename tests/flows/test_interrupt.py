"""Ctrl-C in training, then `run --resume`: the same MLflow run and model_dir.

Runs the command line in a subprocess (its own ephemeral Prefect API, ~20 s per
start), sends SIGINT once training has begun, and continues the run.
"""

import glob
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from estimators import checkpoints
from estimators_pipeline.tasks.config import PipelineConfig

pytestmark = pytest.mark.slow


def _start(repo, *args):
    env = dict(os.environ, PYTHONPATH=str(repo), JAX_PLATFORMS="cpu")
    env.pop("PREFECT_LOGGING_LEVEL", None)  # the command line's own: stage lines
    return subprocess.Popen(
        [sys.executable, "-m", "estimators_pipeline.flows.cli", "run", *args],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(pattern, process, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = glob.glob(pattern)
        if found:
            return found[0]
        if process.poll() is not None:
            raise AssertionError(f"exited early:\n{process.communicate()}")
        time.sleep(0.5)
    process.kill()
    raise AssertionError(f"timed out:\n{process.communicate()}")


def test_ctrl_c_checkpoints_kills_the_run_and_resume_continues_it(repo, write_config):
    path = write_config("iris", **{"train.steps": 10_000_000})
    config = PipelineConfig.from_yaml(path)
    process = _start(repo, "--config", str(path))
    folder = os.path.join(config.work_dir, config.model_name)
    _wait_for(os.path.join(folder, "*", "model", "metrics.jsonl"), process)
    time.sleep(3)  # some steps
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 130, out + err
    [run_id] = set(re.findall(r"estimators-pipeline run --resume (\w+)", err))
    assert err.count("continue with:") == 1, err  # said once
    assert "Traceback" not in out + err
    # In a pipe: one line per stage result, and training's plain progress lines.
    assert re.search(r"ingest +\| ", err)
    assert re.search(r"start-run +\| start-run: MLflow run " + run_id, err)
    assert re.search(r"train +\| train: step \d+/10000000 \(0%\), loss ", err)

    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    model_dir = os.path.join(folder, run_id, "model")
    stopped = checkpoints.checkpoint_step(checkpoints.latest_checkpoint(model_dir))
    assert 0 < stopped < 10_000_000

    resumed = _start(repo, "--resume", run_id, "--set", f"train.steps={stopped + 30}")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out + err
    assert f"Continuing the training pipeline for '{config.model_name}'" in out
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["registered_model.version"] == "1"
    last = checkpoints.latest_checkpoint(model_dir)
    assert checkpoints.checkpoint_step(last) == stopped + 30
    experiment = client.get_experiment_by_name(config.experiment)
    assert len(client.search_runs([experiment.experiment_id])) == 1  # the same run
