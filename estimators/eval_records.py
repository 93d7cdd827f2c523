"""Reading the evaluation results recorded in `model_dir/metrics.jsonl`.

`Estimator.evaluate` records each scalar result as a line `{"step", "name",
"value", "wall_time"}` named `eval/<key>` (`eval_<name>/<key>` for a named
evaluation); early stopping and `BestExporter` read them back from here, also
while training appends to the file.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["METRICS_FILE", "read_eval_metrics", "read_eval_records"]

METRICS_FILE = "metrics.jsonl"


def read_eval_metrics(
    model_dir: str | os.PathLike[str], name: str | None = None
) -> dict[int, dict[str, float]]:
    """The evaluation results recorded in `model_dir`, by global step.

    Args:
        model_dir: The Estimator's model directory.
        name: The evaluation's name (`evaluate(..., name=...)`); default None, the
            unnamed evaluation.

    Returns:
        `{global_step: {metric key: value}}` in increasing step order; keys are
        those of `evaluate`'s result (`"loss"`, `"accuracy"`, ...). When a step was
        evaluated twice, the later values win. Empty when nothing was evaluated.

    Example:
        >>> import tempfile
        >>> read_eval_metrics(tempfile.mkdtemp())
        {}
    """
    records, _ = read_eval_records(model_dir, name)
    results: dict[int, dict[str, float]] = {}
    for step, key, value in records:
        results.setdefault(step, {})[key] = value
    return dict(sorted(results.items()))


def read_eval_records(
    model_dir: str | os.PathLike[str], name: str | None = None, offset: int = 0
) -> tuple[list[tuple[int, str, float]], int]:
    """The evaluation records written to `model_dir` after byte `offset`.

    For readers that follow the file as training writes it (`est.EarlyStopping`):
    pass back the returned offset to read only what came since.

    Args:
        model_dir: The Estimator's model directory.
        name: The evaluation's name; default None, the unnamed evaluation.
        offset: Where the last read ended; 0 reads from the start. When the file
            is shorter than `offset` (rewritten, e.g. by a resumed run), it is
            read from the start.

    Returns:
        `([(global_step, metric key, value), ...], offset)` in file order, and
        the offset after the last complete line.

    Example:
        >>> import tempfile
        >>> read_eval_records(tempfile.mkdtemp(), "val", offset=0)
        ([], 0)
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"`name` must be a non-empty str or None, got {name!r}.")
    prefix = f"eval_{name}/" if name else "eval/"
    try:
        with open(os.path.join(model_dir, METRICS_FILE), "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < offset:
                offset = 0
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], 0
    # A last line without its newline is still being written: read it next time.
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].decode("utf-8", errors="replace").splitlines():
        if prefix not in line:  # cheap filter before parsing
            continue
        record = _parse(line)
        if record is not None and record["name"].startswith(prefix):
            key = record["name"][len(prefix) :]
            records.append((record["step"], key, record["value"]))
    return records, offset + end


def _parse(line: str) -> dict[str, Any] | None:
    """One record, or None for a torn line (a writer may be appending right now)."""
    try:
        record = json.loads(line)
        return {
            "step": int(record["step"]),
            "name": str(record["name"]),
            "value": float(record["value"]),
        }
    except (ValueError, KeyError, TypeError):
        return None
