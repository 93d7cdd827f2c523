# Long by design: tf's basic_session_run_hooks, one family of hooks in one module, as tf has it.
"""tf's built-in session-run hooks (`tf.compat.v1.train.*Hook`), on `SessionRunHook`.

Each keeps tf's arguments and defaults and declares its cadence through
`steps_until_needed`, so training steps stay fused between the steps it acts
on. A cadence in steps acts, as tf's did, on the first step of the run and then
every N steps (global steps start+1, start+1+N, ...); a cadence in seconds acts
on the first step and then at the first step the loop hands back to the host
after N seconds (at the latest every `log_step_count_steps` steps).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import numpy as np

from estimators.session_run_hook import (
    HookSession,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    fetch_names,
)
from estimators.writers import JsonlWriter

__all__ = [
    "FeedFnHook",
    "FinalOpsHook",
    "LoggingTensorHook",
    "ProfilerHook",
    "SecondOrStepTimer",
    "StepCounterHook",
    "SummarySaverHook",
]

logger = logging.getLogger("estimators")


class SecondOrStepTimer:
    """When a hook acts: every N steps or every N seconds, and on the first step.

    Args:
        every_secs: Act at most once every this many seconds.
        every_steps: Act every this many steps. Give exactly one.

    Example:
        >>> timer = SecondOrStepTimer(every_steps=10)
        >>> timer.start(0)
        >>> timer.steps_until(0), timer.steps_until(1), timer.steps_until(5)
        (1, 10, 6)
        >>> timer.due(0, 1), timer.due(1, 5), timer.due(5, 11)
        (True, False, True)
    """

    def __init__(
        self, every_secs: float | None = None, every_steps: int | None = None
    ) -> None:
        if every_secs is None and every_steps is None:
            raise ValueError("Either every_secs or every_steps should be provided.")
        if every_secs is not None and every_steps is not None:
            raise ValueError("Can not provide both every_secs and every_steps.")
        if every_steps is not None and (
            not isinstance(every_steps, int) or every_steps <= 0
        ):
            raise ValueError(f"every_steps must be an int > 0, got {every_steps!r}.")
        if every_secs is not None and not every_secs > 0:
            raise ValueError(f"every_secs must be > 0, got {every_secs!r}.")
        self.every_secs = every_secs
        self.every_steps = every_steps
        self.start(0)

    def start(self, global_step: int) -> None:
        """Starts counting from `global_step` (the step before the first run)."""
        self._start = global_step
        self._last_time: float | None = None
        self._last_step: int | None = None

    def _acted(self, step: int) -> int:
        """How many steps in (start, step] this timer acts on (steps cadence)."""
        assert self.every_steps is not None
        return (
            0
            if step <= self._start
            else (step - self._start - 1) // self.every_steps + 1
        )

    def steps_until(self, global_step: int) -> int | None:
        """Steps that may run from `global_step` before the next one to act on."""
        if self.every_steps is None:
            return 1 if self._last_time is None and global_step <= self._start else None
        target = self._start + 1 + self._acted(global_step) * self.every_steps
        return target - global_step

    def due(self, previous: int, current: int) -> bool:
        """Whether to act after running the steps (previous, current]."""
        if self.every_steps is None:
            last = self._last_time
            return last is None or time.time() - last >= self.every_secs
        return self._acted(current) > self._acted(previous)

    def update_last_triggered_step(self, step: int) -> tuple[float | None, int | None]:
        """Records acting at `step`; returns (seconds, steps) since the last time."""
        now = time.time()
        elapsed: tuple[float | None, int | None] = (None, None)
        if self._last_time is not None and self._last_step is not None:
            elapsed = (now - self._last_time, step - self._last_step)
        self._last_time, self._last_step = now, step
        return elapsed

    def last_triggered_step(self) -> int | None:
        return self._last_step


class _Periodic(SessionRunHook):
    """A hook acting on a `SecondOrStepTimer` of local steps; `_act` does the work.

    Local steps count the steps run since `after_create_session`: in training
    the global_step advances with them (by a fused call's length); in evaluate
    and predict, where it does not, each run counts one (tf's iterations).
    """

    timer: SecondOrStepTimer | None
    _start = _global = _local = 0

    def after_create_session(self, session: HookSession, coord: Any) -> None:
        self._start = self._global = session.global_step
        self._local = 0
        if self.timer is not None:
            self.timer.start(0)

    def _advance(self, global_step: int) -> tuple[int, int]:
        """The local step before and after the run that ended at `global_step`."""
        ran = global_step - self._global if global_step > self._global else 1
        before = self._local
        self._local, self._global = before + ran, global_step
        return before, self._local

    def after_run(
        self, run_context: SessionRunContext, run_values: SessionRunValues
    ) -> None:
        before, after = self._advance(run_context.global_step)
        if self.timer is not None and self.timer.due(before, after):
            elapsed = self.timer.update_last_triggered_step(after)
            self._act(run_context, run_values, elapsed)

    def _act(
        self,
        run_context: SessionRunContext,
        run_values: SessionRunValues,
        elapsed: tuple[float | None, int | None],
    ) -> None:
        raise NotImplementedError

    def steps_until_needed(self, global_step: int) -> int | None:
        if self.timer is None:
            return None
        return self.timer.steps_until(global_step - self._start)


class LoggingTensorHook(_Periodic):
    """Logs named tensors every N steps, every N seconds, and/or at the end.

    Args:
        tensors: A dict of tag -> name, or a list of names; a name is a prediction
            key, an `est.summary.scalar` name, "loss" or "global_step".
        every_n_iter: Log every this many steps (the first step included).
        every_n_secs: Log at most every this many seconds. Give exactly one of
            the two, unless `at_end`.
        at_end: Also log the last step's values at the end.
        formatter: Maps the dict tag -> numpy value to the line logged.

    Example:
        >>> hook = LoggingTensorHook({"loss": "loss", "step": "global_step"},
        ...                          every_n_iter=100)
        >>> hook.steps_until_needed(0)
        1
    """

    def __init__(
        self,
        tensors: Mapping[str, str] | Iterable[str],
        every_n_iter: int | None = None,
        every_n_secs: float | None = None,
        at_end: bool = False,
        formatter: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        only_at_end = at_end and every_n_iter is None and every_n_secs is None
        if not only_at_end and (every_n_iter is None) == (every_n_secs is None):
            raise ValueError(
                "either at_end and/or exactly one of every_n_iter and every_n_secs "
                "must be provided."
            )
        if every_n_iter is not None and every_n_iter <= 0:
            raise ValueError(f"invalid every_n_iter={every_n_iter}.")
        if isinstance(tensors, str):
            tensors = [tensors]
        if isinstance(tensors, Mapping):
            self._tag_order = sorted(tensors)
            self._tensors = dict(tensors)
        else:
            self._tag_order = list(tensors)
            self._tensors = {name: name for name in self._tag_order}
        fetch_names(self._tensors)  # checks every value is a name
        self._formatter = formatter
        self._log_at_end = at_end
        self.timer = (
            None
            if only_at_end
            else SecondOrStepTimer(every_secs=every_n_secs, every_steps=every_n_iter)
        )

    def tensor_names(self) -> tuple[str, ...]:
        return tuple(fetch_names(self._tensors))

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        return SessionRunArgs(self._tensors) if self.timer is not None else None

    def _act(
        self,
        run_context: SessionRunContext,
        run_values: SessionRunValues,
        elapsed: tuple[float | None, int | None],
    ) -> None:
        self._log(run_values.results, elapsed[0])

    def _log(self, values: dict[str, Any], elapsed_secs: float | None) -> None:
        if self._formatter:
            logger.info(self._formatter(values))
            return
        with np.printoptions(suppress=True):
            stats = ", ".join(f"{tag} = {values[tag]}" for tag in self._tag_order)
        if elapsed_secs is not None:
            logger.info("%s (%.3f sec)", stats, elapsed_secs)
        else:
            logger.info("%s", stats)

    def end(self, session: HookSession) -> None:
        if self._log_at_end:
            self._log(session.run(self._tensors), None)


def _writer_for(
    session: HookSession, output_dir: str | None, summary_writer: Any
) -> tuple[Any, bool]:
    """The writer a hook writes to, and whether the hook owns (closes) it.

    The Estimator's writer, unless a `summary_writer` is given or `output_dir`
    names another directory than model_dir (then a `JsonlWriter` there).
    """
    if summary_writer is not None:
        return summary_writer, False
    same = (
        session.model_dir is not None
        and output_dir is not None
        and (os.path.abspath(output_dir) == os.path.abspath(session.model_dir))
    )
    if output_dir and not same:
        return JsonlWriter(os.path.join(output_dir, "metrics.jsonl")), True
    return session.writer, False


class StepCounterHook(_Periodic):
    """Logs and writes `global_step/sec` every N steps or N seconds.

    Args:
        every_n_steps: Measure every this many steps. Default 100.
        every_n_secs: Or at most every this many seconds (give exactly one).
        output_dir: Write to `output_dir/metrics.jsonl`; default (and when it is
            model_dir) the Estimator's writer.
        summary_writer: An `est.MetricWriter` to write to instead.

    Example:
        >>> StepCounterHook(every_n_steps=50).steps_until_needed(0)
        1
    """

    def __init__(
        self,
        every_n_steps: int | None = 100,
        every_n_secs: float | None = None,
        output_dir: str | None = None,
        summary_writer: Any = None,
    ) -> None:
        if (every_n_steps is None) == (every_n_secs is None):
            raise ValueError(
                "exactly one of every_n_steps and every_n_secs should be provided."
            )
        self.timer = SecondOrStepTimer(
            every_secs=every_n_secs, every_steps=every_n_steps
        )
        self._output_dir = output_dir
        self._summary_writer = summary_writer
        self._owned = False

    def after_create_session(self, session: HookSession, coord: Any) -> None:
        super().after_create_session(session, coord)
        self._writer, self._owned = _writer_for(
            session, self._output_dir, self._summary_writer
        )

    def _act(
        self,
        run_context: SessionRunContext,
        run_values: SessionRunValues,
        elapsed: tuple[float | None, int | None],
    ) -> None:
        secs, steps = elapsed
        if secs is None or steps is None:
            return
        rate = steps / max(secs, 1e-9)
        if self._writer is not None:
            self._writer.write_scalars(
                run_context.global_step, {"global_step/sec": rate}
            )
        logger.info("global_step/sec: %g", rate)

    def end(self, session: HookSession) -> None:
        if self._owned:
            self._writer.close()


class SummarySaverHook(_Periodic):
    """Writes the model's summaries every N steps or N seconds.

    Args:
        save_steps: Write every this many steps (the first step included).
        save_secs: Or at most every this many seconds (give exactly one).
        output_dir: Write to `output_dir/metrics.jsonl`; default (and when it is
            model_dir) the Estimator's writer.
        summary_writer: An `est.MetricWriter` to write to instead.
        scaffold: Must be None (there is no graph to take a summary op from).
        summary_op: The names to write: one or a list of `est.summary.scalar`
            names (or "loss"); default: the loss and every summary.

    Example:
        >>> SummarySaverHook(save_steps=10).steps_until_needed(0)
        1
    """

    def __init__(
        self,
        save_steps: int | None = None,
        save_secs: float | None = None,
        output_dir: str | None = None,
        summary_writer: Any = None,
        scaffold: Any = None,
        summary_op: str | Iterable[str] | None = None,
    ) -> None:
        if scaffold is not None:
            raise ValueError(
                "SummarySaverHook: `scaffold` has no meaning here (there is no graph);"
                " name the summaries with summary_op=[...] or leave it None for all."
            )
        self.timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        if isinstance(summary_op, str):
            summary_op = [summary_op]
        self._names = None if summary_op is None else list(summary_op)
        self._output_dir = output_dir
        self._summary_writer = summary_writer
        self._owned = False

    def after_create_session(self, session: HookSession, coord: Any) -> None:
        super().after_create_session(session, coord)
        self._writer, self._owned = _writer_for(
            session, self._output_dir, self._summary_writer
        )

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        if self._names is None:
            return None
        return SessionRunArgs({name: name for name in self._names})

    def _act(
        self,
        run_context: SessionRunContext,
        run_values: SessionRunValues,
        elapsed: tuple[float | None, int | None],
    ) -> None:
        if self._writer is None:
            return
        if self._names is None:
            values = run_context.session.summaries()
        else:
            values = {k: float(v) for k, v in run_values.results.items()}
        self._writer.write_scalars(run_context.global_step, values)

    def end(self, session: HookSession) -> None:
        if self._owned:  # the Estimator's writer is flushed by the loop
            self._writer.close()


class ProfilerHook(_Periodic):
    """Writes a `jax.profiler` trace of the steps asked, every N steps or seconds.

    Each trace goes to `output_dir/profile-<global_step>/` (TensorBoard's profile
    plugin layout: `plugins/profile/<run>/*.xplane.pb`), where `<global_step>`
    is the (first) step traced. The first step is traced, as in tf (it includes
    the compilation).

    Args:
        save_steps: Trace one step every this many steps.
        save_secs: Or at most every this many seconds (give exactly one).
        output_dir: Where traces go. Default: the current directory.
        show_dataflow: Accepted for tf compatibility (XLA traces show no dataflow).
        show_memory: Also save a device memory profile, `memory-<step>.prof`.

    Example:
        >>> ProfilerHook(save_steps=100).steps_until_needed(0)
        1
    """

    def __init__(
        self,
        save_steps: int | None = None,
        save_secs: float | None = None,
        output_dir: str = "",
        show_dataflow: bool = True,
        show_memory: bool = False,
    ) -> None:
        self.timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        self._output_dir = output_dir or "."
        self._show_memory = show_memory
        self._tracing = False
        self._missed = False

    def steps_until_needed(self, global_step: int) -> int | None:
        # The hook starts a trace before the step it profiles: the group before
        # that step must end where it begins.
        until = super().steps_until_needed(global_step)
        return until if until is None or until == 1 else until - 1

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        local = self._local
        if self.timer.every_steps is not None:
            trace = self._missed or self.timer.steps_until(local) == 1
        else:
            trace = self.timer.due(local, local)
        if trace:
            step = run_context.global_step + 1
            self._path = os.path.join(self._output_dir, f"profile-{step}")
            jax.profiler.start_trace(self._path)
            self._tracing = True
        return SessionRunArgs("loss")

    def after_run(
        self, run_context: SessionRunContext, run_values: SessionRunValues
    ) -> None:
        before, after = self._advance(run_context.global_step)
        if self._tracing:
            _ = run_values.results  # waits for the traced step to finish
            self._stop(run_context.global_step)
            self.timer.update_last_triggered_step(after)
            self._missed = False
        elif self.timer.every_steps is not None:
            # Under a fixed steps_per_execution a call may run past a step asked
            # for without stopping before it: trace the next call instead.
            self._missed = self._missed or self.timer.due(before, after)

    def _stop(self, step: int) -> None:
        jax.profiler.stop_trace()
        self._tracing = False
        logger.info("Saving trace for %d into '%s'.", step, self._path)
        if self._show_memory:
            path = os.path.join(self._output_dir, f"memory-{step}.prof")
            jax.profiler.save_device_memory_profile(path)

    def end(self, session: HookSession) -> None:
        if self._tracing:
            self._stop(session.global_step)


class FinalOpsHook(SessionRunHook):
    """Reads named tensors at the end: `final_ops_values` (the last step's values).

    Args:
        final_ops: A name, or a list or dict of names.
        final_ops_feed_dict: Must be None (the steps take no feeds).

    Example:
        >>> FinalOpsHook({"loss": "loss"}).final_ops_values is None
        True
    """

    def __init__(self, final_ops: Any, final_ops_feed_dict: Any = None) -> None:
        if final_ops_feed_dict is not None:
            raise ValueError(
                "FinalOpsHook: final_ops_feed_dict has no meaning here (the steps "
                "take their inputs from the input_fn only); leave it None."
            )
        fetch_names(final_ops)  # checks every value is a name
        self._final_ops = final_ops
        self._final_ops_values: Any = None

    @property
    def final_ops_values(self) -> Any:
        return self._final_ops_values

    def tensor_names(self) -> tuple[str, ...]:
        return tuple(fetch_names(self._final_ops))

    def end(self, session: HookSession) -> None:
        self._final_ops_values = session.run(self._final_ops)


class FeedFnHook(SessionRunHook):
    """tf's `FeedFnHook` has no counterpart: there are no placeholders to feed.

    Raises:
        NotImplementedError: always, with the port to use instead.
    """

    def __init__(self, feed_fn: Callable[[], Any]) -> None:
        raise NotImplementedError(
            "FeedFnHook: the compiled steps take no feed_dict; their inputs come "
            "from the input_fn. Port the feed_fn to an input_fn returning a "
            "generator of (features, labels) batches, e.g. "
            "`input_fn=lambda: (feed_fn() for _ in itertools.count())`."
        )
