"""`train_and_evaluate`: train, evaluating and exporting each new checkpoint.

As tf.estimator's local mode: one `train` call runs; every checkpoint it saves is
evaluated before the next training step (at most once per `throttle_secs`), and
the exporters of the `EvalSpec` run after each evaluation. When training ends (at
`max_steps`, at the end of the input, or when a hook such as an early-stopping
hook stops it) the last checkpoint is evaluated and exported once more with
`is_the_final_export=True`. Exports go to `model_dir/export/<exporter name>/`.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
import logging
import numbers
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from estimators import checkpoints
from estimators.early_stopping import read_eval_metrics
from estimators.estimator import Estimator
from estimators.hooks import CheckpointSaverListener, Hook, StepContext
from estimators.typing import InputFn
from estimators.validation import check_positive_int, is_int

__all__ = [
    "BestExporter",
    "EvalSpec",
    "Exporter",
    "FinalExporter",
    "LatestExporter",
    "TrainSpec",
    "loss_smaller",
    "train_and_evaluate",
]

logger = logging.getLogger("estimators")

EvalResult = Mapping[str, Any]


def loss_smaller(best_eval_result: EvalResult, current_eval_result: EvalResult) -> bool:
    """Whether `current_eval_result` has a smaller "loss"; `BestExporter`'s default.

    Example:
        >>> loss_smaller({"loss": 0.5}, {"loss": 0.25})
        True
    """
    for name, result in (
        ("best_eval_result", best_eval_result),
        ("current_eval_result", current_eval_result),
    ):
        if not result or "loss" not in result:
            raise ValueError(f"`{name}` has no 'loss' to compare, got {result!r}.")
    return best_eval_result["loss"] > current_eval_result["loss"]


class Exporter(abc.ABC):
    """Exports a model after an evaluation in `train_and_evaluate`.

    Subclasses name themselves (`name`, the folder under `model_dir/export/`) and
    implement `export`.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The exporter's name: its folder under `model_dir/export/`."""

    @abc.abstractmethod
    def export(
        self,
        estimator: Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: EvalResult,
        is_the_final_export: bool,
    ) -> Any:
        """Exports `checkpoint_path` under `export_path`; returns e.g. its path.

        Args:
            estimator: The Estimator being trained.
            export_path: `model_dir/export/<name>`; timestamped exports go inside.
            checkpoint_path: The checkpoint just evaluated.
            eval_result: Its evaluation results (with `global_step`).
            is_the_final_export: Whether training has ended.
        """


class _SavedModelExporter(Exporter, abc.ABC):
    """Writes `estimator.export_saved_model` exports, keeping the newest few."""

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable[[], Any] | None,
        exports_to_keep: int | None,
    ) -> None:
        kind = type(self).__name__
        if not isinstance(name, str) or not name or name in (".", ".."):
            raise ValueError(f"{kind}: `name` must be a non-empty str, got {name!r}.")
        if "/" in name or os.sep in name:
            raise ValueError(f"{kind}: `name` must be one folder name, got {name!r}.")
        if serving_input_receiver_fn is not None and not callable(
            serving_input_receiver_fn
        ):
            raise TypeError(
                f"{kind}: `serving_input_receiver_fn` must be callable or None, got "
                f"{type(serving_input_receiver_fn).__name__}."
            )
        if exports_to_keep is not None and (
            not is_int(exports_to_keep) or exports_to_keep <= 0
        ):
            raise ValueError(
                f"{kind}: `exports_to_keep` must be an int > 0 or None, got "
                f"{exports_to_keep!r}."
            )
        self._name = name
        self._serving_input_receiver_fn = serving_input_receiver_fn
        self._exports_to_keep = exports_to_keep

    @property
    def name(self) -> str:
        return self._name

    def _export(self, estimator: Estimator, export_path: str, checkpoint: str) -> str:
        path = estimator.export_saved_model(
            export_path, self._serving_input_receiver_fn, checkpoint_path=checkpoint
        )
        if self._exports_to_keep is not None:
            _remove_older_exports(export_path, self._exports_to_keep)
        return path


def _remove_older_exports(export_path: str, keep: int) -> None:
    """Deletes all but the `keep` newest timestamped exports in `export_path`."""
    stamps = sorted(int(n) for n in os.listdir(export_path) if n.isdigit())
    for stamp in stamps[: max(len(stamps) - keep, 0)]:
        shutil.rmtree(os.path.join(export_path, str(stamp)), ignore_errors=True)


