"""`EarlyStopping`: stop when an evaluation metric stops improving; restore the best.

What tf users asked for beyond tf's `stop_if_no_decrease_hook` family (kept in
`early_stopping.py`): Keras' `patience` counted in evaluations, `min_delta`, an
exponential moving average of the metric (`smoothing`) against noisy
evaluations, and restore-best: a copy of the best checkpoint is kept in
`model_dir/best/` (out of `keep_checkpoint_max`'s reach) and, when training
ends, installed as the model_dir's latest checkpoint.

Like tf's hooks it follows the evaluation results recorded in
`model_dir/metrics.jsonl`, so it works with `train_and_evaluate`, with an
`est.InMemoryEvaluatorHook` in the same `train` call (list it after the
evaluator), and with evaluations run by another process.
"""

from __future__ import annotations

import logging
import numbers
import os
import shutil
from typing import Any

from estimators import atomic, checkpoints, distribute
from estimators.checkpoints.index import update_index
from estimators.eval_records import read_eval_records
from estimators.hooks import Hook, StepContext
from estimators.in_memory import save_state
from estimators.validation import is_int

__all__ = ["BEST_DIR", "EarlyStopping"]

logger = logging.getLogger("estimators")

BEST_DIR = "best"
"""The folder of `model_dir` that holds the copy of the best checkpoint."""

_MODES = ("min", "max")


