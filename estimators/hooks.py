"""Hooks: user code that runs around training, evaluation and prediction steps."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

__all__ = [
    "CheckpointSaverListener",
    "Hook",
    "HookList",
    "LoggingHook",
    "NanLossDuringTrainingError",
    "NanTensorHook",
    "StepContext",
    "StopAtStepHook",
    "as_hook",
]

logger = logging.getLogger("estimators")


class NanLossDuringTrainingError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite.

    Attributes:
        step: The global_step whose loss was not finite (or by which a parameter
            or optimizer-state value was not).
        leaf: The first non-finite variable or optimizer-state leaf, e.g.
            "opt_state/0/sum_of_squares/params/Dense_0/kernel", or None when
            only the loss was.
    """

    def __init__(self, step: int, leaf: str | None = None) -> None:
        what = (
            f"NaN or infinite loss or state during training by global_step {step}"
            f" (first non-finite value in {leaf!r})"
            if leaf
            else f"NaN or infinite loss during training at global_step {step}"
        )
        super().__init__(
            f"{what}; no checkpoint was written after it. Lower the learning "
            "rate, clip gradients or check the input for NaNs and huge values."
        )
        self.step = step
        self.leaf = leaf


class StepContext:
    """What a hook sees of the run: the step, its outputs, and a stop switch.

    Reading `outputs` or `loss` copies values from the device, which waits for the
    step to finish; hooks that do not read them cost no synchronisation.
    """

    def __init__(
        self,
        *,
        mode: str,
        global_step: int,
        model_dir: str | None,
        last_step: int | None = None,
        writer: Any = None,
    ) -> None:
        self.mode = mode
        self.global_step = global_step
        self.model_dir = model_dir
        self.last_step = last_step
        self.writer = writer
        self.stop_requested = False
        self.fetches: tuple[str, ...] = ()
        self._outputs: Mapping[str, Any] = {}
        self._fetched: Mapping[str, Any] = {}
        self._host_outputs: dict[str, float] | None = None
        self._host_fetched: dict[str, np.ndarray] | None = None
        self._state_source: Callable[[], Any] | None = None

    def request_stop(self) -> None:
        """Asks the loop to stop after the current step."""
        self.stop_requested = True

    def request_fetches(self, names: Sequence[str]) -> None:
        """Asks the train (or eval) step to also output these predictions from now on.

        Call it in `begin` or `before_step`; the values are in `fetched` after
        the step. A new name costs one compilation (names are kept once asked).
        """
        new = set(names) - set(self.fetches) - {"loss", "global_step"}
        if new:
            self.fetches = tuple(sorted({*self.fetches, *new}))

    def _set_outputs(
        self, outputs: Mapping[str, Any], fetched: Mapping[str, Any] | None = None
    ) -> None:
        self._outputs = outputs
        self._fetched = fetched or {}
        self._host_outputs = None
        self._host_fetched = None

    @property
    def outputs(self) -> dict[str, float]:
        """The step's loss and summaries as Python floats (synchronises)."""
        if self._host_outputs is None:
            fetched = jax.device_get(dict(self._outputs))
            self._host_outputs = {k: float(np.asarray(v)) for k, v in fetched.items()}
        return self._host_outputs

    @property
    def fetched(self) -> dict[str, np.ndarray]:
        """The step's fetched values (see `request_fetches`), as numpy arrays.

        Synchronises; under fused steps these are the last step's values.
        """
        if self._host_fetched is None:
            self._host_fetched = {k: np.asarray(v) for k, v in self._fetched.items()}
        return self._host_fetched

    @property
    def loss(self) -> float:
        """The step's loss (synchronises)."""
        return self.outputs["loss"]

    # -- the in-memory train state (filled by the training loop) -----------------

    def _set_state_source(self, source: Callable[[], Any]) -> None:
        self._state_source = source

    def train_state(self) -> Any:
        """The current `est.TrainState` of training, as after the last step.

        For hooks that evaluate or save the in-memory model between checkpoints
        (`est.InMemoryEvaluatorHook`). Its arrays are the training's own: read
        them in the hook call; the next step may reuse their buffers.
        """
        if self._state_source is None:
            raise RuntimeError(
                f"StepContext.train_state() is only available during training, "
                f"not in mode {self.mode!r}."
            )
        return self._state_source()

    def variables(self) -> dict[str, Any]:
        """The current model variables of training ("params", ...); see
        `train_state`."""
        return self.train_state().variables


