"""The model in memory during training: evaluate or save it between checkpoints.

`InMemoryEvaluatorHook` (tf.estimator.experimental's) evaluates the parameters
training holds right now, without writing a checkpoint; `evaluate_state` and
`save_state` are what it, `train_and_evaluate(EvalSpec(every_n_steps=...))` and
`est.EarlyStopping` share. The evaluation of a state at step `s` gives exactly
the numbers `Estimator.evaluate` gives for the checkpoint of step `s`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from estimators import checkpoints
from estimators.estimator import Estimator
from estimators.hooks import Hook, StepContext, crossed
from estimators.train_state import TrainState, checkpoint_tree
from estimators.validation import check_positive_int

__all__ = ["InMemoryEvaluatorHook", "evaluate_state", "save_state"]

logger = logging.getLogger("estimators")


def evaluate_state(
    estimator: Estimator,
    state: TrainState,
    input_fn: Callable[..., Any],
    *,
    steps: int | None = None,
    hooks: Sequence[Hook] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """`estimator.evaluate` of the in-memory `state` instead of a checkpoint.

    The results are recorded as `evaluate` records them (`eval_<name>/` in
    `model_dir/metrics.jsonl`) at the state's global_step.
    """
    runner = estimator.runner
    with runner.in_memory(state.variables, int(state.step), state.rng):
        return estimator.evaluate(input_fn, steps=steps, hooks=hooks, name=name)


def save_state(
    directory: str | os.PathLike[str],
    state: TrainState,
    *,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Writes `state` as the only checkpoint in `directory`; returns its path.

    Args:
        directory: Where `ckpt-<step>` goes (and its own `checkpoint.json`).
        state: The training state, e.g. `context.train_state()`.
        extra: What the manifest records besides arrays, as training records
            it (`random_seed`, `vocabularies`); no input position is recorded,
            so a train() resumed from this checkpoint starts its input afresh.
    """
    return checkpoints.save_checkpoint(
        directory,
        int(state.step),
        jax.device_get(checkpoint_tree(state)),
        extra={**(extra or {}), "input_position": None},
        keep_checkpoint_max=1,
        keep_checkpoint_every_n_hours=None,
    )


class InMemoryEvaluatorHook(Hook):
    """Evaluates the in-memory model during training, without a checkpoint.

    As tf.estimator.experimental's: it evaluates once when training begins,
    every `every_n_iter` steps after that, and once more at the end (unless
    that step was just evaluated). Results are recorded as
    `estimator.evaluate(..., name=name)` records them, at the exact global_step
    of the parameters evaluated, so early-stopping hooks (`est.EarlyStopping`,
    `est.stop_if_no_decrease_hook`, ...) see them; list those after this hook.
    Steps stay fused between evaluations.

    Args:
        estimator: The Estimator being trained.
        input_fn: The evaluation input_fn (as for `estimator.evaluate`).
        steps: Evaluate at most this many batches; None: the whole input.
        hooks: `est.Hook`s run during each evaluation.
        name: The evaluation's name: results are recorded as `eval_<name>/<key>`.
        every_n_iter: Evaluate every this many training steps. Default 100.

    Attributes:
        results: `{global_step: results}` of the evaluations of the last
            `train` call.

    Example:
        >>> estimator = Estimator(lambda features, labels, mode: None)
        >>> evaluator = InMemoryEvaluatorHook(
        ...     estimator, lambda: ({"x": [[1.0]]}, [0]), name="val", every_n_iter=50
        ... )
        >>> evaluator.steps_until_needed(0)
        50
    """

    def __init__(
        self,
        estimator: Estimator,
        input_fn: Callable[..., Any],
        steps: int | None = None,
        hooks: Sequence[Hook] | None = None,
        name: str | None = None,
        every_n_iter: int = 100,
    ) -> None:
        if not isinstance(estimator, Estimator):
            raise TypeError(
                "InMemoryEvaluatorHook: `estimator` must be an est.Estimator, got "
                f"{type(estimator).__name__}."
            )
        if not callable(input_fn):
            raise TypeError(
                "InMemoryEvaluatorHook: `input_fn` must be callable, got "
                f"{type(input_fn).__name__}."
            )
        if every_n_iter is None:
            raise ValueError("InMemoryEvaluatorHook: invalid every_n_iter=None.")
        check_positive_int("every_n_iter", every_n_iter, owner="InMemoryEvaluatorHook")
        check_positive_int("steps", steps, owner="InMemoryEvaluatorHook")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(
                "InMemoryEvaluatorHook: `name` must be a non-empty str or None, got "
                f"{name!r}."
            )
        self._estimator = estimator
        self._input_fn = input_fn
        self._steps = steps
        self._hooks = list(hooks or ())
        self._name = name
        self._every_n_iter = every_n_iter
        self._start = self._previous = 0  # global_steps at begin, at the last step
        self.results: dict[int, dict[str, Any]] = {}

    def begin(self, context: StepContext) -> None:
        self.results = {}
        self._start = self._previous = context.global_step
        self._evaluate(context)

    def after_step(self, context: StepContext) -> None:
        # Iterations count from `begin`, as tf's timer did; a pure function of
        # the step, since the input feeder plans fused runs ahead of the loop.
        previous, self._previous = self._previous, context.global_step
        every = self._every_n_iter
        if crossed(previous - self._start, context.global_step - self._start, every):
            self._evaluate(context)

    def end(self, context: StepContext) -> None:
        if context.global_step not in self.results:
            self._evaluate(context)

    def steps_until_needed(self, global_step: int) -> int | None:
        return self._every_n_iter - (global_step - self._start) % self._every_n_iter

    def _evaluate(self, context: StepContext) -> None:
        state = context.train_state()
        results = evaluate_state(
            self._estimator,
            state,
            self._input_fn,
            steps=self._steps,
            hooks=self._hooks,
            name=self._name,
        )
        self.results[results["global_step"]] = results
        logger.info(
            "In-memory evaluation at step %d: %s", results["global_step"], results
        )
