"""`Estimator`: trains, evaluates and predicts with a `model_fn`, resuming from checkpoints."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from estimators import _model, checkpoints, distribute
from estimators._feeder import Group, GroupFeeder
from estimators._input import InputPipeline, call_input_fn, next_power_of_two, pad_batch
from estimators.hooks import (
    CheckpointSaverListener,
    Hook,
    LoggingHook,
    NanLossDuringTrainingError,
    StepContext,
)
from estimators.metrics import Metric, compute_results, merge_metric_dicts
from estimators.mode_keys import ModeKeys
from estimators.run_config import RunConfig
from estimators.train_state import TrainState
from estimators.warm_start import WarmStartReport, WarmStartSettings, warm_start
from estimators.writers import JsonlWriter, MetricWriter, MultiWriter

__all__ = ["Estimator"]

logger = logging.getLogger("estimators")

_CHECKPOINT_KEYS = ("variables", "opt_state", "global_step", "rng", "nan_step")


def _check_steps(steps: int | None, max_steps: int | None) -> None:
    if steps is not None and max_steps is not None:
        raise ValueError(
            f"give at most one of `steps` and `max_steps`, got steps={steps} and "
            f"max_steps={max_steps}."
        )
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        if value is not None and (
            not isinstance(value, int | np.integer) or value <= 0
        ):
            raise ValueError(f"`{name}` must be > 0, got {value!r}.")


class Estimator:
    """Trains, evaluates, predicts and exports a model defined by a `model_fn`.

    The `model_fn(features, labels, mode, params[, config])` builds the network with
    flax.linen layers used directly (`nn.Dense(10)(net)`) and returns an
    `EstimatorSpec`; the Estimator owns initialisation, parameters, PRNG streams
    (the "dropout" stream), mutable collections (batch-norm statistics), the
    gradient of the spec's `loss` and the optax `optimizer`'s updates.

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
    ) -> None:
        config = RunConfig() if config is None else config
        if not isinstance(config, RunConfig):
            raise TypeError(
                f"`config` must be an est.RunConfig, got {type(config).__name__}."
            )
        model_dir = os.fspath(model_dir) if model_dir is not None else None
        if model_dir and config.model_dir and model_dir != config.model_dir:
            raise ValueError(
                f"`model_dir` ({model_dir!r}) and `config.model_dir` "
                f"({config.model_dir!r}) differ; give one of them."
            )
        model_dir = model_dir or config.model_dir
        if model_dir is None:
            model_dir = tempfile.mkdtemp(prefix="estimator-")
            logger.warning("Using temporary folder as model directory: %s", model_dir)
        self._model_dir = model_dir
        self._config = config.replace(model_dir=model_dir)
        self._params = dict(params) if params is not None else {}
        self._program = _model.ModelProgram(model_fn, self._params, self._config)
        self._train_distribute = distribute.strategy_for(
            config.train_distribute, "train_distribute"
        )
        self._eval_distribute = distribute.strategy_for(
            config.eval_distribute, "eval_distribute"
        )
        self._model_fn = model_fn
        self._warm_start_from = warm_start_from
        if feature_columns is None:
            feature_columns = _feature_columns_in(self._params)
        self._feature_columns = list(feature_columns) if feature_columns else None
        self._label_transform = label_transform
        self._prediction_transform = prediction_transform
        self._variables_cache: tuple[Any, Any] | None = None
        self._writer: MultiWriter | None = None
        self._writer_users = 0
        self.warm_start_report: WarmStartReport | None = None

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
        return self._feature_columns

    @property
    def label_transform(self) -> Callable[[Any], Any] | None:
        """The host mapping applied to each batch of labels, or None."""
        return self._label_transform

    @property
    def prediction_transform(self) -> Callable[[Any], Any] | None:
        """The host mapping applied to each batch of predictions, or None."""
        return self._prediction_transform

    def eval_dir(self, name: str | None = None) -> str:
        """tf's name for where the evaluation `name` keeps its results.

        Evaluation metrics themselves are in `model_dir/metrics.jsonl` under
        `eval/<key>` (or `eval_<name>/<key>`); early-stopping hooks accept this
        path as `eval_dir`.
        """
        return os.path.join(self._model_dir, f"eval_{name}" if name else "eval")

    # -- checkpoints -----------------------------------------------------------------

    def latest_checkpoint(self) -> str | None:
        """The path of the newest complete checkpoint in `model_dir`, or None."""
        return checkpoints.latest_checkpoint(self._model_dir)

    def get_variable_names(self) -> list[str]:
        """Names of the model's variables in the latest checkpoint (no optimizer state).

        Names are flax paths with their collection, e.g. "params/Dense_0/kernel", and
        "global_step".
        """
        arrays, _ = checkpoints.read_checkpoint(self._require_checkpoint())
        names = [
            k.removeprefix("variables/") for k in arrays if k.startswith("variables/")
        ]
        return sorted(names) + ["global_step"]

    def get_variable_value(self, name: str) -> np.ndarray:
        """The value of one variable in the latest checkpoint.

        Args:
            name: A name from `get_variable_names()`.
        """
        arrays, _ = checkpoints.read_checkpoint(self._require_checkpoint())
        key = "global_step" if name == "global_step" else f"variables/{name}"
        if key not in arrays:
            raise ValueError(
                f"variable {name!r} is not in the checkpoint; known variables: "
                f"{self.get_variable_names()}."
            )
        return arrays[key]

    def _require_checkpoint(self) -> str:
        path = self.latest_checkpoint()
        if path is None:
            raise ValueError(
                f"no checkpoint in model_dir {self._model_dir!r}: train the model first."
            )
        return path

    # -- input -----------------------------------------------------------------------

    def _pipeline(self, input_fn: Callable[..., Any], mode: str) -> InputPipeline:
        transform = None
        if self._feature_columns:
            from estimators import feature_column as fc

            columns = self._feature_columns
            transform = lambda features: fc.transform(features, columns)  # noqa: E731
        result = call_input_fn(input_fn, mode, self._params, self._config)
        pipeline = InputPipeline(result, mode, transform, self._label_transform)
        self._program.host_only = pipeline.host_only
        return pipeline

    def _key(self) -> jax.Array:
        return jax.random.key(self._config.seed)

    def _init_variables(self, features: Any, labels: Any, mode: str) -> dict[str, Any]:
        return _model.init_variables(self._program, self._key(), features, labels, mode)

    def _abstract_variables(self, features: Any, labels: Any, mode: str) -> Any:
        program = self._program
        return jax.eval_shape(
            lambda key, f, lab: _model.init_variables(program, key, f, lab, mode),
            self._key(),
            features,
            labels,
        )

    def _spec(self, mode: str, batch: Any) -> Any:
        """The spec the model_fn returns in `mode` (traced once if not yet)."""
        if mode not in self._program.specs:
            self._abstract_variables(batch[0], batch[1], mode)
        return self._program.specs[mode]

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
        _check_steps(steps, max_steps)
        latest = self.latest_checkpoint()
        start = checkpoints.checkpoint_step(latest) if latest else 0
        if self._train_distribute is not None:  # every process follows the chief
            start = int(self._train_distribute.broadcast(np.int32(start)))
        if max_steps is not None and start >= max_steps:
            logger.info(
                "Skipping training since max_steps (%d) has already been reached.",
                max_steps,
            )
            return self
        last_step = start + steps if steps is not None else max_steps
        pipeline = self._pipeline(input_fn, ModeKeys.TRAIN)
        extra = checkpoints.read_manifest(latest).get("extra", {}) if latest else {}
        if extra.get("input_position") and pipeline.set_state(extra["input_position"]):
            logger.info("Input resumed from the position saved at step %d.", start)
        batches = iter(pipeline)
        first = next(batches, None)
        if first is None:
            logger.warning("input_fn gave no data; nothing to train.")
            return self
        features, labels, rows = first
        strategy = self._train_distribute
        batch_size = strategy.padded_size(rows) if strategy else rows
        first_batch = pad_batch(features, labels, rows, batch_size)
        state = self._train_state(latest, first_batch)
        if strategy is not None:
            state = strategy.replicate(state)
        hooks = [
            LoggingHook(self._config.log_step_count_steps),
            *(hooks or ()),
            *self._spec(ModeKeys.TRAIN, first_batch).training_hooks,
        ]
        self._train_loop(
            state,
            first_batch,
            batches,
            batch_size,
            pipeline,
            hooks,
            list(saving_listeners or ()),
            last_step,
        )
        return self

    def _train_state(self, latest: str | None, batch: Any) -> TrainState:
        features, labels, _ = batch
        abstract = self._abstract_variables(features, labels, ModeKeys.TRAIN)
        optimizer = self._program.optimizer
        if latest is not None:
            template = {
                "variables": abstract,
                "opt_state": jax.eval_shape(optimizer.init, abstract["params"]),
                "global_step": jax.ShapeDtypeStruct((), jnp.int32),
                "rng": jax.ShapeDtypeStruct((2,), jnp.uint32),
                "nan_step": jax.ShapeDtypeStruct((), jnp.int32),
            }
            tree, _ = checkpoints.restore_checkpoint(latest, template)
            logger.info("Restoring parameters from %s", latest)
            return TrainState(
                step=jnp.asarray(tree["global_step"], jnp.int32),
                variables=jax.tree.map(jnp.asarray, tree["variables"]),
                opt_state=jax.tree.map(jnp.asarray, tree["opt_state"]),
                rng=jnp.asarray(tree["rng"], jnp.uint32),
                nan_step=jnp.asarray(tree["nan_step"], jnp.int32),
            )
        variables = self._init_variables(features, labels, ModeKeys.TRAIN)
        if self._warm_start_from is not None:
            variables, self.warm_start_report = warm_start(
                variables, self._warm_start_from
            )
        return TrainState.create(variables, optimizer, self._key())

    def _writers(self) -> MultiWriter:
        """Opens (or shares) the JSON-lines writer in model_dir plus
        `config.metric_writers`; each call is paired with `_release_writers`."""
        self._writer_users += 1
        if self._writer is None:
            writers: list[MetricWriter] = []
            if distribute.is_chief():  # the other processes of a multi-host run
                os.makedirs(self._model_dir, exist_ok=True)
                path = os.path.join(self._model_dir, "metrics.jsonl")
                writers = [JsonlWriter(path), *self._config.metric_writers]
            self._writer = MultiWriter(writers)
        return self._writer

    def _release_writers(self) -> None:
        """Flushes every writer and closes the file this Estimator opened.

        The user's writers stay open: they may outlive this call (a tracking run).
        """
        if self._writer is None:
            return
        self._writer.flush()
        self._writer_users -= 1
        if self._writer_users == 0:  # an evaluate inside training keeps it open
            if self._writer.writers:
                self._writer.writers[0].close()
            self._writer = None

    def _save(
        self,
        state: TrainState,
        position: Any,
        listeners: Sequence[CheckpointSaverListener],
    ) -> bool:
        step = int(state.step)
        self._check_finite(state)
        if not distribute.is_chief():  # only the chief of a multi-host run writes
            return False
        for listener in listeners:
            listener.before_save(step)
        tree = {
            "variables": state.variables,
            "opt_state": state.opt_state,
            "global_step": state.step,
            "rng": state.rng,
            "nan_step": state.nan_step,
        }
        extra = {
            "input_position": position,
            "random_seed": self._config.seed,
        }
        path = checkpoints.save_checkpoint(
            self._model_dir,
            step,
            jax.device_get(tree),
            extra=extra,
            keep_checkpoint_max=self._config.keep_checkpoint_max,
            keep_checkpoint_every_n_hours=self._config.keep_checkpoint_every_n_hours,
        )
        logger.info("Saving checkpoints for %d into %s.", step, path)
        return any([bool(listener.after_save(step, path)) for listener in listeners])

    @staticmethod
    def _check_finite(state: TrainState) -> None:
        nan_step = int(state.nan_step)
        if nan_step >= 0:
            raise NanLossDuringTrainingError(nan_step)

    def _train_loop(
        self,
        state: TrainState,
        first: Any,
        batches: Iterator[Any],
        batch_size: int,
        pipeline: InputPipeline,
        hooks: list[Hook],
        listeners: list[CheckpointSaverListener],
        last_step: int | None,
    ) -> None:
        config = self._config
        strategy = self._train_distribute
        writer = self._writers()
        step = int(state.step)
        saved_step = step
        context = StepContext(
            mode=ModeKeys.TRAIN,
            global_step=step,
            model_dir=self._model_dir,
            last_step=last_step,
            writer=writer,
        )
        for hook in hooks:
            hook.begin(context)
        for listener in listeners:
            listener.begin()
        last_save_time = time.monotonic()
        feeder = GroupFeeder(
            first,
            batches,
            batch_size=batch_size,
            steps_per_execution=config.steps_per_execution,
            start_step=step,
            last_step=last_step,
            position=pipeline.get_state,
            place=strategy.shard_batch if strategy else None,
            multiple=strategy.local_device_count if strategy else 1,
        )
        position = None
        try:
            for group in feeder:
                for hook in hooks:
                    hook.before_step(context)
                state, outputs = self._run_group(state, group)
                previous, step, position = step, step + group.size, group.position
                context.global_step = step
                context._set_outputs(outputs)
                for hook in hooks:
                    hook.after_step(context)
                if _crossed(previous, step, config.log_step_count_steps):
                    self._check_finite(state)
                if _crossed(previous, step, config.save_summary_steps):
                    writer.write_scalars(step, context.outputs)
                due = _crossed(previous, step, config.save_checkpoints_steps) or (
                    config.save_checkpoints_secs is not None
                    and time.monotonic() - last_save_time
                    >= config.save_checkpoints_secs
                )
                if due:
                    if self._save(state, position, listeners):
                        context.request_stop()
                    saved_step, last_save_time = step, time.monotonic()
                if context.stop_requested:
                    break
            else:
                if feeder.input_exhausted:
                    # A finite input was read to its end: the next train() starts
                    # a new pass over it, as in tf, instead of resuming at its end.
                    position, saved_step = None, None
            if step != saved_step:
                self._save(state, position, listeners)
            else:
                self._check_finite(state)
        finally:
            feeder.close()
            self._release_writers()
        for hook in hooks:
            hook.end(context)
        for listener in listeners:
            listener.end(step)

    def _run_group(self, state: TrainState, group: Group) -> tuple[TrainState, Any]:
        if group.stacked:
            return _model.train_steps(self._program, state, group.batches)
        outputs = None
        for batch in group.batches:
            state, outputs = _model.train_step(self._program, state, batch)
        return state, outputs

    # -- evaluate --------------------------------------------------------------------

    def _variables_for(
        self, checkpoint_path: str | None, batch: Any, mode: str
    ) -> tuple[Any, int, Any]:
        """Variables, global_step and RNG of a checkpoint, cached while unchanged."""
        path = checkpoint_path or self.latest_checkpoint()
        stamp = (path, checkpoints.checkpoint_stamp(path) if path else None)
        if self._variables_cache is not None and self._variables_cache[0] == stamp:
            return self._variables_cache[1]
        features, labels, _ = batch
        if path is None:
            logger.info(
                "Could not find trained model in model_dir: %s, running "
                "initialization to %s.",
                self._model_dir,
                mode,
            )
            variables = self._init_variables(features, labels, mode)
            loaded = (variables, 0, jax.random.key_data(self._key()))
        else:
            abstract = self._abstract_variables(features, labels, mode)
            template = {
                "variables": abstract,
                "global_step": jax.ShapeDtypeStruct((), jnp.int32),
                "rng": jax.ShapeDtypeStruct((2,), jnp.uint32),
            }
            tree = checkpoints.restore_subtree(path, template)
            loaded = (
                jax.tree.map(jnp.asarray, tree["variables"]),
                int(tree["global_step"]),
                jnp.asarray(tree["rng"], jnp.uint32),
            )
        self._variables_cache = (stamp, loaded)
        return loaded

    def evaluate(
        self,
        input_fn: Callable[..., Any],
        steps: int | None = None,
        hooks: Sequence[Hook] | None = None,
        checkpoint_path: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Evaluates the model on `input_fn`'s data.

        Metrics are merged exactly across batches; the last partial batch is padded
        and masked, so it needs no new compilation.

        Args:
            input_fn: Returns a Dataset or an iterable of `(features, labels)`.
            steps: Evaluate at most this many batches; None: until the input ends.
            hooks: `est.Hook`s run around the steps.
            checkpoint_path: A checkpoint to evaluate; default the latest.
            name: Name of this evaluation (summaries go under `eval_<name>/`).

        Returns:
            The metrics, `loss` (the mean of the batch losses) and `global_step`.
        """
        if steps is not None and (not isinstance(steps, int) or steps <= 0):
            raise ValueError(f"`steps` must be > 0, got {steps!r}.")
        pipeline = self._pipeline(input_fn, ModeKeys.EVAL)
        batches = iter(pipeline)
        first = next(batches, None)
        if first is None:
            raise ValueError("input_fn gave no data to evaluate.")
        size = first[2]
        totals: dict[str, Metric] = {}
        total_loss: Any = None
        count = 0
        variables = global_step = rng = step_array = None
        strategy = self._eval_distribute
        context = StepContext(
            mode=ModeKeys.EVAL, global_step=0, model_dir=self._model_dir
        )
        hooks = list(hooks or ())
        raw: Any = first
        while raw is not None and (steps is None or count < steps):
            features, labels, rows = raw
            if labels is None:
                raise ValueError("evaluate needs labels, but input_fn gave none.")
            target = size if rows <= size else next_power_of_two(rows)
            if strategy is not None:
                target = strategy.padded_size(target)
            batch = pad_batch(features, labels, rows, target)
            if variables is None:
                variables, global_step, rng = self._variables_for(
                    checkpoint_path, batch, ModeKeys.EVAL
                )
                step_array = jnp.int32(global_step)
                if strategy is not None:  # with several processes: the chief's
                    variables, step_array, rng = strategy.replicate(
                        (variables, step_array, rng)
                    )
                    global_step = int(step_array)
                context.global_step = global_step
                hooks += list(self._spec(ModeKeys.EVAL, batch).evaluation_hooks)
                for hook in hooks:
                    hook.begin(context)
            for hook in hooks:
                hook.before_step(context)
            if strategy is not None:
                batch = strategy.shard_batch(batch)
            loss, metrics = _model.eval_step(
                self._program, variables, step_array, rng, batch
            )
            context._set_outputs({"loss": loss})
            for hook in hooks:
                hook.after_step(context)
            total_loss = loss if total_loss is None else total_loss + loss
            totals = merge_metric_dicts(totals, metrics)
            count += 1
            if context.stop_requested:
                break
            raw = next(batches, None)
        for hook in hooks:
            hook.end(context)
        results: dict[str, Any] = compute_results(totals)
        results["loss"] = float(total_loss) / count
        results["global_step"] = global_step
        prefix = f"eval_{name}" if name else "eval"
        writer = self._writers()
        writer.write_scalars(
            global_step,
            {
                f"{prefix}/{k}": v
                for k, v in results.items()
                if k != "global_step" and np.ndim(v) == 0
            },
        )
        self._release_writers()
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
        keys = (
            None
            if predict_keys is None
            else tuple(
                [predict_keys] if isinstance(predict_keys, str) else predict_keys
            )
        )
        pipeline = self._pipeline(input_fn, ModeKeys.PREDICT)
        hooks = list(hooks or ())
        context = StepContext(
            mode=ModeKeys.PREDICT, global_step=0, model_dir=self._model_dir
        )
        variables = rng = None
        strategy = self._eval_distribute
        for features, _, rows in pipeline:
            size = next_power_of_two(rows)
            if strategy is not None:
                size = strategy.padded_size(size)
            batch = pad_batch(features, None, rows, size)
            if variables is None:
                variables, context.global_step, rng = self._variables_for(
                    checkpoint_path, batch, ModeKeys.PREDICT
                )
                if strategy is not None:  # with several processes: the chief's
                    variables, rng, step = strategy.replicate(
                        (variables, rng, jnp.int32(context.global_step))
                    )
                    context.global_step = int(step)
                hooks += list(self._spec(ModeKeys.PREDICT, batch).prediction_hooks)
                for hook in hooks:
                    hook.begin(context)
            for hook in hooks:
                hook.before_step(context)
            inputs = batch[0] if strategy is None else strategy.shard_batch(batch[0])
            outputs = _model.predict_step(self._program, variables, rng, inputs, keys)
            # np.asarray per output is several times cheaper than jax.device_get
            # on the whole dict for a single-row request.
            if strategy is None:
                predictions = jax.tree.map(np.asarray, outputs)
            else:  # this process's rows of the sharded outputs
                predictions = strategy.local(outputs)
            if self._prediction_transform is not None:
                predictions = self._prediction_transform(predictions)
            for hook in hooks:
                hook.after_step(context)
            yield from _unbatch(predictions, rows, yield_single_examples)
            if context.stop_requested:
                break
        for hook in hooks:
            hook.end(context)

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

        The export runs without the model_fn: the predict function is serialised
        with `jax.export` (any batch size), with its variables and the frozen
        feature-column transform; `est.export.load(path)`, `est.Predictor(path)`
        and `mlflow models serve -m path` serve it. Written atomically.

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
        from estimators.export import export_saved_model

        return export_saved_model(
            self,
            export_dir_base,
            serving_input_receiver_fn,
            checkpoint_path,
            platforms=platforms,
        )

    def predictor(self, *, check_interval_secs: float = 1.0) -> Any:
        """An `est.Predictor` over this model's latest checkpoint, kept hot.

        It keeps the compiled predict function and the variables in memory,
        pads request sizes to powers of two, and reloads when a newer checkpoint
        appears (looking at most every `check_interval_secs`).
        """
        from estimators.export import Predictor

        return Predictor.from_estimator(self, check_interval_secs=check_interval_secs)


def _unbatch(predictions: Any, rows: int, single: bool) -> Iterator[Any]:
    if isinstance(predictions, Mapping):
        arrays = {k: np.asarray(v)[:rows] for k, v in predictions.items()}
        if not single:
            yield arrays
            return
        for i in range(rows):
            yield {k: v[i] for k, v in arrays.items()}
        return
    array = np.asarray(predictions)[:rows]
    if single:
        yield from array
    else:
        yield array


def _crossed(previous: int, current: int, every: int | None) -> bool:
    return bool(every) and current // every > previous // every


def _feature_columns_in(params: Mapping[str, Any]) -> list[Any] | None:
    columns = params.get("feature_columns")
    if not columns:
        return None
    try:
        from estimators.feature_column import is_feature_column
    except ImportError:
        return None
    columns = list(columns)
    return columns if all(is_feature_column(c) for c in columns) else None