class Hook:
    """Base class of hooks; override any of the four methods.

    Example:
        >>> class CountSteps(Hook):
        ...     def __init__(self):
        ...         self.count = 0
        ...     def after_step(self, context):
        ...         self.count += 1
        >>> CountSteps().count
        0
    """

    def begin(self, context: StepContext) -> None:
        """Called once before the first step."""

    def before_step(self, context: StepContext) -> None:
        """Called before each step (or group of `steps_per_execution` steps)."""

    def after_step(self, context: StepContext) -> None:
        """Called after each step (or group); `context.global_step` is updated."""

    def end(self, context: StepContext) -> None:
        """Called once at the end, also when a hook requested the stop."""

    def steps_until_needed(self, global_step: int) -> int | None:
        """How many steps may run before this hook must see a step again.

        Training fuses the steps between host actions into one compiled call; a
        hook says here how far it lets that go from `global_step` (None: no
        limit). The default is 1 (every step, as tf's hooks saw every step) for a
        hook that overrides `before_step` or `after_step`, else None.
        """
        cls = type(self)
        if cls.before_step is Hook.before_step and cls.after_step is Hook.after_step:
            return None
        return 1


class HookList:
    """Runs a list of hooks in order; what the loops call instead of each hook.

    Example:
        >>> hooks = HookList([LoggingHook(every_n_steps=10), StopAtStepHook(last_step=25)])
        >>> hooks.begin(StepContext(mode="train", global_step=0, model_dir=None))
        >>> hooks.steps_until_needed(0), hooks.steps_until_needed(20)
        (10, 5)
    """

    def __init__(self, hooks: Sequence[Any] = ()) -> None:
        self.hooks = [as_hook(hook) for hook in hooks]

    def extend(self, hooks: Sequence[Any]) -> None:
        """Adds hooks (e.g. the spec's) after the others."""
        self.hooks.extend(as_hook(hook) for hook in hooks)

    def begin(self, context: StepContext) -> None:
        for hook in self.hooks:
            hook.begin(context)

    def before_step(self, context: StepContext) -> None:
        for hook in self.hooks:
            hook.before_step(context)

    def after_step(self, context: StepContext) -> None:
        for hook in self.hooks:
            hook.after_step(context)

    def end(self, context: StepContext) -> None:
        for hook in self.hooks:
            hook.end(context)

    def steps_until_needed(self, global_step: int) -> int | None:
        """The fewest steps any hook lets run from `global_step`, or None."""
        needs = [h.steps_until_needed(global_step) for h in self.hooks]
        needs = [n for n in needs if n is not None]
        return max(1, min(needs)) if needs else None


def as_hook(hook: Any) -> Hook:
    """`hook` as an `est.Hook`: a Hook as is, else what its `as_hook()` returns.

    A tf-style `est.SessionRunHook` has `as_hook()`, so hooks of either kind can
    be mixed in one list.
    """
    if isinstance(hook, Hook):
        return hook
    adapt = getattr(hook, "as_hook", None)
    if not callable(adapt):
        raise TypeError(
            "hooks must be est.Hook or est.SessionRunHook instances, got "
            f"{type(hook).__name__}; subclass one of them."
        )
    return adapt()


def crossed(previous: int, current: int, every: int | None) -> bool:
    """Whether a multiple of `every` lies in (previous, current].

    Example:
        >>> crossed(95, 105, 100), crossed(100, 150, 100), crossed(1, 2, None)
        (True, False, False)
    """
    return bool(every) and current // every > previous // every