class LatestExporter(_SavedModelExporter):
    """Exports after every evaluation, keeping the `exports_to_keep` newest.

    Args:
        name: The folder under `model_dir/export/`.
        serving_input_receiver_fn: As in `Estimator.export_saved_model`; default:
            records of the estimator's feature columns.
        exports_to_keep: How many exports to keep; None keeps all. Default 5.

    Example:
        >>> LatestExporter("serving", exports_to_keep=3).name
        'serving'
    """

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable[[], Any] | None = None,
        exports_to_keep: int | None = 5,
    ) -> None:
        super().__init__(name, serving_input_receiver_fn, exports_to_keep)

    def export(
        self,
        estimator: Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: EvalResult,
        is_the_final_export: bool,
    ) -> str:
        return self._export(estimator, export_path, checkpoint_path)


class FinalExporter(_SavedModelExporter):
    """Exports once, after the final evaluation.

    Args:
        name: The folder under `model_dir/export/`.
        serving_input_receiver_fn: As in `Estimator.export_saved_model`.

    Example:
        >>> FinalExporter("final").name
        'final'
    """

    def __init__(
        self, name: str, serving_input_receiver_fn: Callable[[], Any] | None = None
    ) -> None:
        super().__init__(name, serving_input_receiver_fn, None)

    def export(
        self,
        estimator: Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: EvalResult,
        is_the_final_export: bool,
    ) -> str | None:
        if not is_the_final_export:
            return None
        return self._export(estimator, export_path, checkpoint_path)


class BestExporter(_SavedModelExporter):
    """Exports only when an evaluation beats the best one so far.

    The best so far starts as the best evaluation already recorded in the
    model_dir (so a resumed run keeps its standard), not counting the evaluation
    being exported.

    Args:
        name: The folder under `model_dir/export/`. Default "best_exporter".
        serving_input_receiver_fn: As in `Estimator.export_saved_model`.
        compare_fn: `compare_fn(best_eval_result=..., current_eval_result=...)`
            returns whether the current result is better. Default `loss_smaller`.
        exports_to_keep: How many exports to keep; None keeps all. Default 5.
        eval_name: The name of the evaluation whose recorded results seed the
            best (`EvalSpec.name`); default None, the unnamed evaluation.

    Example:
        >>> BestExporter(compare_fn=loss_smaller).name
        'best_exporter'
    """

    def __init__(
        self,
        name: str = "best_exporter",
        serving_input_receiver_fn: Callable[[], Any] | None = None,
        compare_fn: Callable[..., bool] = loss_smaller,
        exports_to_keep: int | None = 5,
        *,
        eval_name: str | None = None,
    ) -> None:
        super().__init__(name, serving_input_receiver_fn, exports_to_keep)
        _check_compare_fn(compare_fn)
        if eval_name is not None and (not isinstance(eval_name, str) or not eval_name):
            raise ValueError(
                f"BestExporter: `eval_name` must be a non-empty str or None, got "
                f"{eval_name!r}."
            )
        self._compare_fn = compare_fn
        self._eval_name = eval_name
        self._model_dir: str | None = None
        self._best: EvalResult | None = None

    def export(
        self,
        estimator: Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: EvalResult,
        is_the_final_export: bool,
    ) -> str | None:
        if self._model_dir != estimator.model_dir:
            self._model_dir = estimator.model_dir
            self._best = self._best_recorded(eval_result.get("global_step"))
        if self._best is not None and not self._compare_fn(
            best_eval_result=self._best, current_eval_result=eval_result
        ):
            return None
        logger.info("Performing best model export.")
        self._best = dict(eval_result)
        return self._export(estimator, export_path, checkpoint_path)

    def _best_recorded(self, current_step: int | None) -> EvalResult | None:
        best = None
        for step, metrics in read_eval_metrics(
            self._model_dir, self._eval_name
        ).items():
            if step == current_step:
                continue
            result = {**metrics, "global_step": step}
            if best is None or self._compare_fn(
                best_eval_result=best, current_eval_result=result
            ):
                best = result
        return best


