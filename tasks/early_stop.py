"""Early stopping on the evaluations run during training, with restore-best.

Reads the evaluation results the Estimator records in `model_dir/metrics.jsonl`
(`estimators.early_stopping.read_eval_metrics`), as tf's early-stopping hooks
do, and adds what they lack: Keras' `patience` counted in evaluations,
`min_delta`, and a copy of the best checkpoint (so `keep_checkpoint_max` cannot
delete it) for restore-best.
"""

from __future__ import annotations

import logging
import os
import shutil

import estimators as est
from estimators import atomic, checkpoints
from estimators.early_stopping import read_eval_metrics

__all__ = ["EarlyStopping"]

logger = logging.getLogger(__name__)


class EarlyStopping(est.Hook):
    """Stops when `metric` has not improved by more than `min_delta` for
    `patience` evaluations in a row; keeps the best checkpoint in `best_dir`.

    Args:
        model_dir: The Estimator's model_dir (where evaluations are recorded).
        metric: An evaluation metric key, e.g. "auc" or "loss".
        higher_is_better: The metric's direction.
        patience: Evaluations without improvement before stopping.
        min_delta: The smallest change that counts as an improvement.
        best_dir: Where the best checkpoint is copied.

    Attributes:
        best_step, best_value: The best evaluation so far (None before any).
        stopped_at: The global_step at which a stop was requested, or None.
    """

    def __init__(
        self,
        model_dir: str,
        metric: str,
        *,
        higher_is_better: bool,
        patience: int,
        min_delta: float = 0.0,
        best_dir: str,
    ) -> None:
        self.model_dir = model_dir
        self.metric = metric
        self.sign = 1.0 if higher_is_better else -1.0
        self.patience = patience
        self.min_delta = min_delta
        self.best_dir = best_dir
        self.best_step: int | None = None
        self.best_value: float | None = None
        self.stopped_at: int | None = None
        self._seen: set[int] = set()
        self._waited = 0

    def steps_until_needed(self, global_step: int) -> int | None:
        return None  # evaluations follow checkpoints, which end a fused run

    def after_step(self, context: est.StepContext) -> None:
        if self.update() >= self.patience:
            self.stopped_at = context.global_step
            logger.info(
                "Early stopping at global_step %d: %s has not improved by more than "
                "%g for %d evaluations (best %.6g at step %d).",
                context.global_step, self.metric, self.min_delta, self._waited,
                self.best_value, self.best_step,
            )  # fmt: skip
            context.request_stop()

    def update(self) -> int:
        """Reads new evaluations; returns how many in a row did not improve."""
        for step, metrics in read_eval_metrics(self.model_dir).items():
            if step in self._seen:
                continue
            self._seen.add(step)
            if self.metric not in metrics:
                raise KeyError(
                    f"eval.early_stopping.metric {self.metric!r} is not an evaluation "
                    f"metric of this model; it has {sorted(metrics)}."
                )
            value = metrics[self.metric]
            if self.best_value is None or (
                self.sign * (value - self.best_value) > self.min_delta
            ):
                self.best_step, self.best_value, self._waited = step, value, 0
                self._keep(step)
            else:
                self._waited += 1
        return self._waited

    def best_checkpoint(self) -> str | None:
        """The kept copy of the best evaluated checkpoint, if any."""
        if self.best_step is None:
            return None
        path = os.path.join(self.best_dir, f"ckpt-{self.best_step}")
        return path if os.path.isdir(path) else None

    def _keep(self, step: int) -> None:
        found = [
            p
            for p in checkpoints.all_checkpoints(self.model_dir)
            if checkpoints.checkpoint_step(p) == step
        ]
        if not found:
            return
        shutil.rmtree(self.best_dir, ignore_errors=True)
        atomic.write_with(
            os.path.join(self.best_dir, f"ckpt-{step}"),
            lambda tmp: shutil.copytree(found[0], tmp),
        )