class LoggingHook(Hook):
    """Logs loss and global_step/sec every `every_n_steps` steps.

    Args:
        every_n_steps: How often to log; None or 0 turns logging off.

    Example:
        >>> LoggingHook(every_n_steps=100).every_n_steps
        100
    """

    def __init__(self, every_n_steps: int | None = 100) -> None:
        self.every_n_steps = every_n_steps
        self._last_step = 0
        self._last_time = 0.0

    def begin(self, context: StepContext) -> None:
        self._last_step = context.global_step
        self._last_time = time.perf_counter()

    def after_step(self, context: StepContext) -> None:
        if not crossed(self._last_step, context.global_step, self.every_n_steps):
            return
        loss = context.loss  # the one synchronisation per logging interval
        now = time.perf_counter()
        elapsed = max(now - self._last_time, 1e-9)
        rate = (context.global_step - self._last_step) / elapsed
        logger.info(
            "loss = %.6g, step = %d (%.3f sec)", loss, context.global_step, elapsed
        )
        logger.info("global_step/sec: %.6g", rate)
        if context.writer is not None:
            context.writer.write_scalars(context.global_step, {"global_step/sec": rate})
        self._last_step, self._last_time = context.global_step, now

    def steps_until_needed(self, global_step: int) -> int | None:
        if not self.every_n_steps:
            return None
        return self.every_n_steps - global_step % self.every_n_steps


class StopAtStepHook(Hook):
    """Requests a stop at a given step.

    Args:
        num_steps: Steps to run from the step at `begin`.
        last_step: Absolute step to stop at. Give exactly one.

    Example:
        >>> StopAtStepHook(last_step=10).last_step
        10
    """

    def __init__(self, num_steps: int | None = None, last_step: int | None = None):
        if (num_steps is None) == (last_step is None):
            raise ValueError(
                "StopAtStepHook: give exactly one of `num_steps` and `last_step`, "
                f"got num_steps={num_steps}, last_step={last_step}."
            )
        self.num_steps = num_steps
        self.last_step = last_step

    def begin(self, context: StepContext) -> None:
        if self.num_steps is not None:
            self.last_step = context.global_step + self.num_steps

    def after_step(self, context: StepContext) -> None:
        if self.last_step is not None and context.global_step >= self.last_step:
            context.request_stop()

    def steps_until_needed(self, global_step: int) -> int | None:
        if self.last_step is None:
            return 1
        return max(1, self.last_step - global_step)


class NanTensorHook(Hook):
    """Checks the loss after every step (a synchronisation per step).

    The Estimator already detects a non-finite loss on the device at no cost and
    raises before writing any checkpoint after it; this hook stops at the very step
    instead, as tf's NanTensorHook did.

    Args:
        fail_on_nan_loss: Raise `NanLossDuringTrainingError` (True) or only log and
            request a stop (False).

    Example:
        >>> NanTensorHook().fail_on_nan_loss
        True
    """

    def __init__(self, fail_on_nan_loss: bool = True) -> None:
        self.fail_on_nan_loss = fail_on_nan_loss

    def after_step(self, context: StepContext) -> None:
        if math.isfinite(context.loss):
            return
        if self.fail_on_nan_loss:
            raise NanLossDuringTrainingError(context.global_step)
        logger.error("NaN loss at global_step %d; stopping.", context.global_step)
        context.request_stop()


class CheckpointSaverListener:
    """Called around every checkpoint the Estimator saves during `train`.

    Example:
        >>> class Announce(CheckpointSaverListener):
        ...     def after_save(self, global_step, path):
        ...         print("saved", global_step)
        >>> Announce().after_save(5, "ckpt-5")
        saved 5
    """

    def begin(self) -> None:
        """Called once before training starts."""

    def before_save(self, global_step: int) -> None:
        """Called before a checkpoint is written."""

    def after_save(self, global_step: int, path: str) -> bool | None:
        """Called after a checkpoint is written; return True to stop training."""
        return None

    def end(self, global_step: int) -> None:
        """Called once after training ends."""


HookFactory = Callable[[], Hook]
