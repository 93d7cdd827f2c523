"""The training loop: fused steps between host actions, hooks, summaries, saves.

`TrainingLoop.run` drives the compiled steps over the groups the feeder prepares
and does, at each group's end, what is due: hooks, the NaN check at logging
boundaries, summaries every `save_summary_steps`, checkpoints every
`save_checkpoints_steps` / `_secs` (with the listeners). Steps run fused (one
`lax.scan` per group) as far as the next of those points; `run_length` computes
how far that is.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np

from estimators import checkpoints, distribute
from estimators.feeder import Group, GroupFeeder
from estimators.hooks import (
    CheckpointSaverListener,
    HookList,
    NanLossDuringTrainingError,
    StepContext,
    crossed,
)
from estimators.input_pipeline import HostBatch, InputPipeline
from estimators.mode_keys import ModeKeys
from estimators.slicing import write_slices
from estimators.steps import StepConfig, train_step, train_steps
from estimators.train_state import TrainState, checkpoint_tree
from estimators.writers import JsonlWriter, MetricWriter, MultiWriter

__all__ = ["SummaryWriters", "TrainingLoop", "longest_run", "run_length"]

logger = logging.getLogger("estimators")

AUTO_MAX_STEPS = 1000
"""The most steps fused in one call when nothing on the host is due sooner."""


class SummaryWriters:
    """The metric writers of one model_dir, shared by training and evaluation.

    `open()` opens (or shares) the JSON-lines writer in model_dir plus
    `config.metric_writers`; each `open()` is paired with a `release()`, and the
    file is closed when the last user releases it (an evaluation inside training
    keeps training's writer open).
    """

    def __init__(self, model_dir: str, extra: Sequence[MetricWriter] = ()) -> None:
        self._model_dir = model_dir
        self._extra = list(extra)
        self._writer: MultiWriter | None = None
        self._users = 0

    def open(self, resumed_step: int | None = None) -> MultiWriter:
        """The shared writer; `resumed_step`: training resumes from that step.

        Points after `resumed_step` that a killed run wrote are dropped from the
        file when it is opened, so the resumed run's points do not duplicate them.
        """
        self._users += 1
        if self._writer is None:
            writers: list[MetricWriter] = []
            if distribute.is_chief():  # the other processes of a multi-host run
                os.makedirs(self._model_dir, exist_ok=True)
                path = os.path.join(self._model_dir, "metrics.jsonl")
                purge = None if resumed_step is None else resumed_step + 1
                writers = [JsonlWriter(path, purge_step=purge), *self._extra]
            self._writer = MultiWriter(writers)
        return self._writer

    def release(self) -> None:
        """Flushes every writer; closes the file when the last user is done.

        The user's writers stay open: they may outlive this call (a tracking run).
        """
        if self._writer is None:
            return
        self._writer.flush()
        self._users -= 1
        if self._users == 0:
            if self._writer.writers:
                self._writer.writers[0].close()
            self._writer = None

    def write_eval(self, results: dict[str, Any], name: str | None) -> None:
        """Writes an evaluation's scalar results under `eval/` (`eval_<name>/`).

        Per-slice results also go to `model_dir/eval[_<name>]/slices-<step>.*`.
        """
        prefix = f"eval_{name}" if name else "eval"
        scalars = {
            f"{prefix}/{k}": v
            for k, v in results.items()
            if k != "global_step" and np.ndim(v) == 0
        }
        writer = self.open()
        try:
            writer.write_scalars(results["global_step"], scalars)
        finally:
            self.release()
        if "slices" in results and distribute.is_chief():
            directory = os.path.join(self._model_dir, prefix)
            write_slices(directory, results["slices"], results["global_step"])


def _periods(config: Any) -> list[int]:
    steps = (
        config.log_step_count_steps,
        config.save_summary_steps,
        config.save_checkpoints_steps,
    )
    return [n for n in steps if n]


def longest_run(config: Any, fuse: bool) -> int:
    """The most steps `run_length` lets run fused, whatever the step and hooks."""
    if config.steps_per_execution is not None:
        return config.steps_per_execution
    return min([AUTO_MAX_STEPS, *_periods(config)]) if fuse else 1


def run_length(config: Any, hooks: HookList, fuse: bool) -> Callable[[int], int]:
    """How many steps may run fused from a global_step, by the config and hooks.

    With `config.steps_per_execution` set, exactly that many (hooks see every
    N-th step); else, with `fuse`, up to the next log, summary or checkpoint step
    and the next step a hook asked to see, at most `AUTO_MAX_STEPS`; without
    `fuse`, one.
    """
    fixed = config.steps_per_execution
    if fixed is not None:
        return lambda step: fixed
    if not fuse:
        return lambda step: 1
    every = _periods(config)

    def length(step: int) -> int:
        limit = AUTO_MAX_STEPS
        for n in every:
            limit = min(limit, n - step % n)
        hook_limit = hooks.steps_until_needed(step)
        return max(1, limit if hook_limit is None else min(limit, hook_limit))

    return length


class TrainingLoop:
    """Runs `train`'s steps from a state until a last step, a stop or the input end.

    Args:
        model_dir: Where checkpoints go.
        config: The `RunConfig`.
        writers: The model_dir's `SummaryWriters`.
        strategy: The `train_distribute` strategy, or None.
    """

    def __init__(
        self, model_dir: str, config: Any, writers: SummaryWriters, strategy: Any
    ) -> None:
        self._model_dir = model_dir
        self._config = config
        self._writers = writers
        self._strategy = strategy
        self._extra: dict[str, Any] = {}
        self._writer: MultiWriter | None = None

    def run(
        self,
        step_config: StepConfig,
        state: TrainState,
        first: HostBatch,
        pipeline: InputPipeline,
        batches: Iterator[HostBatch],
        *,
        hooks: HookList,
        listeners: Sequence[CheckpointSaverListener],
        last_step: int | None,
        extra: dict[str, Any] | None = None,
    ) -> TrainState:
        config, strategy = self._config, self._strategy
        self._extra = dict(extra or {})
        resumed = int(state.step) or None  # a run resumed from a checkpoint
        writer = self._writer = self._writers.open(resumed_step=resumed)
        step = saved_step = int(state.step)
        context = StepContext(
            mode=ModeKeys.TRAIN,
            global_step=step,
            model_dir=self._model_dir,
            last_step=last_step,
            writer=writer,
        )
        context._set_state_source(lambda: state)  # the latest `state` of this loop
        hooks.begin(context)
        for listener in listeners:
            listener.begin()
        last_save_time = time.monotonic()
        fuse = strategy is None and step_config.fuse
        feeder = GroupFeeder(
            first,
            pipeline,
            batches,
            start_step=step,
            last_step=last_step,
            run_length=run_length(config, hooks, fuse=fuse),
            longest=longest_run(config, fuse=fuse),
            place=strategy.shard_batch if strategy else None,
            multiple=strategy.local_device_count if strategy else 1,
        )
        position = None
        agree = strategy.agree_any if strategy is not None else bool
        groups = iter(feeder)
        try:
            while True:
                group = next(groups, None)
                # Every process stops together: when any one's input ends, or
                # (below) when a hook or listener on any one asked to stop.
                if agree(group is None):
                    if group is None and feeder.input_exhausted:
                        # A finite input was read to its end: the next train()
                        # starts a new pass over it, as in tf.
                        position, saved_step = None, None
                    break
                hooks.before_step(context)
                step_config = step_config.with_fetches(context.fetches)
                state, outputs, fetched = _run_group(step_config, state, group)
                previous, step, position = step, step + group.size, group.position
                context.global_step = step
                context._set_outputs(outputs, fetched)
                hooks.after_step(context)
                if crossed(previous, step, config.log_step_count_steps):
                    check_finite(state)
                if crossed(previous, step, config.save_summary_steps):
                    writer.write_scalars(step, context.outputs)
                due = crossed(previous, step, config.save_checkpoints_steps) or (
                    config.save_checkpoints_secs is not None
                    and time.monotonic() - last_save_time
                    >= config.save_checkpoints_secs
                )
                if due:
                    if self.save(state, position, listeners):
                        context.request_stop()
                    saved_step, last_save_time = step, time.monotonic()
                if agree(context.stop_requested):
                    context.request_stop()
                    break
            if step != saved_step:
                self.save(state, position, listeners)
            else:
                check_finite(state)
        except KeyboardInterrupt:
            self._save_on_interrupt(state, step, saved_step, position, listeners)
            raise
        finally:
            feeder.close()
            self._writers.release()
        hooks.end(context)
        for listener in listeners:
            listener.end(step)
        return state

    def _save_on_interrupt(
        self,
        state: TrainState,
        step: int,
        saved_step: int | None,
        position: Any,
        listeners: Sequence[CheckpointSaverListener],
    ) -> None:
        """Keeps the steps trained before Ctrl-C, when the state is intact."""
        if step == saved_step:
            return
        try:
            path = self.save(state, position, listeners)
        except Exception as e:  # the state of an interrupted call may be gone
            logger.warning(
                "Interrupted at step %d; no checkpoint written (%s).", step, e
            )
            return
        if path is not None:
            logger.warning("Interrupted: saved a checkpoint for step %d.", step)

    def save(
        self,
        state: TrainState,
        position: Any,
        listeners: Sequence[CheckpointSaverListener],
    ) -> bool:
        """Writes a checkpoint of `state` (on the chief); True if a listener stops."""
        step = int(state.step)
        check_finite(state)
        if not distribute.is_chief():  # only the chief of a multi-host run writes
            return False
        for listener in listeners:
            listener.before_save(step)
        if self._writer is not None:  # every point up to the checkpoint is durable
            self._writer.flush()
        path = checkpoints.save_checkpoint(
            self._model_dir,
            step,
            jax.device_get(checkpoint_tree(state)),
            extra={
                "input_position": position,
                "random_seed": self._config.seed,
                **self._extra,
            },
            keep_checkpoint_max=self._config.keep_checkpoint_max,
            keep_checkpoint_every_n_hours=self._config.keep_checkpoint_every_n_hours,
        )
        logger.info("Saving checkpoints for %d into %s.", step, path)
        return any([bool(listener.after_save(step, path)) for listener in listeners])


def check_finite(state: TrainState) -> None:
    """Raises `NanLossDuringTrainingError` if a loss, parameter or optimizer-state
    value so far was not finite, naming the first non-finite leaf."""
    nan_step = int(state.nan_step)
    if nan_step >= 0:
        raise NanLossDuringTrainingError(nan_step, _first_non_finite(state))


def _first_non_finite(state: TrainState) -> str | None:
    tree = {"variables": state.variables, "opt_state": state.opt_state}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        value = np.asarray(leaf)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return checkpoints.path_name(path)
    return None


def _run_group(
    config: StepConfig, state: TrainState, group: Group
) -> tuple[TrainState, Any, Any]:
    if group.stacked:
        return train_steps(config, state, group.batches, np.int32(group.size))
    return train_step(config, state, group.batches)
