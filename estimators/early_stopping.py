"""Early stopping: hooks that stop training when an evaluation metric stalls.

The hooks read the evaluation results that `Estimator.evaluate` writes to
`model_dir/metrics.jsonl` (`estimators.eval_records`) (`eval/<key>`, or `eval_<name>/<key>` for a named
evaluation), so they work with `train_and_evaluate`, or with evaluations run by
another process on the same model_dir. Names and semantics follow
`tf.estimator.experimental`.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import operator
import os
import time
from collections.abc import Callable
from typing import Any

from estimators.estimator import Estimator
from estimators.eval_records import read_eval_metrics
from estimators.hooks import Hook, StepContext
from estimators.validation import check_positive_int, is_int

__all__ = [
    "make_early_stopping_hook",
    "read_eval_metrics",
    "stop_if_higher_hook",
    "stop_if_lower_hook",
    "stop_if_no_decrease_hook",
    "stop_if_no_increase_hook",
]

logger = logging.getLogger("estimators")


class _StopOnPredicateHook(Hook):
    """Requests a stop when `should_stop_fn()` is true, checked on a timer."""

    def __init__(
        self,
        should_stop_fn: Callable[[], bool],
        run_every_secs: float | None,
        run_every_steps: int | None,
    ) -> None:
        self._should_stop_fn = should_stop_fn
        self._every_secs = run_every_secs
        self._every_steps = run_every_steps
        # Kept across `train` calls, as tf's timer was: a resumed run checks at once.
        self._last_step: int | None = None
        self._last_time = 0.0

    def _due(self, step: int) -> bool:
        if self._last_step is None or step < self._last_step:  # a fresh model_dir
            return True
        if step == self._last_step:
            return False
        if self._every_secs is not None:
            return time.monotonic() - self._last_time >= self._every_secs
        return step >= self._last_step + self._every_steps

    def steps_until_needed(self, global_step: int) -> int | None:
        if self._last_step is None or global_step < self._last_step:
            return 1  # the first check comes after the first step, as in tf
        if self._every_steps is None:
            return None  # a timer: checked whenever the loop is on the host
        return max(1, self._last_step + self._every_steps - global_step)

    def after_step(self, context: StepContext) -> None:
        step = context.global_step
        if not self._due(step):
            return
        self._last_step, self._last_time = step, time.monotonic()
        if self._should_stop_fn():
            logger.info("Requesting early stopping at global step %d.", step)
            context.request_stop()


def make_early_stopping_hook(
    estimator: Estimator,
    should_stop_fn: Callable[[], bool],
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """A training hook that stops training when `should_stop_fn()` returns True.

    Args:
        estimator: The Estimator being trained.
        should_stop_fn: Called without arguments; returns whether to stop.
        run_every_secs: Call it at most every this many seconds (and at the first
            step). Default 60.
        run_every_steps: Call it every this many steps instead; give
            `run_every_secs=None` with it.

    Returns:
        An `est.Hook` for `train(hooks=...)` or `TrainSpec(hooks=...)`.

    Example:
        >>> estimator = Estimator(lambda features, labels, mode: None)
        >>> hook = make_early_stopping_hook(
        ...     estimator, lambda: True, run_every_secs=None, run_every_steps=10
        ... )
        >>> context = StepContext(mode="train", global_step=1, model_dir=None)
        >>> hook.after_step(context)
        >>> context.stop_requested
        True
    """
    _check_estimator(estimator)
    if not callable(should_stop_fn):
        raise TypeError(
            f"`should_stop_fn` must be callable, got {type(should_stop_fn).__name__}."
        )
    if (run_every_secs is None) == (run_every_steps is None):
        raise ValueError(
            "give exactly one of `run_every_secs` and `run_every_steps`, got "
            f"run_every_secs={run_every_secs!r} and run_every_steps="
            f"{run_every_steps!r}; pass run_every_secs=None with run_every_steps."
        )
    if run_every_secs is not None and not _positive_number(run_every_secs):
        raise ValueError(f"`run_every_secs` must be > 0, got {run_every_secs!r}.")
    check_positive_int("run_every_steps", run_every_steps)
    return _StopOnPredicateHook(should_stop_fn, run_every_secs, run_every_steps)


def stop_if_higher_hook(
    estimator: Estimator,
    metric_name: str,
    threshold: float,
    eval_dir: str | os.PathLike[str] | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """Stops training once an evaluation has `metric_name` above `threshold`.

    Args:
        estimator: The Estimator being trained.
        metric_name: A key of the evaluation results, e.g. "accuracy".
        threshold: Stop when the metric is strictly greater than this.
        eval_dir: Which evaluation to watch, as tf's `estimator.eval_dir(name)`:
            `<model_dir>/eval` (the default) or `<model_dir>/eval_<name>`.
        min_steps: Ignore evaluations before this global step. Default 0.
        run_every_secs: Check at most every this many seconds. Default 60.
        run_every_steps: Check every this many steps instead (with
            `run_every_secs=None`).

    Example:
        >>> estimator = Estimator(lambda features, labels, mode: None)
        >>> hook = stop_if_higher_hook(estimator, "accuracy", 0.9)
    """
    watch = _Watch.of(estimator, metric_name, eval_dir, min_steps)
    should_stop = _crossing(watch, threshold, operator.gt, "greater than")
    return make_early_stopping_hook(
        estimator, should_stop, run_every_secs, run_every_steps
    )


def stop_if_lower_hook(
    estimator: Estimator,
    metric_name: str,
    threshold: float,
    eval_dir: str | os.PathLike[str] | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """Stops training once an evaluation has `metric_name` below `threshold`.

    Args: as `stop_if_higher_hook`; stops when the metric is strictly less than
    `threshold`.

    Example:
        >>> estimator = Estimator(lambda features, labels, mode: None)
        >>> hook = stop_if_lower_hook(estimator, "loss", 0.1)
    """
    watch = _Watch.of(estimator, metric_name, eval_dir, min_steps)
    should_stop = _crossing(watch, threshold, operator.lt, "less than")
    return make_early_stopping_hook(
        estimator, should_stop, run_every_secs, run_every_steps
    )


def stop_if_no_decrease_hook(
    estimator: Estimator,
    metric_name: str,
    max_steps_without_decrease: int,
    eval_dir: str | os.PathLike[str] | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """Stops training when `metric_name` has not decreased for a number of steps.

    It stops once an evaluation at step `s` finds the best (lowest) value so far at
    a step `b` with `s - b >= max_steps_without_decrease`; an equal value is no
    decrease.

    Args:
        estimator: The Estimator being trained.
        metric_name: A key of the evaluation results, e.g. "loss".
        max_steps_without_decrease: Global steps allowed without a new minimum.
        eval_dir: Which evaluation to watch, as tf's `estimator.eval_dir(name)`:
            `<model_dir>/eval` (the default) or `<model_dir>/eval_<name>`.
        min_steps: Ignore evaluations before this global step. Default 0.
        run_every_secs: Check at most every this many seconds. Default 60.
        run_every_steps: Check every this many steps instead (with
            `run_every_secs=None`).

    Example:
        >>> estimator = Estimator(lambda features, labels, mode: None)
        >>> hook = stop_if_no_decrease_hook(estimator, "loss", 1000)
    """
    watch = _Watch.of(estimator, metric_name, eval_dir, min_steps)
    should_stop = _stalling(watch, max_steps_without_decrease, operator.lt, "decrease")
    return make_early_stopping_hook(
        estimator, should_stop, run_every_secs, run_every_steps
    )


def stop_if_no_increase_hook(
    estimator: Estimator,
    metric_name: str,
    max_steps_without_increase: int,
    eval_dir: str | os.PathLike[str] | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> Hook:
    """Stops training when `metric_name` has not increased for a number of steps.

    Args: as `stop_if_no_decrease_hook`, with the best value the highest and
    `max_steps_without_increase` the global steps allowed without a new maximum.

    Example:
        >>> estimator = Estimator(lambda features, labels, mode: None)
        >>> hook = stop_if_no_increase_hook(estimator, "accuracy", 1000)
    """
    watch = _Watch.of(estimator, metric_name, eval_dir, min_steps)
    should_stop = _stalling(watch, max_steps_without_increase, operator.gt, "increase")
    return make_early_stopping_hook(
        estimator, should_stop, run_every_secs, run_every_steps
    )


@dataclasses.dataclass(frozen=True)
class _Watch:
    """One metric of one evaluation in a model_dir, from `min_steps` on."""

    model_dir: str
    name: str | None
    metric_name: str
    min_steps: int

    @classmethod
    def of(
        cls,
        estimator: Estimator,
        metric_name: Any,
        eval_dir: str | os.PathLike[str] | None,
        min_steps: Any,
    ) -> _Watch:
        _check_estimator(estimator)
        if not isinstance(metric_name, str) or not metric_name:
            raise TypeError(
                f"`metric_name` must be a non-empty str, got {metric_name!r}."
            )
        if not is_int(min_steps) or min_steps < 0:
            raise ValueError(f"`min_steps` must be an int >= 0, got {min_steps!r}.")
        model_dir, name = _eval_source(estimator, eval_dir)
        return cls(model_dir, name, metric_name, min_steps)

    def values(self) -> list[tuple[int, float]]:
        """`(step, value)` of the metric in each evaluation, in step order."""
        values = []
        for step, metrics in read_eval_metrics(self.model_dir, self.name).items():
            if step < self.min_steps:
                continue
            if self.metric_name not in metrics:
                where = f"eval_{self.name}" if self.name else "eval"
                raise KeyError(
                    f"early stopping: metric {self.metric_name!r} is not in the "
                    f"{where!r} results at global step {step} in {self.model_dir!r};"
                    f" it has {sorted(metrics)}."
                )
            values.append((step, metrics[self.metric_name]))
        return values


def _crossing(
    watch: _Watch,
    threshold: Any,
    crosses: Callable[[float, float], bool],
    relation: str,
) -> Callable[[], bool]:
    """True once an evaluation's value `crosses` the threshold."""
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool):
        raise TypeError(f"`threshold` must be a number, got {threshold!r}.")

    def should_stop() -> bool:
        for step, value in watch.values():
            if crosses(value, threshold):
                logger.info(
                    'At step %d, metric "%s" has value %s which is %s the '
                    "configured threshold (%s) for early stopping.",
                    step, watch.metric_name, value, relation, threshold,
                )  # fmt: skip
                return True
        return False

    return should_stop