def _check_compare_fn(compare_fn: Any) -> None:
    if not callable(compare_fn):
        raise TypeError(
            f"BestExporter: `compare_fn` must be callable, got {compare_fn!r}."
        )
    try:
        inspect.signature(compare_fn).bind(best_eval_result={}, current_eval_result={})
    except TypeError:
        raise ValueError(
            "BestExporter: `compare_fn` must take the arguments `best_eval_result` "
            f"and `current_eval_result`, got {getattr(compare_fn, '__name__', '')}"
            f"{inspect.signature(compare_fn)}."
        ) from None
    except ValueError:  # no signature (a builtin): let the call decide
        pass


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
    """How `train_and_evaluate` evaluates and exports each checkpoint.

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

    def __post_init__(self) -> None:
        _check_callable("EvalSpec", "input_fn", self.input_fn)
        check_positive_int("steps", self.steps, owner="EvalSpec")
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
    estimator: Estimator, train_spec: TrainSpec, eval_spec: EvalSpec
) -> tuple[dict[str, Any], list[Any]]:
    """Trains `estimator`, evaluating and exporting each new checkpoint.

    Checkpoints come from the estimator's `RunConfig` (`save_checkpoints_steps`
    or `save_checkpoints_secs`); with neither, the model is evaluated only at the
    end. Evaluation results are recorded in `model_dir/metrics.jsonl` as
    `evaluate` records them, where early-stopping hooks read them.

    Args:
        estimator: The Estimator to train.
        train_spec: A `TrainSpec`.
        eval_spec: An `EvalSpec`.

    Returns:
        `(eval_result, export_results)` of the final evaluation: the metrics dict
        and one result per exporter (an export path, or None when it did not
        export).

    Example:
        >>> train_spec = TrainSpec(train_input_fn, max_steps=1000)  # doctest: +SKIP
        >>> eval_spec = EvalSpec(  # doctest: +SKIP
        ...     eval_input_fn, exporters=LatestExporter("serving", receiver_fn)
        ... )
        >>> metrics, exports = train_and_evaluate(  # doctest: +SKIP
        ...     classifier, train_spec, eval_spec
        ... )
    """
    if not isinstance(estimator, Estimator):
        raise TypeError(
            f"`estimator` must be an est.Estimator, got {type(estimator).__name__}."
        )
    for name, spec, cls in (
        ("train_spec", train_spec, TrainSpec),
        ("eval_spec", eval_spec, EvalSpec),
    ):
        if not isinstance(spec, cls):
            raise TypeError(
                f"`{name}` must be an est.{cls.__name__}, got {type(spec).__name__}."
            )
    config = estimator.config
    if config.save_checkpoints_steps is None and config.save_checkpoints_secs is None:
        logger.info("No periodic checkpoints configured: evaluating only at the end.")
    loop = _EvalLoop(estimator, eval_spec)
    estimator.train(
        train_spec.input_fn,
        max_steps=train_spec.max_steps,
        hooks=[*train_spec.hooks, _EvaluatePendingHook(loop)],
        saving_listeners=[*train_spec.saving_listeners, _EvalListener(loop)],
    )
    return loop.finish()


class _EvalLoop:
    """Evaluates and exports checkpoints as training saves them.

    A saved checkpoint is evaluated before the next training step, so that one
    with no next step is evaluated only once, as the final one.
    """

    def __init__(self, estimator: Estimator, spec: EvalSpec) -> None:
        self._estimator = estimator
        self._spec = spec
        self._pending: str | None = None
        self._last_start: float | None = None

    def saved(self, step: int, path: str) -> None:
        throttle = self._spec.throttle_secs
        if self._last_start is None or time.monotonic() - self._last_start >= throttle:
            self._pending = path
        else:
            self._pending = None
            logger.info(
                "Skipping the evaluation of step %d: less than throttle_secs (%s) "
                "since the last one.",
                step,
                throttle,
            )

    def evaluate_pending(self) -> None:
        if self._pending is not None:
            path, self._pending = self._pending, None
            self._evaluate_and_export(path, is_the_final_export=False)

    def finish(self) -> tuple[dict[str, Any], list[Any]]:
        path = self._estimator.latest_checkpoint()
        if path is None:
            raise ValueError(
                f"train_and_evaluate: no checkpoint in {self._estimator.model_dir!r} "
                "after training; did `train_spec.input_fn` give any data?"
            )
        return self._evaluate_and_export(path, is_the_final_export=True)

    def _evaluate_and_export(
        self, path: str, *, is_the_final_export: bool
    ) -> tuple[dict[str, Any], list[Any]]:
        self._last_start = time.monotonic()
        spec, estimator = self._spec, self._estimator
        result = estimator.evaluate(
            spec.input_fn,
            steps=spec.steps,
            hooks=spec.hooks,
            checkpoint_path=path,
            name=spec.name,
        )
        logger.info(
            "Evaluation of step %d: %s", checkpoints.checkpoint_step(path), result
        )
        exports = [
            exporter.export(
                estimator,
                os.path.join(estimator.model_dir, "export", exporter.name),
                path,
                result,
                is_the_final_export,
            )
            for exporter in spec.exporters
        ]
        return result, exports


class _EvalListener(CheckpointSaverListener):
    def __init__(self, loop: _EvalLoop) -> None:
        self._loop = loop

    def after_save(self, global_step: int, path: str) -> None:
        self._loop.saved(global_step, path)


class _EvaluatePendingHook(Hook):
    def __init__(self, loop: _EvalLoop) -> None:
        self._loop = loop

    def before_step(self, context: StepContext) -> None:
        self._loop.evaluate_pending()

    def steps_until_needed(self, global_step: int) -> int | None:
        return None  # evaluations follow checkpoints, which end a fused run
