"""The MLflow side of an export: an `MLmodel` naming the installed loader module.

Written by hand (no mlflow import). The pyfunc flavor's `loader_module` is
`estimators.export.pyfunc_model` from the installed package and its data is the
export directory itself, so `mlflow.pyfunc.load_model(path)` and
`mlflow models serve -m path` load it with `estimators.export.load`, which
verifies every file first; the export holds no code.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import uuid
from typing import Any

from estimators.export import _files, pyfunc_model

__all__ = ["LOADER_MODULE", "log_model_kwargs", "write_pyfunc_files"]

LOADER_MODULE = pyfunc_model.__name__  # "estimators.export.pyfunc_model"
# What the pyfunc needs at serving time, pinned to the versions that exported.
_REQUIREMENTS = (
    "estimators",
    "jax",
    "jaxlib",
    "numpy",
    "pyarrow",
    "pandas",
    "safetensors",
    "flatbuffers",
    "protobuf",
    "mlflow",
)


def _installed(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def requirements() -> list[str]:
    """pip requirements of the pyfunc (`name==version` where installed)."""
    lines = []
    for package in _REQUIREMENTS:
        version = _installed(package)
        lines.append(f"{package}=={version}" if version else package)
    return lines


def _quote(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def write_pyfunc_files(directory: str, versions: dict[str, str]) -> list[str]:
    """Writes MLmodel, requirements.txt and the env files."""
    python = versions.get("python", "3")
    mlflow_version = _installed("mlflow")
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    lines = [
        "flavors:",
        "  python_function:",
        "    code: null",
        "    env:",
        "      conda: conda.yaml",
        "      virtualenv: python_env.yaml",
        f"    loader_module: {LOADER_MODULE}",
        # Declared so that load_model(path, model_config={"output": "class_ids"})
        # (what mlflow.models.evaluate needs) is applied, not ignored.
        "    config:",
        "      output: all",
        f"    python_version: {_quote(python)}",
        "    streamable: false",
    ]
    if mlflow_version:
        lines.append(f"mlflow_version: {_quote(mlflow_version)}")
    lines += [
        f"model_uuid: {uuid.uuid4().hex}",
        f"utc_time_created: {_quote(created)}",
    ]
    _files.write_file(directory, _files.MLMODEL, "\n".join(lines) + "\n")
    pins = requirements()
    _files.write_file(directory, "requirements.txt", "\n".join(pins) + "\n")
    _files.write_file(
        directory,
        "python_env.yaml",
        f"python: {_quote(python)}\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\n"
        "dependencies:\n- -r requirements.txt\n",
    )
    _files.write_file(
        directory,
        "conda.yaml",
        "name: estimators-export\nchannels:\n- conda-forge\ndependencies:\n"
        f"- python={python}\n- pip\n- pip:\n" + "".join(f"  - {p}\n" for p in pins),
    )
    return [
        _files.MLMODEL,
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
    ]


def log_model_kwargs(
    export_path: str | os.PathLike[str], *, input_example: Any = None
) -> dict[str, Any]:
    """Arguments for `mlflow.pyfunc.log_model(**kwargs)` that log an export.

    The export is the model's data (MLflow copies it under `data/`) and the
    installed `estimators.export.pyfunc_model` its loader module, so loading
    the logged model verifies the export and imports no code from it. (Logging
    the directory itself with `mlflow.log_artifacts(export_path, "model")` works
    too: it is an MLflow model already.)

    Args:
        export_path: The export directory.
        input_example: A DataFrame, or `(DataFrame, params)`: logged as the
            input example, and the model's signature (inputs, outputs, and the
            params with their defaults) is inferred from predicting it.

    Example:
        >>> sorted(log_model_kwargs("/tmp/exports/1700000000"))
        ['data_path', 'loader_module', 'model_config', 'pip_requirements']
    """
    path = os.path.abspath(os.fspath(export_path))
    kwargs: dict[str, Any] = {
        "loader_module": LOADER_MODULE,
        "data_path": path,
        "pip_requirements": requirements(),
        # A loader may pick one prediction column (as mlflow.models.evaluate
        # needs): load_model(uri, model_config={"output": "class_ids"}).
        "model_config": {"output": "all"},
    }
    if input_example is not None:
        kwargs["input_example"] = input_example
        kwargs["signature"] = pyfunc_model.infer_signature(path, input_example)
    return kwargs
