"""Task tests: stages called with `.fn()`, against a private SQLite MLflow store.

Prefect is imported (the tasks are decorated) but no flow or task engine runs.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from estimators_pipeline.flows.environment import isolate

# One root for tests/tasks and tests/flows when both run in a session.
isolate(
    os.environ.setdefault(
        "ESTIMATORS_PIPELINE_TEST_ROOT", tempfile.mkdtemp(prefix="pipeline-tests-")
    )
)

import pytest  # noqa: E402

from estimators_pipeline.tasks.config import PipelineConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
IRIS_FEATURES = [
    {"numeric_column": {"key": k}}
    for k in ("SepalLength", "SepalWidth", "PetalLength", "PetalWidth")
]


def iris_config(work_dir: Path, **overrides: object) -> PipelineConfig:
    """A small Iris pipeline under `work_dir`, with a model name of its own."""
    config = PipelineConfig.model_validate(
        {
            "model_name": f"iris-{uuid.uuid4().hex[:8]}",
            "data": {
                "uri": str(REPO / "data/iris_training.csv"),
                "eval_uri": str(REPO / "data/iris_test.csv"),
                "label": "Species",
            },
            "features": IRIS_FEATURES,
            "estimator": {
                "type": "DNNClassifier",
                "args": {
                    "hidden_units": [10, 10],
                    "n_classes": 3,
                    "optimizer": {"Adagrad": {"learning_rate": 0.1}},
                },
            },
            "train": {"steps": 200, "batch_size": 32, "save_summary_steps": 20},
            "work_dir": str(work_dir),
        }
    )
    return config.override(**overrides)


@pytest.fixture(scope="session")
def make_iris_config():
    return iris_config


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def iris(tmp_path: Path) -> PipelineConfig:
    return iris_config(tmp_path / "runs")


@pytest.fixture(scope="session")
def census_dir() -> Path:
    return REPO / "data" / "census"