class EarlyStopping(Hook):
    """Stops training when an evaluation metric has stopped improving.

    Each evaluation's value `v` of `metric` is smoothed, `s = smoothing * s +
    (1 - smoothing) * v` (the first `s` is `v`), and improves on the best `s`
    so far when it is lower (`mode="min"`) or higher (`"max"`) by more than
    `min_delta`. Training stops at the evaluation that makes `patience`
    evaluations in a row without improvement (Keras' rule; `patience=0` stops
    at the first). The best evaluation is the one with the best smoothed value.

    Args:
        metric: A key of the evaluation results. Default "loss".
        mode: "min" or "max": which way is better. Default "min".
        patience: Evaluations in a row without improvement before stopping.
            Default 0.
        min_delta: The change of the smoothed value that counts as an
            improvement must exceed this. Default 0.0.
        smoothing: Weight of the past in the moving average, in [0, 1);
            0.0 (default) uses each evaluation's value as is.
        restore_best: Keep a copy of the best checkpoint in `model_dir/best/`
            (saved from memory when the evaluation was between checkpoints) and,
            when training ends, make it the model_dir's latest checkpoint; the
            checkpoints after it are deleted, so evaluate, predict, export and a
            later train() all start from the best. Default True.
        eval_name: The evaluation to follow (`EvalSpec.name`,
            `InMemoryEvaluatorHook(name=...)`); default None, the unnamed one.
        min_steps: Ignore evaluations before this global step. Default 0.

    Attributes:
        best_step, best_value: The best evaluation (smoothed value) so far, or
            None.
        wait: Evaluations since the best.
        stopped_at: The global_step at which it requested the stop, or None.
        restored: The checkpoint installed as the latest at the end, or None.

    Example:
        >>> stopper = EarlyStopping("accuracy", mode="max", patience=3, smoothing=0.5)
        >>> stopper.observe(100, 0.5), stopper.observe(200, 0.9)  # s: 0.5, 0.7
        (True, True)
        >>> stopper.observe(300, 0.6), stopper.best_step  # s: 0.65, not > 0.7
        (False, 200)
    """

    def __init__(
        self,
        metric: str = "loss",
        mode: str = "min",
        patience: int = 0,
        min_delta: float = 0.0,
        smoothing: float = 0.0,
        restore_best: bool = True,
        eval_name: str | None = None,
        *,
        min_steps: int = 0,
    ) -> None:
        _check(metric, mode, patience, min_delta, smoothing, eval_name, min_steps)
        if not isinstance(restore_best, bool):
            raise TypeError(
                f"EarlyStopping: `restore_best` must be a bool, got {restore_best!r}."
            )
        self.metric = metric
        self.mode = mode
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.smoothing = float(smoothing)
        self.restore_best = restore_best
        self.eval_name = eval_name
        self.min_steps = int(min_steps)
        self._reset()

    def _reset(self) -> None:
        self.best_step: int | None = None
        self.best_value: float | None = None
        self.wait = 0
        self.stopped_at: int | None = None
        self.restored: str | None = None
        self._smoothed: float | None = None
        self._last_step = -1
        self._offset = 0
        self._model_dir: str | None = None

    # -- the rule ----------------------------------------------------------------

    def observe(self, step: int, value: float) -> bool:
        """Takes one evaluation's value; returns whether it is the new best."""
        s = self._smoothed
        s = value if s is None else self.smoothing * s + (1 - self.smoothing) * value
        self._smoothed = s
        better = (
            self.best_value is None
            or (self.mode == "min" and s < self.best_value - self.min_delta)
            or (self.mode == "max" and s > self.best_value + self.min_delta)
        )
        if better:
            self.best_step, self.best_value, self.wait = step, s, 0
        else:
            self.wait += 1
        return better

    def should_stop(self) -> bool:
        """Whether the evaluations so far call for stopping."""
        return self.wait > 0 and self.wait >= self.patience

    # -- the hook ------------------------------------------------------------------

    def steps_until_needed(self, global_step: int) -> int | None:
        return None  # reacts to evaluations whenever the loop is on the host

    def begin(self, context: StepContext) -> None:
        """Replays the evaluations recorded so far (a resumed run keeps its
        history); keeps a copy of the best one's checkpoint."""
        self._reset()
        self._model_dir = context.model_dir
        self._read(context, live=False)
        if self.best_step is not None:
            self._keep_best(context, self.best_step)
        if self.should_stop():
            self._stop(context)

    def before_step(self, context: StepContext) -> None:
        self._read(context, live=True)

    def after_step(self, context: StepContext) -> None:
        self._read(context, live=True)

    def end(self, context: StepContext) -> None:
        self._read(context, live=True)
        if self._last_step < 0 and distribute.is_chief():
            where = f"eval_{self.eval_name}" if self.eval_name else "eval"
            logger.warning(
                "EarlyStopping saw no %r evaluation in %s: is `eval_name` the "
                "EvalSpec's (or the InMemoryEvaluatorHook's) name?",
                where,
                self._model_dir,
            )
        if self.restore_best and distribute.is_chief():
            self._restore()

    def _read(self, context: StepContext, *, live: bool) -> None:
        if self._model_dir is None:
            return
        records, self._offset = read_eval_records(
            self._model_dir, self.eval_name, self._offset
        )
        steps: dict[int, dict[str, float]] = {}
        for step, key, value in records:
            steps.setdefault(step, {})[key] = value
        for step, metrics in steps.items():
            if step <= self._last_step or step < self.min_steps:
                continue  # seen, or evaluated again
            if self.metric not in metrics:
                if "loss" not in metrics:
                    continue  # the rest of the evaluation is still being written
                where = f"eval_{self.eval_name}" if self.eval_name else "eval"
                raise KeyError(
                    f"EarlyStopping: metric {self.metric!r} is not in the {where!r} "
                    f"results at global step {step}; it has {sorted(metrics)}."
                )
            self._last_step = step
            if self.observe(step, metrics[self.metric]) and live:
                self._keep_best(context, step)
            if live and self.should_stop():
                self._stop(context)

    def _stop(self, context: StepContext) -> None:
        if self.stopped_at is None:
            logger.info(
                "Early stopping at global step %d: %s has not improved by more "
                "than %g for %d evaluations (best %.6g at step %s).",
                context.global_step, self.metric, self.min_delta, self.wait,
                self.best_value, self.best_step,
            )  # fmt: skip
            self.stopped_at = context.global_step
        context.request_stop()

    # -- the best checkpoint -------------------------------------------------------

    def best_checkpoint(self) -> str | None:
        """The kept copy of the best evaluation's checkpoint, if there is one."""
        if self._model_dir is None or self.best_step is None:
            return None
        path = os.path.join(self._model_dir, BEST_DIR, f"ckpt-{self.best_step}")
        return path if os.path.isdir(path) else None

    def _keep_best(self, context: StepContext, step: int) -> None:
        """Copies the checkpoint of `step` to `model_dir/best/`, or saves the
        in-memory state when it is of that step and no checkpoint is."""
        if not self.restore_best or not distribute.is_chief():
            return
        if self.best_checkpoint() is not None:
            return
        best_dir = os.path.join(self._model_dir, BEST_DIR)
        source = os.path.join(self._model_dir, f"ckpt-{step}")
        if os.path.isdir(source):
            atomic.write_with(
                os.path.join(best_dir, f"ckpt-{step}"),
                lambda tmp: shutil.copytree(source, tmp),
            )
        elif context.mode == "train" and int(context.train_state().step) == step:
            save_state(best_dir, context.train_state(), extra=self._extra())
        else:
            logger.warning(
                "EarlyStopping: the best evaluation (step %d) has no checkpoint "
                "left to keep; the model cannot be restored to it.",
                step,
            )
            return
        for name in os.listdir(best_dir):  # the previous best
            if name.startswith("ckpt-") and name != f"ckpt-{step}":
                shutil.rmtree(os.path.join(best_dir, name), ignore_errors=True)

    def _extra(self) -> dict[str, Any]:
        """The manifest extras of the run's checkpoints (seed, vocabularies)."""
        latest = checkpoints.latest_checkpoint(self._model_dir)
        if latest is None:
            return {}
        return dict(checkpoints.read_manifest(latest).get("extra", {}))

    def _restore(self) -> None:
        best = self.best_checkpoint()
        latest = checkpoints.latest_checkpoint(self._model_dir)
        if best is None or latest is None:
            return
        step = self.best_step
        if checkpoints.checkpoint_step(latest) == step:
            return
        for path in checkpoints.all_checkpoints(self._model_dir):
            if checkpoints.checkpoint_step(path) > step:
                shutil.rmtree(path, ignore_errors=True)
        target = os.path.join(self._model_dir, f"ckpt-{step}")
        if not os.path.isdir(target):
            atomic.write_with(target, lambda tmp: shutil.copytree(best, tmp))
        manifest = checkpoints.read_manifest(target)
        update_index(
            self._model_dir,
            {
                "name": f"ckpt-{step}",
                "step": step,
                "wall_time": manifest.get("wall_time", 0.0),
                "preserved": False,
            },
            None,
            None,
        )
        self.restored = target
        logger.info(
            "EarlyStopping: restored the best checkpoint (step %d, %s %.6g) as "
            "the latest in %s.",
            step, self.metric, self.best_value, self._model_dir,
        )  # fmt: skip


