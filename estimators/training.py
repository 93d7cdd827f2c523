"""`train_and_evaluate`: train, evaluating and exporting as training goes.

As tf.estimator's local mode: one `train` call runs; every checkpoint it saves is
evaluated before the next training step (at most once per `throttle_secs`), and
the exporters of the `EvalSpec` run after each evaluation. An `EvalSpec` with
`every_n_steps` is evaluated on that cadence instead, on the parameters in
memory (no checkpoint needed). Several named `EvalSpec`s may be given, each on
its own cadence. When training ends (at `max_steps`, at the end of the input, or
when a hook such as an early-stopping hook stops it) the final parameters are
evaluated (before the training hooks' `end`, so early stopping sees that
evaluation too), and the model_dir's latest checkpoint (the best one, after an
`est.EarlyStopping` restored it) is exported with `is_the_final_export=True`.
Exports go to `model_dir/export/<exporter name>/`.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import os
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from estimators import checkpoints
from estimators.estimator import Estimator
from estimators.exporters import EvalResult, Exporter
from estimators.hooks import CheckpointSaverListener, Hook, StepContext, crossed
from estimators.in_memory import evaluate_state, save_state
from estimators.typing import InputFn
from estimators.validation import check_positive_int

__all__ = ["EvalSpec", "TrainSpec", "train_and_evaluate"]

logger = logging.getLogger("estimators")


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """What `train_and_evaluate` trains on and for how long.

    Args:
        input_fn: The training input_fn (see `Estimator.train`).
        max_steps: Train until the global step reaches this; None: until the input
            ends or a hook stops training.
        hooks: `est.Hook`s run during training, e.g. early-stopping hooks.
        saving_listeners: `est.CheckpointSaverListener`s run around each save.

    Example:
        >>> TrainSpec(input_fn=lambda: ({"x": [[1.0]]}, [0]), max_steps=100).max_steps
        100
    """

    input_fn: InputFn
    max_steps: int | None = None
    hooks: Sequence[Hook] = ()
    saving_listeners: Sequence[CheckpointSaverListener] = ()

    def __post_init__(self) -> None:
        _check_callable("TrainSpec", "input_fn", self.input_fn)
        check_positive_int("max_steps", self.max_steps, owner="TrainSpec")
        _set_instances(self, "TrainSpec", "hooks", Hook)
        _set_instances(self, "TrainSpec", "saving_listeners", CheckpointSaverListener)


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """How `train_and_evaluate` evaluates and exports during training.

    Args:
        input_fn: The evaluation input_fn (see `Estimator.evaluate`).
        steps: Evaluate at most this many batches; None: the whole input.
            Default 100.
        name: The evaluation's name; results are recorded as `eval_<name>/<key>`.
        hooks: `est.Hook`s run during each evaluation.
        exporters: An `Exporter` or a sequence of them, with distinct names.
        start_delay_secs: Accepted for tf compatibility; as in tf's local mode, the
            first checkpoint is evaluated without delay. Default 120.
        throttle_secs: Skip evaluating a checkpoint saved less than this many
            seconds after the start of the last evaluation (the final checkpoint
            is always evaluated). Default 600.
        every_n_steps: Evaluate every this many global steps (at the multiples
            of it), on the parameters in memory, instead of each checkpoint;
            `throttle_secs` then does not apply. None (the default): evaluate
            the checkpoints.

    Example:
        >>> EvalSpec(input_fn=lambda: ({"x": [[1.0]]}, [0]), throttle_secs=0).steps
        100
    """

    input_fn: InputFn
    steps: int | None = 100
    name: str | None = None
    hooks: Sequence[Hook] = ()
    exporters: Exporter | Sequence[Exporter] = ()
    start_delay_secs: float = 120
    throttle_secs: float = 600
    every_n_steps: int | None = None

    def __post_init__(self) -> None:
        _check_callable("EvalSpec", "input_fn", self.input_fn)
        check_positive_int("steps", self.steps, owner="EvalSpec")
        check_positive_int("every_n_steps", self.every_n_steps, owner="EvalSpec")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise ValueError(
                f"EvalSpec: `name` must be a non-empty str or None, got {self.name!r}."
            )
        for field in ("start_delay_secs", "throttle_secs"):
            value = getattr(self, field)
            if (
                not isinstance(value, numbers.Real)
                or isinstance(value, bool)
                or value < 0
            ):
                raise ValueError(f"EvalSpec: `{field}` must be >= 0, got {value!r}.")
        _set_instances(self, "EvalSpec", "hooks", Hook)
        if isinstance(self.exporters, Exporter):
            object.__setattr__(self, "exporters", (self.exporters,))
        _set_instances(self, "EvalSpec", "exporters", Exporter)
        names = [exporter.name for exporter in self.exporters]
        if len(set(names)) != len(names):
            raise ValueError(
                f"EvalSpec: `exporters` must have distinct names, got {names}."
            )


def _check_callable(kind: str, field: str, value: Any) -> None:
    if not callable(value):
        raise TypeError(
            f"{kind}: `{field}` must be callable, got {type(value).__name__}."
        )


def _set_instances(spec: Any, kind: str, field: str, cls: type) -> None:
    """Stores `spec.<field>` as a tuple, checking every item is a `cls`."""
    items = getattr(spec, field)
    items = () if items is None else tuple(items)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise TypeError(
                f"{kind}: `{field}[{i}]` must be an est.{cls.__name__}, got "
                f"{type(item).__name__}."
            )
    object.__setattr__(spec, field, items)


def train_and_evaluate(
    estimator: Estimator,
    train_spec: TrainSpec,
    eval_spec: EvalSpec | Sequence[EvalSpec],
) -> tuple[Any, Any]:
    """Trains `estimator`, evaluating and exporting during training.

    Checkpoints come from the estimator's `RunConfig` (`save_checkpoints_steps`
    or `save_checkpoints_secs`); an `EvalSpec` without `every_n_steps` is
    evaluated at each checkpoint, so with neither it is evaluated only at the
    end. Evaluation results are recorded in `model_dir/metrics.jsonl` as
    `evaluate` records them (`eval_<name>/<key>`), where early-stopping hooks
    (`est.EarlyStopping`, `est.stop_if_no_decrease_hook`, ...) read them.

    Args:
        estimator: The Estimator to train.
        train_spec: A `TrainSpec`.
        eval_spec: An `EvalSpec`, or a list of them with distinct names (tf's
            long-requested several evaluation sets), each on its own cadence.

    Returns:
        For one `EvalSpec`, `(eval_result, export_results)` of the final
        evaluation: the metrics dict and one result per exporter (an export
        path, or None when it did not export). For a list, the same keyed by
        `EvalSpec.name`: `({name: eval_result}, {name: export_results})`.

    Example:
        >>> train_spec = TrainSpec(train_input_fn, max_steps=1000)  # doctest: +SKIP
        >>> eval_specs = [  # doctest: +SKIP
        ...     EvalSpec(val_input_fn, name="val", every_n_steps=100),
        ...     EvalSpec(test_input_fn, name="test", exporters=LatestExporter("s")),
        ... ]
        >>> results, exports = train_and_evaluate(  # doctest: +SKIP
        ...     classifier, train_spec, eval_specs
        ... )
        >>> results["val"]["loss"]  # doctest: +SKIP
    """
    if not isinstance(estimator, Estimator):
        raise TypeError(
            f"`estimator` must be an est.Estimator, got {type(estimator).__name__}."
        )
    if not isinstance(train_spec, TrainSpec):
        raise TypeError(
            f"`train_spec` must be an est.TrainSpec, got {type(train_spec).__name__}."
        )
    specs = _eval_specs(eval_spec)
    config = estimator.config
    if (
        config.save_checkpoints_steps is None
        and config.save_checkpoints_secs is None
        and any(spec.every_n_steps is None for spec in specs)
    ):
        logger.info("No periodic checkpoints configured: evaluating only at the end.")
    evaluations = _Evaluations(estimator, specs)
    estimator.train(
        train_spec.input_fn,
        max_steps=train_spec.max_steps,
        # First, so that the hooks after it see each evaluation when it is made.
        hooks=[evaluations, *train_spec.hooks],
        saving_listeners=[*train_spec.saving_listeners, _EvalListener(evaluations)],
    )
    finals = evaluations.finish()
    if isinstance(eval_spec, EvalSpec):
        return finals[eval_spec.name]
    return (
        {name: result for name, (result, _) in finals.items()},
        {name: exports for name, (_, exports) in finals.items()},
    )


def _eval_specs(eval_spec: Any) -> tuple[EvalSpec, ...]:
    """`eval_spec` as a tuple of EvalSpecs with distinct names and exporters."""
    if isinstance(eval_spec, EvalSpec):
        return (eval_spec,)
    if isinstance(eval_spec, str | bytes) or not isinstance(eval_spec, Sequence):
        raise TypeError(
            "`eval_spec` must be an est.EvalSpec or a list of them, got "
            f"{type(eval_spec).__name__}."
        )
    specs = tuple(eval_spec)
    if not specs:
        raise ValueError("`eval_spec` must hold at least one est.EvalSpec, got [].")
    for i, spec in enumerate(specs):
        if not isinstance(spec, EvalSpec):
            raise TypeError(
                f"`eval_spec[{i}]` must be an est.EvalSpec, got {type(spec).__name__}."
            )
    names = [spec.name for spec in specs]
    if len(specs) > 1 and (None in names or len(set(names)) != len(names)):
        raise ValueError(
            "several EvalSpecs need distinct names (their results are recorded "
            f"and returned by name), got names {names}; give each EvalSpec(name=...)."
        )
    exporters = [e.name for spec in specs for e in spec.exporters]
    if len(set(exporters)) != len(exporters):
        raise ValueError(
            "the EvalSpecs' exporters must have distinct names (each exports to "
            f"model_dir/export/<name>), got {exporters}."
        )
    return specs


class _SpecEvaluations:
    """One EvalSpec's evaluations and exports during one `train_and_evaluate`."""

    def __init__(self, estimator: Estimator, spec: EvalSpec) -> None:
        self.estimator = estimator
        self.spec = spec
        self.pending: str | None = None  # a saved checkpoint to evaluate
        self.results: dict[int, EvalResult] = {}  # by global_step, this run
        self._last_start: float | None = None

    def saved(self, step: int, path: str) -> None:
        if self.spec.every_n_steps is not None:
            return
        throttle = self.spec.throttle_secs
        if self._last_start is None or time.monotonic() - self._last_start >= throttle:
            self.pending = path
        else:
            self.pending = None
            logger.info(
                "Skipping the evaluation of step %d: less than throttle_secs (%s) "
                "since the last one.",
                step,
                throttle,
            )

    def evaluate_checkpoint(self, path: str) -> EvalResult:
        self._last_start = time.monotonic()
        spec = self.spec
        result = self.estimator.evaluate(
            spec.input_fn,
            steps=spec.steps,
            hooks=spec.hooks,
            checkpoint_path=path,
            name=spec.name,
        )
        return self._record(result)

    def evaluate_state(self, context: StepContext) -> EvalResult:
        self._last_start = time.monotonic()
        spec = self.spec
        result = evaluate_state(
            self.estimator,
            context.train_state(),
            spec.input_fn,
            steps=spec.steps,
            hooks=spec.hooks,
            name=spec.name,
        )
        return self._record(result)

    def _record(self, result: EvalResult) -> EvalResult:
        self.results[int(result["global_step"])] = result
        logger.info(
            "Evaluation %s of step %d: %s",
            self.spec.name or "",
            result["global_step"],
            result,
        )
        return result

    def export(self, path: str, result: EvalResult, *, final: bool) -> list[Any]:
        estimator = self.estimator
        return [
            exporter.export(
                estimator,
                os.path.join(estimator.model_dir, "export", exporter.name),
                path,
                result,
                final,
            )
            for exporter in self.spec.exporters
        ]

    def export_state(self, context: StepContext, result: EvalResult) -> None:
        """Exports the in-memory parameters through a checkpoint made for it."""
        if not self.spec.exporters:
            return
        with tempfile.TemporaryDirectory(prefix="estimators-export-") as tmp:
            extra = {
                "random_seed": self.estimator.config.seed,
                **self.estimator.runner.checkpoint_extra(),
            }
            path = save_state(tmp, context.train_state(), extra=extra)
            self.export(path, result, final=False)

    def finish(self) -> tuple[EvalResult, list[Any]]:
        path = self.estimator.latest_checkpoint()
        if path is None:
            raise ValueError(
                f"train_and_evaluate: no checkpoint in {self.estimator.model_dir!r} "
                "after training; did `train_spec.input_fn` give any data?"
            )
        result = self.results.get(checkpoints.checkpoint_step(path))
        if result is None:
            result = self.evaluate_checkpoint(path)
        return result, self.export(path, result, final=True)


