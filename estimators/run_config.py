"""`RunConfig`: where and how an Estimator runs, with tf.estimator's defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

__all__ = ["RunConfig"]


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Run-time settings of an Estimator.

    Field names and defaults follow tf.estimator.RunConfig. When
    `save_checkpoints_steps` is given, `save_checkpoints_secs` is turned off (as in
    tf); giving both is an error.

    Args:
        model_dir: Where checkpoints and summaries go.
        random_seed: Seed of parameter initialisation and dropout; `None` means 0,
            so runs are reproducible by default.
        save_summary_steps: Write summaries every this many steps.
        save_checkpoints_steps: Save a checkpoint every this many steps.
        save_checkpoints_secs: Save a checkpoint every this many seconds.
        keep_checkpoint_max: How many recent checkpoints to keep (0/None: all).
        keep_checkpoint_every_n_hours: Also keep one checkpoint per this many hours.
        log_step_count_steps: Log loss and global_step/sec every this many steps.
        train_distribute: A distribution strategy for training (or None).
        eval_distribute: A distribution strategy for evaluation (or None).
        steps_per_execution: Training steps run inside one compiled call (a
            `lax.scan` over stacked batches); hooks see every N-th step.
        metric_writers: Extra `MetricWriter`s receiving every summary.
        progress: `train`'s progress display (`est.ProgressHook`): "auto" or
            True (a live bar on a terminal, a plain line every 10 s elsewhere),
            "bar", "lines", or False (none).

    Example:
        >>> RunConfig(save_checkpoints_steps=100).save_checkpoints_secs is None
        True
    """

    model_dir: str | None = None
    random_seed: int | None = None
    save_summary_steps: int = 100
    save_checkpoints_steps: int | None = None
    save_checkpoints_secs: float | None = 600
    keep_checkpoint_max: int | None = 5
    keep_checkpoint_every_n_hours: float = 10000
    log_step_count_steps: int | None = 100
    train_distribute: Any = None
    eval_distribute: Any = None
    steps_per_execution: int = 1
    metric_writers: Sequence[Any] = ()
    progress: bool | str = "auto"

    def __post_init__(self) -> None:
        if self.save_checkpoints_steps is not None:
            if self.save_checkpoints_secs not in (None, 600):
                raise ValueError(
                    "RunConfig: give at most one of `save_checkpoints_steps` and "
                    f"`save_checkpoints_secs`, got {self.save_checkpoints_steps} and "
                    f"{self.save_checkpoints_secs}."
                )
            object.__setattr__(self, "save_checkpoints_secs", None)
        for name in (
            "save_summary_steps",
            "save_checkpoints_steps",
            "log_step_count_steps",
            "keep_checkpoint_max",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(
                    f"RunConfig: `{name}` must be a non-negative int, got {value!r}."
                )
        if (
            not isinstance(self.steps_per_execution, int)
            or self.steps_per_execution < 1
        ):
            raise ValueError(
                "RunConfig: `steps_per_execution` must be an int >= 1, got "
                f"{self.steps_per_execution!r}."
            )
        object.__setattr__(self, "metric_writers", tuple(self.metric_writers))
        if self.progress not in (True, False, "auto", "bar", "lines"):
            raise ValueError(
                "RunConfig: `progress` must be True, False, 'auto', 'bar' or "
                f"'lines', got {self.progress!r}."
            )

    @property
    def seed(self) -> int:
        """The effective random seed."""
        return 0 if self.random_seed is None else int(self.random_seed)

    def replace(self, **kwargs: Any) -> RunConfig:
        """Returns a copy with the given fields changed.

        Example:
            >>> RunConfig().replace(model_dir="/tmp/m").model_dir
            '/tmp/m'
        """
        if "save_checkpoints_steps" in kwargs and "save_checkpoints_secs" not in kwargs:
            kwargs["save_checkpoints_secs"] = None
        return dataclasses.replace(self, **kwargs)
