"""Embedded defaults: Prefect and MLflow on local files, no servers, no telemetry.

Set before Prefect is imported (it reads its settings at import). Variables
already set win, so the same commands run against a Prefect server
(PREFECT_API_URL) and an MLflow tracking server (MLFLOW_TRACKING_URI).
"""

from __future__ import annotations

import os

__all__ = ["embedded_defaults", "isolate"]


def _local(root: str) -> dict[str, str]:
    return {
        "PREFECT_HOME": os.path.join(root, ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "true",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "MLFLOW_TRACKING_URI": f"sqlite:///{os.path.join(root, 'mlflow.db')}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
    }


def embedded_defaults(root: str | os.PathLike[str] = ".") -> dict[str, str]:
    """Sets the embedded defaults under the project folder `root`; returns them.

    - Prefect: ephemeral API, home (SQLite database, task cache) in `.prefect/`.
    - MLflow: tracking in `mlflow.db` (SQLite), artifacts beside it in
      `mlartifacts/` (see `tasks.runs.experiment_id`).
    - JAX: CPU unless told otherwise, compilations cached in `.jax-cache/`.
    - Telemetry off everywhere.

    Example:
        >>> saved = dict(os.environ)
        >>> env = embedded_defaults("/tmp/project")
        >>> env["MLFLOW_TRACKING_URI"] == os.environ["MLFLOW_TRACKING_URI"]
        True
        >>> os.environ.clear(); os.environ.update(saved)
    """
    root = os.path.abspath(root)
    defaults = _local(root) | {
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": os.path.join(root, ".jax-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in defaults}


def isolate(root: str | os.PathLike[str]) -> dict[str, str]:
    """Points Prefect and MLflow at files under `root`, whatever was set before.

    For tests: call it before Prefect is imported. Unlike `embedded_defaults`
    it overrides the environment (a developer's PREFECT_API_URL or
    MLFLOW_TRACKING_URI must not receive test runs) and leaves JAX alone.

    Example:
        >>> import tempfile
        >>> saved = dict(os.environ)
        >>> isolate(tempfile.mkdtemp())["MLFLOW_TRACKING_URI"].startswith("sqlite:///")
        True
        >>> os.environ.clear(); os.environ.update(saved)
    """
    os.environ.pop("PREFECT_API_URL", None)
    values = _local(os.path.abspath(root))
    os.environ.update(values)
    return values
