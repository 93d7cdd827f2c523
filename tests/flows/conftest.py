"""Flow tests: one session-scoped Prefect test harness, private MLflow and cache.

Only tests that request `prefect_harness` start the harness (~20 s, once); the
config tests beside them do not.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from estimators_pipeline.flows.environment import isolate

# One root for tests/tasks and tests/flows when both run in a session.
ROOT = Path(
    os.environ.setdefault(
        "ESTIMATORS_PIPELINE_TEST_ROOT", tempfile.mkdtemp(prefix="pipeline-tests-")
    )
)
isolate(ROOT)
# The command line turns on JAX's persistent compilation cache in the project
# folder; an empty setting keeps it off in tests (and out of the repository).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", "")

import pytest  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def write_config(tmp_path_factory):
    """Writes a copy of a shipped pipeline YAML with absolute data paths,
    a private work_dir and model name, and `changes` (dotted names) applied."""

    def write(name: str, **changes: object) -> Path:
        data = yaml.safe_load((REPO / "pipelines" / f"{name}.yaml").read_text())
        for key in ("uri", "eval_uri"):
            if data["data"].get(key):
                data["data"][key] = str(REPO / data["data"][key])
        folder = tmp_path_factory.mktemp(name)
        data["work_dir"] = str(folder / "runs")
        data["model_name"] = f"{name}-{uuid.uuid4().hex[:8]}"
        for dotted, value in changes.items():
            *parents, leaf = dotted.split(".")
            node = data
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write
