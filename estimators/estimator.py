"""`Estimator`: trains, evaluates and predicts with a `model_fn`, resuming from checkpoints.

It validates and delegates: the `ModelRunner` runs the model_fn on host batches,
the `TrainingLoop` drives training, `estimators.export` exports from the runner.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from estimators import batching, checkpoints, distribute, export
from estimators.hooks import CheckpointSaverListener, Hook, HookList, LoggingHook
from estimators.mode_keys import ModeKeys
from estimators.progress import ProgressHook
from estimators.run_config import RunConfig
from estimators.runner import ModelRunner, feature_columns_in
from estimators.training_loop import SummaryWriters, TrainingLoop
from estimators.validation import check_at_most_one, check_positive_int
from estimators.warm_start import WarmStartReport, WarmStartSettings

__all__ = ["Estimator"]

logger = logging.getLogger("estimators")


class Estimator:
    """Trains, evaluates, predicts and exports a model defined by a `model_fn`.

    The `model_fn(features, labels, mode, params[, config])` builds the network with
    flax.linen layers (`nn.Dense(10)(net)`) and returns an `EstimatorSpec`; the
    Estimator owns initialisation, parameters, the "dropout" PRNG stream, mutable
    collections (batch norm), and applies the spec's optax `optimizer`.

    Args:
        model_fn: The model function.
        model_dir: Where checkpoints and summaries go; defaults to
            `config.model_dir`, or a new temporary directory.
        config: A `RunConfig`.
        params: Hyper-parameters passed to `model_fn` as `params`.
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`, to
            initialise matching variables from when `model_dir` has no checkpoint.
        feature_columns: Feature columns whose host transform (strings to ids,
            normalisation) runs on each batch before the model; defaults to
            `params["feature_columns"]` when that holds columns.
        label_transform: Maps each batch's labels on the host before the model
            (e.g. a head's label vocabulary, strings to class ids).
        prediction_transform: Maps each batch's predictions (a dict of numpy
            arrays) on the host after the model, e.g. class ids to class names,
            which cannot come out of a compiled function.
        head: The `est.heads` head the model_fn uses; its label and prediction
            mappings are the defaults of the two above, and exports carry its
            class names.

    Example:
        >>> import flax.linen as nn, optax
        >>> import estimators as est
        >>> def model_fn(features, labels, mode):
        ...     pred = nn.Dense(1)(features["x"])[:, 0]
        ...     if mode == est.ModeKeys.PREDICT:
        ...         return est.EstimatorSpec(mode, predictions={"y": pred})
        ...     loss = est.losses.mean_squared_error(labels, pred)
        ...     return est.EstimatorSpec(mode, loss=loss, optimizer=optax.sgd(0.1))
        >>> x = np.linspace(-1, 1, 32, dtype=np.float32)[:, None]
        >>> input_fn = lambda: ({"x": x}, 2 * x[:, 0])
        >>> regressor = Estimator(model_fn).train(input_fn, steps=200)
        >>> round(float(next(regressor.predict(lambda: {"x": x[:1]}))["y"]), 2)
        -2.0
    """

    def __init__(
        self,
        model_fn: Callable[..., Any],
        model_dir: str | os.PathLike[str] | None = None,
        config: RunConfig | None = None,
        params: Mapping[str, Any] | None = None,
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
        *,
        feature_columns: Sequence[Any] | None = None,
        label_transform: Callable[[Any], Any] | None = None,
        prediction_transform: Callable[[Any], Any] | None = None,
        head: Any = None,
    ) -> None:
        config = RunConfig() if config is None else config
        if not isinstance(config, RunConfig):
            raise TypeError(
                f"`config` must be an est.RunConfig, got {type(config).__name__}."
            )
        model_dir = config.resolve_model_dir(model_dir)
        self._model_dir = model_dir
        self._config = config.replace(model_dir=model_dir)
        self._params = dict(params) if params is not None else {}
        self._model_fn = model_fn
        self._warm_start_from = warm_start_from
        if feature_columns is None:
            feature_columns = feature_columns_in(self._params)
        if head is not None:
            label_transform = label_transform or head.transform_labels
            prediction_transform = prediction_transform or head.transform_predictions
        self._runner = ModelRunner(
            model_fn,
            self._params,
            self._config,
            feature_columns=feature_columns,
            label_transform=label_transform,
            prediction_transform=prediction_transform,
            head=head,
            warm_start_from=warm_start_from,
        )
        strategy_for = distribute.strategy_for
        self._train_distribute = strategy_for(
            config.train_distribute, "train_distribute"
        )
        self._eval_distribute = strategy_for(config.eval_distribute, "eval_distribute")
        self._writers = SummaryWriters(model_dir, self._config.metric_writers)

    # -- properties ------------------------------------------------------------------

    @property
    def model_dir(self) -> str:
        """The directory of checkpoints and summaries."""
        return self._model_dir

    @property
    def config(self) -> RunConfig:
        """The `RunConfig` (with `model_dir` filled in)."""
        return self._config

    @property
    def params(self) -> dict[str, Any]:
        """A copy of the hyper-parameters given to `model_fn`."""
        return dict(self._params)

    @property
    def model_fn(self) -> Callable[..., Any]:
        """The model function."""
        return self._model_fn

    @property
    def feature_columns(self) -> list[Any] | None:
        """The feature columns whose host transform runs before the model."""
        return self._runner.feature_columns

    @property
    def label_transform(self) -> Callable[[Any], Any] | None:
        """The host mapping of each batch's labels, or None."""
        return self._runner.label_transform

    @property
    def prediction_transform(self) -> Callable[[Any], Any] | None:
        """The host mapping applied to each batch of predictions, or None."""
        return self._runner.prediction_transform

    @property
    def warm_start_report(self) -> WarmStartReport | None:
        """What the last warm start loaded, skipped and initialised, or None."""
        return self._runner.warm_start_report

    @property
    def head(self) -> Any:
        """The head of a canned estimator (or the one given), else None."""
        return self._runner.head

    @property
    def runner(self) -> ModelRunner:
        """The `ModelRunner` that traces and runs the model_fn (for exports)."""
        return self._runner

    def eval_dir(self, name: str | None = None) -> str:
        """tf's eval_dir; metrics are in `model_dir/metrics.jsonl` under `eval*/`."""
        return os.path.join(self._model_dir, f"eval_{name}" if name else "eval")

    # -- checkpoints -----------------------------------------------------------------

    def latest_checkpoint(self) -> str | None:
        """The newest complete checkpoint in `model_dir` (a damaged one is skipped
        with a warning naming it), or None."""
        cache = self._runner.verified_checkpoints
        return checkpoints.newest_usable_checkpoint(self._model_dir, cache)

    def get_variable_names(self) -> list[str]:
        """Variable names in the latest checkpoint: "params/Dense_0/kernel", ...,
        and "global_step" (no optimizer state)."""
        return sorted(
            self._runner.checkpoint_variables(), key=lambda k: (k == "global_step", k)
        )

    def get_variable_value(self, name: str) -> np.ndarray:
        """The value of one variable (a name from `get_variable_names()`)."""
        variables = self._runner.checkpoint_variables()
        if name not in variables:
            raise ValueError(
                f"variable {name!r} is not in the checkpoint; known variables: "
                f"{self.get_variable_names()}."
            )
        return variables[name]

    # -- train -----------------------------------------------------------------------

    def train(
        self,
        input_fn: Callable[..., Any],
        steps: int | None = None,
        max_steps: int | None = None,
        hooks: Sequence[Hook] | None = None,
        saving_listeners: Sequence[CheckpointSaverListener] | None = None,
    ) -> Estimator:
        """Trains the model, resuming from the latest checkpoint in `model_dir`.

        Args:
            input_fn: Returns a Dataset or an iterable of `(features, labels)`.
            steps: Train this many more steps (incremental); None: until the input
                ends.
            max_steps: Train until the global_step reaches this (absolute); does
                nothing when it is already reached. Give at most one of the two.
            hooks: `est.Hook`s run around the steps.
            saving_listeners: `CheckpointSaverListener`s run around each save.

        Returns:
            self, for chaining.
        """
        check_at_most_one(steps=steps, max_steps=max_steps)
        steps = check_positive_int("steps", steps)
        max_steps = check_positive_int("max_steps", max_steps)
        latest = self.latest_checkpoint()
        start = checkpoints.checkpoint_step(latest) if latest else 0
        strategy = self._train_distribute
        if strategy is not None:  # every process follows the chief
            start = int(strategy.broadcast(np.int32(start)))
        if max_steps is not None and start >= max_steps:
            logger.info(
                "Skipping training since max_steps (%d) was reached.", max_steps
            )
            return self
        runner, last_step = self._runner, start + steps if steps else max_steps
        steps_left = last_step - start if last_step else None
        pipeline = runner.pipeline(input_fn, ModeKeys.TRAIN, True, steps_left)
        runner.resume_input(pipeline, latest)
        batches = iter(pipeline)
        first = next(batches, None)
        if first is None:
            logger.warning("input_fn gave no data; nothing to train.")
            return self
        multiple = strategy.local_device_count if strategy else 1
        batch = batching.pad(*first, batching.train_size(first[2], multiple))
        state = runner.train_state(latest, batch)
        if strategy is not None:
            state = strategy.replicate(state)
        spec = runner.trace(ModeKeys.TRAIN, batch).spec
        defaults: list[Hook] = [LoggingHook(self._config.log_step_count_steps)]
        if progress := ProgressHook.from_setting(self._config.progress):
            defaults.append(progress)
        loop = TrainingLoop(self._model_dir, self._config, self._writers, strategy)
        loop.run(
            runner.step_config(ModeKeys.TRAIN, batch, pipeline.host_only, strategy),
            state,
            first,
            pipeline,
            batches,
            hooks=HookList([*defaults, *(hooks or ()), *spec.training_hooks]),
            listeners=list(saving_listeners or ()),
            last_step=last_step,
            extra=runner.checkpoint_extra(),
        )
        return self

    # -- evaluate --------------------------------------------------------------------

    def evaluate(
        self,
        input_fn: Callable[..., Any],
        steps: int | None = None,
        hooks: Sequence[Hook] | None = None,
        checkpoint_path: str | None = None,
        name: str | None = None,
        *,
        slice_by: Sequence[str | Sequence[str]] | None = None,
    ) -> dict[str, Any]:
        """Evaluates the model on `input_fn`'s data, merging metrics exactly.

        Args:
            input_fn: Returns a Dataset or an iterable of `(features, labels)`.
            steps: Evaluate at most this many batches; None: until the input ends.
            hooks: `est.Hook`s (or `est.SessionRunHook`s) run around the steps.
            checkpoint_path: A checkpoint to evaluate; default the latest.
            name: Name of this evaluation (summaries go under `eval_<name>/`).
            slice_by: Raw features (or tuples of them) to slice on: `"slices"` then
                lists each slice's metrics and row `count` (`estimators.slicing`),
                also written to `eval_dir(name)/slices-<global_step>.parquet|csv`.

        Returns:
            The metrics, `loss` (the mean of the batch losses) and `global_step`.
        """
        steps = check_positive_int("steps", steps)
        results = self._runner.evaluate(
            self._runner.pipeline(input_fn, ModeKeys.EVAL, not slice_by, steps),
            steps=steps,
            hooks=HookList(hooks or ()),
            checkpoint=checkpoint_path or self.latest_checkpoint(),
            strategy=self._eval_distribute,
            slice_by=slice_by,
        )
        self._writers.write_eval(results, name)
        return results

    # -- predict ---------------------------------------------------------------------

    def predict(
        self,
        input_fn: Callable[..., Any],
        predict_keys: Sequence[str] | None = None,
        hooks: Sequence[Hook] | None = None,
        checkpoint_path: str | None = None,
        yield_single_examples: bool = True,
    ) -> Iterator[Any]:
        """Yields predictions for `input_fn`'s features.

        Nothing is rebuilt or reloaded while the checkpoint is unchanged: the compiled
        function and the variables are kept between calls, and batch sizes are padded
        to powers of two so that varying request sizes reuse compilations.

        Args:
            input_fn: Returns features (labels are ignored).
            predict_keys: Which prediction keys to compute; default all.
            hooks: `est.Hook`s run around the steps.
            checkpoint_path: A checkpoint to use; default the latest.
            yield_single_examples: Yield one dict per example (True) or per batch.
        """
        if isinstance(predict_keys, str):
            predict_keys = [predict_keys]
        batches = self._runner.predict(
            self._runner.pipeline(input_fn, ModeKeys.PREDICT),
            keys=None if predict_keys is None else tuple(predict_keys),
            hooks=HookList(hooks or ()),
            checkpoint=checkpoint_path or self.latest_checkpoint(),
            strategy=self._eval_distribute,
        )
        for predictions, rows in batches:
            yield from batching.unbatch(predictions, rows, yield_single_examples)

    # -- export ----------------------------------------------------------------------

    def export_saved_model(
        self,
        export_dir_base: str | os.PathLike[str],
        serving_input_receiver_fn: Callable[[], Any] | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        *,
        platforms: Sequence[str] | None = None,
    ) -> str:
        """Exports the model for serving to `export_dir_base/<timestamp>/`.

        The predict function is serialised with `jax.export` (any batch size)
        with its variables and the frozen feature-column transform; `est.export.
        load(path)`, `est.Predictor(path)` and `mlflow models serve` serve it.

        Args:
            export_dir_base: Where timestamped exports go.
            serving_input_receiver_fn: Returns an `est.export.ServingInputReceiver`
                naming the raw inputs; default: records of the feature columns'
                raw features. Required without feature columns.
            checkpoint_path: The checkpoint to export; default the latest.
            platforms: `jax.export` platforms; default CPU and CUDA.

        Returns:
            The export directory.
        """
        path = (
            os.fspath(checkpoint_path) if checkpoint_path else self.latest_checkpoint()
        )
        if path is None:
            raise ValueError(
                f"Couldn't find trained model at {self._model_dir}: train the "
                "estimator (or give checkpoint_path=...) before exporting."
            )
        return export.export_saved_model(
            self._runner,
            export_dir_base,
            serving_input_receiver_fn,
            path,
            platforms=platforms,
        )

    def predictor(self, *, check_interval_secs: float = 1.0) -> export.Predictor:
        """An `est.Predictor` over this model's latest checkpoint, kept hot.

        It keeps the compiled predict function and the variables in memory,
        pads request sizes to powers of two, and reloads when a newer checkpoint
        appears (looking at most every `check_interval_secs`).
        """
        return export.Predictor.from_estimator(
            self, check_interval_secs=check_interval_secs
        )