def _check(
    metric: Any,
    mode: Any,
    patience: Any,
    min_delta: Any,
    smoothing: Any,
    eval_name: Any,
    min_steps: Any,
) -> None:
    if not isinstance(metric, str) or not metric:
        raise TypeError(
            f"EarlyStopping: `metric` must be a non-empty str, got {metric!r}."
        )
    if mode not in _MODES:
        raise ValueError(f'EarlyStopping: `mode` must be "min" or "max", got {mode!r}.')
    for name, value in (("patience", patience), ("min_steps", min_steps)):
        if not is_int(value) or value < 0:
            raise ValueError(
                f"EarlyStopping: `{name}` must be an int >= 0, got {value!r}."
            )
    if not _real(min_delta) or min_delta < 0:
        raise ValueError(f"EarlyStopping: `min_delta` must be >= 0, got {min_delta!r}.")
    if not _real(smoothing) or not 0 <= smoothing < 1:
        raise ValueError(
            f"EarlyStopping: `smoothing` must be in [0, 1) (0 turns it off), got "
            f"{smoothing!r}."
        )
    if eval_name is not None and (not isinstance(eval_name, str) or not eval_name):
        raise ValueError(
            f"EarlyStopping: `eval_name` must be a non-empty str or None, got "
            f"{eval_name!r}."
        )


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
