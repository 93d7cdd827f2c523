"""`RunConfig`: where and how an Estimator runs, with tf.estimator's defaults."""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import jax

from estimators._compat import TFCompatWarning, warn_tf_spelling

logger = logging.getLogger("estimators")

__all__ = ["RunConfig"]

# tf.estimator 2.15 arguments with no meaning on JAX: their tf default and what
# happens instead when another value is given.
_TF_ONLY = {
    "session_config": (None, "there are no tf.Sessions; it is ignored"),
    "device_fn": (
        None,
        "jax places arrays; it is ignored (use `train_distribute` to shard batches)",
    ),
    "protocol": (None, "there is no tf server; it is ignored"),
    "experimental_distribute": (
        None,
        "it is ignored; give `train_distribute` / `eval_distribute` instead",
    ),
    "experimental_max_worker_delay_secs": (
        None,
        "workers train in lock-step (no asynchronous workers); it is ignored",
    ),
    "session_creation_timeout_secs": (7200, "there are no sessions; it is ignored"),
    "checkpoint_save_graph_def": (
        True,
        "checkpoints hold arrays only (no graph); it is ignored",
    ),
}


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
            `lax.scan` over stacked batches); hooks see every N-th step. None
            (default): automatic, the steps up to the next log, summary,
            checkpoint or step a hook asked to see run fused (at most 1000);
            1 runs every step on its own.
        metric_writers: Extra `MetricWriter`s receiving every summary.
        tf_random_seed: tf.estimator's name of `random_seed` (give one of the
            two); `config.tf_random_seed` reads the same seed.
        session_config, device_fn, protocol, experimental_distribute,
            experimental_max_worker_delay_secs, session_creation_timeout_secs,
            checkpoint_save_graph_def: tf.estimator arguments with no meaning on
            JAX, accepted so that tf configs run unchanged; a value other than
            tf's default gives one `TFCompatWarning` saying it is ignored.
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
    steps_per_execution: int | None = None
    metric_writers: Sequence[Any] = ()
    tf_random_seed: int | None = dataclasses.field(default=None, repr=False)
    session_config: Any = dataclasses.field(default=None, repr=False)
    device_fn: Any = dataclasses.field(default=None, repr=False)
    protocol: str | None = dataclasses.field(default=None, repr=False)
    experimental_distribute: Any = dataclasses.field(default=None, repr=False)
    experimental_max_worker_delay_secs: int | None = dataclasses.field(
        default=None, repr=False
    )
    session_creation_timeout_secs: int = dataclasses.field(default=7200, repr=False)
    checkpoint_save_graph_def: bool = dataclasses.field(default=True, repr=False)
    progress: bool | str = "auto"

    def __post_init__(self) -> None:
        self._check_tf_spellings()
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
        if self.steps_per_execution is not None and (
            not isinstance(self.steps_per_execution, int)
            or self.steps_per_execution < 1
        ):
            raise ValueError(
                "RunConfig: `steps_per_execution` must be an int >= 1 or None, got "
                f"{self.steps_per_execution!r}."
            )
        object.__setattr__(self, "metric_writers", tuple(self.metric_writers))
        if self.progress not in (True, False, "auto", "bar", "lines"):
            raise ValueError(
                "RunConfig: `progress` must be True, False, 'auto', 'bar' or "
                f"'lines', got {self.progress!r}."
            )

    def _check_tf_spellings(self) -> None:
        if self.tf_random_seed is not None:
            if self.random_seed is None:
                warn_tf_spelling(
                    "RunConfig",
                    "tf_random_seed",
                    f"it is `random_seed`, set to {self.tf_random_seed}",
                )
                object.__setattr__(self, "random_seed", self.tf_random_seed)
            elif self.random_seed != self.tf_random_seed:
                raise ValueError(
                    "RunConfig: `tf_random_seed` is `random_seed`; give one of them, "
                    f"got {self.tf_random_seed} and {self.random_seed}."
                )
        object.__setattr__(self, "tf_random_seed", self.random_seed)
        for name, (default, instead) in _TF_ONLY.items():
            if getattr(self, name) != default:
                warn_tf_spelling("RunConfig", name, instead)

    # tf.estimator's read-only cluster properties, from jax.distributed's view:
    # one process per host, process 0 the chief; no parameter servers.

    @property
    def is_chief(self) -> bool:
        """Whether this process writes checkpoints and summaries (process 0)."""
        return jax.process_index() == 0

    @property
    def task_id(self) -> int:
        """This process's index (`jax.process_index()`)."""
        return jax.process_index()

    @property
    def global_id_in_cluster(self) -> int:
        """This process's index among all processes, as `task_id`."""
        return jax.process_index()

    @property
    def num_worker_replicas(self) -> int:
        """How many processes train (`jax.process_count()`)."""
        return jax.process_count()

    @property
    def num_ps_replicas(self) -> int:
        """Always 0: there are no parameter servers."""
        return 0

    @property
    def task_type(self) -> str:
        """The task type: "chief" for process 0 of a multi-process run, else
        "worker" (tf's value without a cluster)."""
        return "chief" if self.is_chief and jax.process_count() > 1 else "worker"

    @property
    def master(self) -> str:
        """Always "": there is no tf server."""
        return ""

    @property
    def evaluation_master(self) -> str:
        """Always "": there is no tf server."""
        return ""

    @property
    def cluster_spec(self) -> dict[str, Any]:
        """Always {}: processes are found by jax.distributed, not a ClusterSpec."""
        return {}

    @property
    def service(self) -> None:
        """Always None: there is no tf service."""
        return None

    @property
    def seed(self) -> int:
        """The effective random seed."""
        return 0 if self.random_seed is None else int(self.random_seed)

    def resolve_model_dir(self, model_dir: str | os.PathLike[str] | None) -> str:
        """The model_dir an Estimator uses: `model_dir`, else this config's, else
        a new temporary folder (with a warning, as tf did).

        Example:
            >>> RunConfig(model_dir="/tmp/m").resolve_model_dir(None)
            '/tmp/m'
        """
        model_dir = os.fspath(model_dir) if model_dir is not None else None
        if model_dir and self.model_dir and model_dir != self.model_dir:
            raise ValueError(
                f"`model_dir` ({model_dir!r}) and `config.model_dir` "
                f"({self.model_dir!r}) differ; give one of them."
            )
        model_dir = model_dir or self.model_dir
        if model_dir is None:
            model_dir = tempfile.mkdtemp(prefix="estimator-")
            logger.warning("Using temporary folder as model directory: %s", model_dir)
        return model_dir

    def replace(self, **kwargs: Any) -> RunConfig:
        """Returns a copy with the given fields changed.

        Example:
            >>> RunConfig().replace(model_dir="/tmp/m").model_dir
            '/tmp/m'
        """
        if "save_checkpoints_steps" in kwargs and "save_checkpoints_secs" not in kwargs:
            kwargs["save_checkpoints_secs"] = None
        if "tf_random_seed" in kwargs:
            kwargs.setdefault("random_seed", None)
        elif "random_seed" in kwargs:
            kwargs["tf_random_seed"] = None
        with warnings.catch_warnings():
            # the tf spellings already warned when this config was built
            if not set(kwargs) & {"tf_random_seed", *_TF_ONLY}:
                warnings.simplefilter("ignore", TFCompatWarning)
            return dataclasses.replace(self, **kwargs)
