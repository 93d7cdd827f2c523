"""The MLflow side of an export: an `MLmodel` for a models-from-code pyfunc.

Written by hand (no mlflow import): `python_model.py` is a copy of
`estimators/export/pyfunc_model.py`; the pyfunc flavor's artifact "export" is the
export directory itself, so `mlflow.pyfunc.load_model(path)` and
`mlflow models serve -m path` load it with `estimators.export.load`.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import shutil
import uuid

from estimators.export import _files

__all__ = ["log_model_kwargs", "write_pyfunc_files"]

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyfunc_model.py")
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
    """Writes MLmodel, python_model.py, requirements.txt and the env files."""
    shutil.copyfile(_SOURCE, os.path.join(directory, _files.PYFUNC_CODE))
    python = versions.get("python", "3")
    mlflow_version = _installed("mlflow")
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    lines = [
        "flavors:",
        "  python_function:",
        "    artifacts:",
        "      export:",
        "        path: .",
        "        uri: .",
        "    code: null",
        "    env:",
        "      conda: conda.yaml",
        "      virtualenv: python_env.yaml",
        "    loader_module: mlflow.pyfunc.loaders.code_model",
        f"    model_code_path: {_files.PYFUNC_CODE}",
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
        _files.PYFUNC_CODE,
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
    ]


def log_model_kwargs(export_path: str) -> dict[str, object]:
    """Arguments for `mlflow.pyfunc.log_model(**kwargs)` that log an export.

    The export is attached as the artifact "export"; the code file is the
    export's own `python_model.py`. (Logging the directory itself with
    `mlflow.log_artifacts(export_path, "model")` works too: it is an MLflow
    model already.)

    Example:
        >>> sorted(log_model_kwargs("/tmp/exports/1700000000"))
        ['artifacts', 'pip_requirements', 'python_model']
    """
    path = os.path.abspath(os.fspath(export_path))
    return {
        "python_model": os.path.join(path, _files.PYFUNC_CODE),
        "artifacts": {"export": path},
        "pip_requirements": requirements(),
    }
