"""Caching and retry policies shared by the pipeline's tasks."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable
from typing import Any

import estimators

__all__ = ["content_key", "output_cache_key", "retry_on_io", "source_digest"]

_TRANSIENT_MLFLOW_CODES = {
    "INTERNAL_ERROR",
    "TEMPORARILY_UNAVAILABLE",
    "REQUEST_LIMIT_EXCEEDED",
}


def source_digest(fn: Callable[..., Any]) -> str:
    """sha256 of the whole module that defines `fn` and the library version.

    A task's cache is invalidated when any code in its module changes, not only
    the decorated function's body (which is all Prefect's TASK_SOURCE sees).
    """
    path = inspect.getsourcefile(inspect.unwrap(fn))
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read())
    digest.update(estimators.__version__.encode())
    return digest.hexdigest()


def content_key(*parts: Any) -> str:
    """A stable hash of JSON-able parts (pydantic models are dumped first)."""

    def default(value: Any) -> Any:
        if hasattr(value, "model_dump"):
            return value.model_dump(mode="json")
        if hasattr(value, "__dataclass_fields__"):
            return {k: getattr(value, k) for k in value.__dataclass_fields__}
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise TypeError(f"cannot hash {type(value).__name__} for a cache key")

    text = json.dumps(parts, default=default, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def output_cache_key(context: Any, key: str, outputs_exist: bool) -> str | None:
    """`key` for a task whose cached result points at files it wrote.

    When a result is cached under `key` but its files were deleted (say, with
    `rm -rf runs/`), returns None: the task runs again and rewrites the same
    content-addressed files, which the cached result then points at again.
    """
    if outputs_exist:
        return key
    store = getattr(context, "result_store", None)
    if store is not None and store.exists(key):
        return None
    return key


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry I/O failures, never bad input or bugs."""
    try:
        state.result()
    except OSError:  # includes requests' and urllib3's connection errors
        return True
    except Exception as error:  # noqa: BLE001 - classifying, not handling
        code = getattr(error, "error_code", None)
        return (
            type(error).__name__ == "MlflowException"
            and code in _TRANSIENT_MLFLOW_CODES
        )
    return False