class _Evaluations(Hook):
    """Runs every EvalSpec's evaluations at their points of the training loop.

    A saved checkpoint is evaluated before the next training step, so that one
    with no next step is evaluated only once, as the final one; `every_n_steps`
    evaluations run after the step that reaches them; the final evaluation runs
    in `end`, after the last checkpoint and before the other hooks' `end`.
    """

    def __init__(self, estimator: Estimator, specs: Sequence[EvalSpec]) -> None:
        self.specs = [_SpecEvaluations(estimator, spec) for spec in specs]
        self._step = 0

    def begin(self, context: StepContext) -> None:
        self._step = context.global_step

    def before_step(self, context: StepContext) -> None:
        for evaluations in self.specs:
            if evaluations.pending is not None:
                path, evaluations.pending = evaluations.pending, None
                result = evaluations.evaluate_checkpoint(path)
                evaluations.export(path, result, final=False)

    def after_step(self, context: StepContext) -> None:
        previous, self._step = self._step, context.global_step
        for evaluations in self.specs:
            if crossed(previous, self._step, evaluations.spec.every_n_steps):
                result = evaluations.evaluate_state(context)
                evaluations.export_state(context, result)

    def end(self, context: StepContext) -> None:
        for evaluations in self.specs:
            evaluations.pending = None
            if context.global_step not in evaluations.results:
                evaluations.evaluate_state(context)

    def steps_until_needed(self, global_step: int) -> int | None:
        # Checkpoint evaluations follow saves, which end a fused run anyway.
        every = [e.spec.every_n_steps for e in self.specs if e.spec.every_n_steps]
        return min(n - global_step % n for n in every) if every else None

    def saved(self, step: int, path: str) -> None:
        for evaluations in self.specs:
            evaluations.saved(step, path)

    def finish(self) -> dict[str | None, tuple[EvalResult, list[Any]]]:
        return {e.spec.name: e.finish() for e in self.specs}


class _EvalListener(CheckpointSaverListener):
    def __init__(self, evaluations: _Evaluations) -> None:
        self._evaluations = evaluations

    def after_save(self, global_step: int, path: str) -> None:
        self._evaluations.saved(global_step, path)
