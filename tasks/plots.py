"""Image artifacts: the training curve and the confusion matrix (matplotlib, Agg)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: render to files only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["confusion_matrix", "plot_confusion_matrix", "plot_training_curve"]


def _read_scalars(metrics_jsonl: str) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with open(metrics_jsonl, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            series[record["name"]].append((record["step"], record["value"]))
    return series


def plot_training_curve(metrics_jsonl: str, path: str) -> str | None:
    """Plots the training loss (and other training scalars) against global_step.

    Reads the `metrics.jsonl` an Estimator writes in its model_dir; evaluation
    points (`eval/...`) are drawn as markers on the same axes as their
    training counterpart. Returns `path`, or None when there is nothing to plot.
    """
    if not os.path.exists(metrics_jsonl):
        return None
    series = _read_scalars(metrics_jsonl)
    names = sorted(n for n in series if "/" not in n)
    if not names:
        return None
    fig, axes = plt.subplots(
        len(names), 1, figsize=(7, 2.6 * len(names)), sharex=True, squeeze=False
    )
    for ax, name in zip(axes[:, 0], names, strict=True):
        steps, values = zip(*sorted(series[name]), strict=True)
        ax.plot(steps, values, label=f"train {name}")
        if f"eval/{name}" in series:
            eval_steps, eval_values = zip(*series[f"eval/{name}"], strict=True)
            ax.plot(eval_steps, eval_values, "o", label=f"eval {name}")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("global_step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def confusion_matrix(
    labels: np.ndarray, predictions: np.ndarray, n_classes: int
) -> np.ndarray:
    """Counts `[true class, predicted class]`.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    return matrix


def plot_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], path: str
) -> str:
    """Draws `matrix` with counts in the cells; returns `path`."""
    size = max(4.0, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
        )
    ax.set_title(
        f"confusion matrix (accuracy {np.trace(matrix) / max(matrix.sum(), 1):.3f})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