def _stalling(
    watch: _Watch,
    max_steps: Any,
    better: Callable[[float, float], bool],
    change: str,
) -> Callable[[], bool]:
    """True once the best value is `max_steps` or more steps old."""
    if not is_int(max_steps) or max_steps <= 0:
        raise ValueError(
            f"`max_steps_without_{change}` must be an int > 0, got {max_steps!r}."
        )

    def should_stop() -> bool:
        best_value = best_step = None
        for step, value in watch.values():
            if best_value is None or better(value, best_value):
                best_value, best_step = value, step
            if step - best_step >= max_steps:
                logger.info(
                    'No %s in metric "%s" for %d steps, which is greater than or '
                    "equal to max steps (%d) configured for early stopping.",
                    change, watch.metric_name, step - best_step, max_steps,
                )  # fmt: skip
                return True
        return False

    return should_stop


def _eval_source(
    estimator: Estimator, eval_dir: str | os.PathLike[str] | None
) -> tuple[str, str | None]:
    """(model_dir, evaluation name) of tf's `eval_dir`: `<model_dir>/eval[_<name>]`."""
    if eval_dir is None:
        return estimator.model_dir, None
    path = os.path.normpath(os.fspath(eval_dir))
    base = os.path.basename(path)
    if base == "eval":
        return os.path.dirname(path), None
    if base.startswith("eval_") and len(base) > len("eval_"):
        return os.path.dirname(path), base[len("eval_") :]
    raise ValueError(
        "`eval_dir` must be <model_dir>/eval or <model_dir>/eval_<name> (the "
        f"evaluation's name), got {os.fspath(eval_dir)!r}."
    )


def _check_estimator(estimator: Any) -> None:
    if not isinstance(estimator, Estimator):
        raise TypeError(
            f"`estimator` must be an est.Estimator, got {type(estimator).__name__}."
        )


def _positive_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0
