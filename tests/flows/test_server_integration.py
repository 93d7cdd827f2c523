"""Beyond one machine: real servers, a deployment from prefect.yaml, a process worker.

Starts `prefect server start` and `mlflow server` on 127.0.0.1 (SQLite
backends, in a temporary folder), creates the `estimators` process work pool,
runs `prefect deploy --all`, starts a worker, runs the `ci` deployment with
`prefect deployment run ... --watch`, and checks the MLflow run, its metric
history and the registered version through `MlflowClient`. Every process is
started in its own session and stopped by signalling its process group; every
wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
START_TIMEOUT = 120  # cold starts took 11-25 s on a busy 2-core machine
RUN_TIMEOUT = 360


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A background process in its own session (process group)."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], cwd: Path, logs: Path
    ) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                args,
                env=env,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_http(self, url: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} not ready at {url}:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):  # what is left of the group
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _environment(root: Path, prefect_api: str, mlflow_uri: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("PREFECT_", "MLFLOW_", "JAX_COMPILATION", "JAX_PERSISTENT")
        )
    }
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PREFECT_HOME": str(root / "prefect-home"),
            "PREFECT_API_URL": prefect_api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "true",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "JAX_PLATFORMS": "cpu",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _prefect(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, (
        f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def _deployments(prefect_api: str) -> dict[str, dict]:
    request = urllib.request.Request(
        f"{prefect_api}/deployments/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return {d["name"]: d for d in json.load(response)}


def _run_deployment(
    name: str, parameters: dict, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess:
    """`prefect deployment run training-pipeline/NAME --watch` with parameters."""
    args = [f"{key}={json.dumps(value)}" for key, value in parameters.items()]
    return subprocess.run(
        [
            str(BIN / "prefect"),
            "--no-prompt",
            "deployment",
            "run",
            f"training-pipeline/{name}",
            *[a for arg in args for a in ("-p", arg)],
            "--watch",
            "--watch-timeout",
            str(RUN_TIMEOUT),
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT + 60,
    )


@pytest.fixture(scope="module")
def servers(tmp_path_factory, repo):
    root = tmp_path_factory.mktemp("servers")
    prefect_port, mlflow_port = _free_port(), _free_port()
    prefect_api = f"http://127.0.0.1:{prefect_port}/api"
    mlflow_uri = f"http://127.0.0.1:{mlflow_port}"
    env = _environment(root, prefect_api, mlflow_uri)
    server_env = env | {"PREFECT_UI_ENABLED": "false"}
    services = [
        Service(
            "mlflow-server",
            [
                str(BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination",
                str(root / "mlartifacts"),
            ],
            env,
            root,
            root,
        ),
        Service(
            "prefect-server",
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(prefect_port),
            ],
            server_env,
            root,
            root,
        ),
    ]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        services[0].wait_http(f"{mlflow_uri}/health", deadline)
        services[1].wait_http(f"{prefect_api}/health", deadline)
        yield {
            "root": root,
            "env": env,
            "prefect_api": prefect_api,
            "mlflow_uri": mlflow_uri,
            "services": services,
        }
    finally:
        for service in reversed(services):  # workers first, then the servers
            service.stop(signal.SIGINT if service.name == "worker" else signal.SIGTERM)


@pytest.fixture(scope="module")
def deployed_run(servers, repo, write_config):
    env, root = servers["env"], servers["root"]
    _prefect(["work-pool", "create", "estimators", "--type", "process"], env, root, 120)
    worker = Service(
        "worker",
        [
            str(BIN / "prefect"),
            "worker",
            "start",
            "--pool",
            "estimators",
            "--limit",
            "1",
        ],
        env,
        repo,
        root,
    )
    servers["services"].append(worker)
    _prefect(["deploy", "--all"], env | {"PWD": str(repo)}, repo, 180)
    config = write_config(
        "iris", **{"train.steps": 100, "train.save_summary_steps": 10}
    )
    watch = _run_deployment("ci", {"config": str(config)}, env, root)
    return watch, config, worker


def test_both_deployments_come_from_prefect_yaml(servers, deployed_run):
    deployments = _deployments(servers["prefect_api"])
    assert {"nightly", "ci"} <= set(deployments)
    [schedule] = deployments["nightly"]["schedules"]
    assert schedule["schedule"]["cron"] == "0 2 * * *"
    assert deployments["ci"]["work_pool_name"] == "estimators"
    nightly = deployments["nightly"]["parameters"]
    assert nightly["overrides"] == {"gate.fail_on_reject": False}


def test_the_ci_deployment_runs_on_a_worker_into_mlflow(servers, deployed_run):
    watch, config_path, worker = deployed_run
    assert watch.returncode == 0, (
        f"{watch.stdout}\n{watch.stderr}\n--- worker ---\n{worker.log_tail(60)}"
    )
    assert "Completed" in watch.stdout
    import yaml

    model_name = yaml.safe_load(config_path.read_text())["model_name"]
    client = MlflowClient(
        tracking_uri=servers["mlflow_uri"], registry_uri=servers["mlflow_uri"]
    )
    experiment = client.get_experiment_by_name(model_name)
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["prefect.deployment"] == "ci"
    assert run.data.tags["prefect.flow_run_id"] not in ("", "none")
    assert [
        m.step for m in client.get_metric_history(run.info.run_id, "train/loss")
    ] == list(range(10, 101, 10))
    assert [
        m.step for m in client.get_metric_history(run.info.run_id, "eval/accuracy")
    ] == [100]
    assert client.list_artifacts(run.info.run_id, "checkpoints")
    version = client.get_model_version_by_alias(model_name, "champion")
    assert str(version.version) == "1" and version.run_id == run.info.run_id


def test_ci_exits_non_zero_when_the_gate_rejects(servers, deployed_run):
    _, config_path, worker = deployed_run
    weak = {"config": str(config_path), "overrides": {"train.steps": 1}}
    watch = _run_deployment("ci", weak, servers["env"], servers["root"])
    assert watch.returncode == 1, f"{watch.stdout}\n{watch.stderr}"
    assert "Failed" in watch.stdout + watch.stderr
    import yaml

    model_name = yaml.safe_load(config_path.read_text())["model_name"]
    client = MlflowClient(tracking_uri=servers["mlflow_uri"])
    assert str(client.get_model_version_by_alias(model_name, "champion").version) == "1"
    assert client.get_model_version(model_name, "2").tags["gate.decision"] == "rejected"


def test_run_overrides_merge_with_the_deployments_own(servers, deployed_run):
    """`nightly` sets gate.fail_on_reject: false; a run's overrides keep it."""
    _, config_path, _ = deployed_run
    weak = {"config": str(config_path), "overrides": {"train.steps": 1}}
    watch = _run_deployment("nightly", weak, servers["env"], servers["root"])
    assert watch.returncode == 0, f"{watch.stdout}\n{watch.stderr}"  # not failed
    import yaml

    model_name = yaml.safe_load(config_path.read_text())["model_name"]
    client = MlflowClient(tracking_uri=servers["mlflow_uri"])
    assert str(client.get_model_version_by_alias(model_name, "champion").version) == "1"
    versions = client.search_model_versions(f"name = '{model_name}'")
    latest = max(versions, key=lambda v: int(v.version))
    assert latest.tags["gate.decision"] == "rejected"
