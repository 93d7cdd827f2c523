"""`ModelRunner`: a model_fn with its host transforms, variables and batch path.

The runner owns what the Estimator, the Predictor and the export writer share:
the traced program, the feature-column and head transforms that run on the host,
the checkpoint -> variables cache, and the one path from a host batch to
predictions. Dependencies run one way: `estimator -> export -> runner`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from estimators import batching, checkpoints
from estimators.compilation_cache import enable_default_cache
from estimators.data import Dataset
from estimators.data.blocks import transform_blocks
from estimators.feature_column import (
    is_feature_column,
    make_parse_example_spec,
    transform,
)
from estimators.hooks import HookList, StepContext
from estimators.input_pipeline import InputPipeline, call_input_fn
from estimators.metrics import Metric, compute_results, merge_metric_dicts
from estimators.mode_keys import ModeKeys
from estimators.program import ModelProgram, Traced, init_variables
from estimators.slicing import Slicer, parse_slice_by
from estimators.steps import StepConfig, eval_step, eval_step_fetching, predict_step
from estimators.train_state import (
    TrainState,
    checkpoint_template,
    from_checkpoint_tree,
    seed_key,
    serving_template,
    variable_arrays,
)
from estimators.warm_start import (
    WarmStartReport,
    vocabulary_fingerprints,
    warm_start,
)

__all__ = ["ModelRunner", "feature_columns_in"]

logger = logging.getLogger("estimators")

_UNFUSED = (
    "The model_fn uses XLA convolutions (lax.conv_general_dilated, as "
    "flax.linen.Conv does): training runs one step per call, since XLA:CPU runs "
    "their gradient several times slower inside a fused loop. est.layers.Conv "
    "computes the same layer fast both ways (docs/cpu-convolutions.md)."
)

Loaded = tuple[Any, int, jax.Array]  # variables, global_step, raw rng


def feature_columns_in(params: Mapping[str, Any]) -> list[Any] | None:
    """`params["feature_columns"]` when it holds feature columns (the tf idiom)."""
    columns = params.get("feature_columns")
    if not columns:
        return None
    columns = list(columns)
    return columns if all(is_feature_column(c) for c in columns) else None


class ModelRunner:
    """Runs one model_fn on host batches: trace, initialise, restore, predict.

    Args:
        model_fn: The user's model function.
        params: Its `params`.
        config: The `RunConfig` (with model_dir).
        feature_columns: Columns whose host transform runs on each batch.
        label_transform: Host mapping of each batch's labels.
        prediction_transform: Host mapping of each batch's predictions.
        head: The head the model_fn uses, if known (its class names travel with
            an export).
        warm_start_from: What fresh variables are warm-started from.
    """

    def __init__(
        self,
        model_fn: Callable[..., Any],
        params: Mapping[str, Any],
        config: Any,
        *,
        feature_columns: Sequence[Any] | None = None,
        label_transform: Callable[[Any], Any] | None = None,
        prediction_transform: Callable[[Any], Any] | None = None,
        head: Any = None,
        warm_start_from: Any = None,
    ) -> None:
        enable_default_cache()
        self.program = ModelProgram(model_fn, params, config)
        self.params = params
        self.config = config
        self.feature_columns = list(feature_columns) if feature_columns else None
        self.label_transform = label_transform
        self.prediction_transform = prediction_transform
        self.head = head
        self.warm_start_from = warm_start_from
        self.warm_start_report: WarmStartReport | None = None
        self._traces: dict[str, Traced] = {}
        self._steps: dict[Any, StepConfig] = {}
        self._loaded: tuple[Any, Loaded] | None = None
        self._in_memory: Loaded | None = None
        self.verified_checkpoints: dict[Any, bool] = {}  # (path, stamp) -> verdict

    # -- host side -------------------------------------------------------------------

    def key(self) -> jax.Array:
        """The PRNG key of initialisation and dropout (from `config.seed`)."""
        return seed_key(self.config.seed)

    def transform(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """The feature columns' host transform of one batch of raw features."""
        return transform(features, self.feature_columns)

    def pipeline(
        self,
        input_fn: Callable[..., Any],
        mode: str,
        per_block: bool = False,
        steps: int | None = None,
    ) -> InputPipeline:
        """Calls `input_fn` for `mode`; its host batches, transformed."""
        result = call_input_fn(input_fn, mode, self.params, self.config)
        return self.pipeline_of(result, mode, per_block, steps)

    def pipeline_of(
        self,
        result: Any,
        mode: str,
        per_block: bool = False,
        steps: int | None = None,
    ) -> InputPipeline:
        """Host batches of what an input_fn returned (or of raw features).

        With `per_block`, an `est.data.Dataset` read from memory or files has
        the feature columns applied to its blocks (each Arrow record batch, or
        all in-memory rows at once when the `steps` to run read them all)
        before batching, instead of to each batch
        (`estimators.data.blocks.transform_blocks` says when it can).
        """
        columns = self.transform if self.feature_columns else None
        if per_block and columns is not None and isinstance(result, Dataset):
            keys = make_parse_example_spec(self.feature_columns)
            blocks = transform_blocks(result, columns, keys, steps)
            if blocks is not None:
                return InputPipeline(blocks, mode, None, self.label_transform)
        return InputPipeline(result, mode, columns, self.label_transform)

    def resume_input(self, pipeline: InputPipeline, checkpoint: str | None) -> None:
        """Moves `pipeline` to the input position saved in `checkpoint`, if it can."""
        extra = (
            checkpoints.read_manifest(checkpoint).get("extra", {}) if checkpoint else {}
        )
        position = extra.get("input_position")
        if position and pipeline.set_state(position):
            logger.info("Input resumed from the position saved in %s.", checkpoint)

    # -- program ---------------------------------------------------------------------

    def trace(self, mode: str, batch: batching.Batch) -> Traced:
        """The abstract variables and spec of `mode` (traced once per mode)."""
        if mode not in self._traces:
            features, labels, _ = batch
            self._traces[mode] = self.program.trace(
                mode, features, labels, key=self.key()
            )
        return self._traces[mode]

    def step_config(
        self,
        mode: str,
        batch: batching.Batch,
        host_only: Mapping[str, str] | None = None,
        strategy: Any = None,
    ) -> StepConfig:
        """The static configuration of the compiled steps of `mode` (cached)."""
        columns = tuple(sorted((host_only or {}).items()))
        cache_key = (mode, columns, id(strategy))
        if cache_key not in self._steps:
            optimizer, fuse = None, True
            if mode == ModeKeys.TRAIN:
                traced = self.trace(mode, batch)
                optimizer = traced.spec.optimizer
                fuse = not (traced.convolutions and jax.default_backend() == "cpu")
                if not fuse:
                    logger.info(_UNFUSED)
            replicated = strategy.replicated_sharding if strategy is not None else None
            self._steps[cache_key] = StepConfig(
                self.program, optimizer, columns, replicated, fuse=fuse
            )
        return self._steps[cache_key]

    def init_variables(self, batch: batching.Batch, mode: str) -> dict[str, Any]:
        """Fresh variables, initialised from `config.seed` and warm-started as asked.

        As in tf, evaluating or predicting before any checkpoint warm-starts too.
        """
        features, labels, _ = batch
        variables = init_variables(self.program, self.key(), features, labels, mode)
        if self.warm_start_from is not None:
            variables, self.warm_start_report = warm_start(
                variables, self.warm_start_from, feature_columns=self.feature_columns
            )
        return variables

    def checkpoint_extra(self) -> dict[str, Any]:
        """What a checkpoint records besides arrays about this model's inputs."""
        return {"vocabularies": vocabulary_fingerprints(self.feature_columns)}

    # -- state -----------------------------------------------------------------------

    def initial_state(
        self, checkpoint: str | None, batch: batching.Batch
    ) -> TrainState | None:
        """The train state restored from `checkpoint`; None without one."""
        if checkpoint is None:
            return None
        traced = self.trace(ModeKeys.TRAIN, batch)
        template = checkpoint_template(traced.variables, traced.spec.optimizer)
        tree, _ = checkpoints.restore_checkpoint(checkpoint, template)
        logger.info("Restoring parameters from %s", checkpoint)
        return from_checkpoint_tree(tree)

    def train_state(self, checkpoint: str | None, batch: batching.Batch) -> TrainState:
        """The state training starts from: restored, or fresh (and warm-started)."""
        state = self.initial_state(checkpoint, batch)
        if state is not None:
            return state
        variables = self.init_variables(batch, ModeKeys.TRAIN)
        optimizer = self.trace(ModeKeys.TRAIN, batch).spec.optimizer
        return TrainState.create(variables, optimizer, self.key())

    def variables(
        self, checkpoint: str | None, batch: batching.Batch, mode: str
    ) -> Loaded:
        """Variables, global_step and RNG of `checkpoint`, cached while unchanged.

        Without a checkpoint the variables are freshly initialised, as tf did.
        Inside `with runner.in_memory(...)` the given variables are used instead.
        """
        if self._in_memory is not None:
            return self._in_memory
        stamp = (
            checkpoint,
            checkpoints.checkpoint_stamp(checkpoint) if checkpoint else None,
        )
        if self._loaded is not None and self._loaded[0] == stamp:
            return self._loaded[1]
        if checkpoint is None:
            logger.info(
                "Could not find trained model in model_dir: %s, running "
                "initialization to %s.",
                self.config.model_dir,
                mode,
            )
            loaded = (
                self.init_variables(batch, mode),
                0,
                jax.random.key_data(self.key()),
            )
        else:
            template = serving_template(self.trace(mode, batch).variables)
            tree = checkpoints.restore_subtree(checkpoint, template)
            loaded = (
                jax.tree.map(jnp.asarray, tree["variables"]),
                int(tree["global_step"]),
                jnp.asarray(tree["rng"], jnp.uint32),
            )
        self._loaded = (stamp, loaded)
        return loaded

    def checkpoint_variables(self) -> dict[str, np.ndarray]:
        """The variables and global_step of the latest checkpoint, by name."""
        path = checkpoints.newest_usable_checkpoint(
            self.config.model_dir, self.verified_checkpoints
        )
        if path is None:
            raise ValueError(
                f"no checkpoint in model_dir {self.config.model_dir!r}: train the "
                "model first."
            )
        return variable_arrays(checkpoints.read_checkpoint(path)[0])

    @contextlib.contextmanager
    def in_memory(
        self, variables: Any, global_step: int, rng: jax.Array
    ) -> Iterator[None]:
        """Evaluates and predicts with these variables instead of a checkpoint.

        Args:
            variables: The model's variables (a `TrainState`'s `variables`).
            global_step: The step they belong to, reported by `evaluate`.
            rng: Their raw PRNG key data (`TrainState.rng`), as a checkpoint
                of that step would hold it.
        """
        self._in_memory = (variables, int(global_step), rng)
        try:
            yield
        finally:
            self._in_memory = None

    def forget_variables(self) -> None:
        """Drops the cached variables: the next call reads the checkpoint again."""
        self._loaded = None

    # -- evaluate and predict --------------------------------------------------------

    def evaluate(
        self,
        pipeline: InputPipeline,
        *,
        steps: int | None,
        hooks: HookList,
        checkpoint: str | None,
        strategy: Any = None,
        slice_by: Any = None,
    ) -> dict[str, Any]:
        """Streams `pipeline` through the eval step; metrics merged exactly.

        With `slice_by` (see `estimators.slicing`), `results["slices"]` holds
        the metrics of each slice, computed in the same pass.
        """
        slicer = Slicer(parse_slice_by(slice_by)) if slice_by else None
        if slicer is not None:
            pipeline.transform = slicer.capture(pipeline.transform)
        totals: dict[str, Metric] = {}
        total_loss: Any = None
        count = 0
        context = StepContext(
            mode=ModeKeys.EVAL, global_step=0, model_dir=self.config.model_dir
        )
        multiple = strategy.local_device_count if strategy is not None else 1
        started = False
        for features, labels, rows in pipeline:
            if steps is not None and count >= steps:
                break
            if labels is None:
                raise ValueError("evaluate needs labels, but input_fn gave none.")
            size = batching.train_size(rows, multiple)
            batch = batching.pad(features, labels, rows, size)
            if not started:
                started = True
                variables, global_step, rng = self.variables(
                    checkpoint, batch, ModeKeys.EVAL
                )
                variables, step_array, rng, global_step = _replicate(
                    strategy, variables, rng, global_step
                )
                context.global_step = global_step
                hooks.extend(self.trace(ModeKeys.EVAL, batch).spec.evaluation_hooks)
                hooks.begin(context)
                config = self.step_config(
                    ModeKeys.EVAL, batch, pipeline.host_only, strategy
                )
            hooks.before_step(context)
            config = config.with_fetches(context.fetches)
            run = functools.partial(
                _eval_batch, config, variables, step_array, rng, strategy
            )
            loss, metrics, fetched = run(batch)
            if slicer is not None:
                slicer.add(batch, rows, run)
            context._set_outputs({"loss": loss}, fetched)
            hooks.after_step(context)
            total_loss = loss if total_loss is None else total_loss + loss
            totals = merge_metric_dicts(totals, metrics)
            count += 1
            if context.stop_requested:
                break
        if not started:
            raise ValueError("input_fn gave no data to evaluate.")
        hooks.end(context)
        results: dict[str, Any] = compute_results(totals)
        results["loss"] = float(total_loss) / count
        results["global_step"] = context.global_step
        if slicer is not None:
            results["slices"] = slicer.rows()
        return results

    def predict(
        self,
        pipeline: InputPipeline,
        *,
        keys: tuple[str, ...] | None,
        hooks: HookList,
        checkpoint: str | None,
        strategy: Any = None,
    ) -> Iterator[tuple[dict[str, np.ndarray] | np.ndarray, int]]:
        """Yields each batch's host predictions (real rows only) and row count."""
        context = StepContext(
            mode=ModeKeys.PREDICT, global_step=0, model_dir=self.config.model_dir
        )
        multiple = strategy.local_device_count if strategy is not None else 1
        started = False
        for features, _, rows in pipeline:
            batch = batching.pad(
                features, None, rows, batching.predict_size(rows, multiple)
            )
            if not started:
                started = True
                variables, global_step, rng = self.variables(
                    checkpoint, batch, ModeKeys.PREDICT
                )
                variables, _, rng, context.global_step = _replicate(
                    strategy, variables, rng, global_step
                )
                hooks.extend(self.trace(ModeKeys.PREDICT, batch).spec.prediction_hooks)
                hooks.begin(context)
                config = self.step_config(
                    ModeKeys.PREDICT, batch, pipeline.host_only, strategy
                )
            hooks.before_step(context)
            yield (
                self._predict_batch(
                    config, variables, rng, batch, rows, keys, strategy
                ),
                rows,
            )
            hooks.after_step(context)
            if context.stop_requested:
                break
        if started:
            hooks.end(context)

    def predict_features(
        self,
        features: Any,
        rows: int,
        checkpoint: str | None,
        *,
        host_only: Mapping[str, str] | None = None,
        var_width: Iterable[str] = (),
    ) -> Any:
        """Host predictions of one batch of transformed features (the Predictor's
        call): padded to a power of two, variable-width lists too, then cut."""
        batch = batching.pad(features, None, rows, batching.predict_size(rows))
        batch = batch._replace(features=batching.pad_widths(batch.features, var_width))
        variables, _, rng = self.variables(checkpoint, batch, ModeKeys.PREDICT)
        config = self.step_config(ModeKeys.PREDICT, batch, host_only)
        return self._predict_batch(config, variables, rng, batch, rows, None, None)

    def _predict_batch(
        self,
        config: StepConfig,
        variables: Any,
        rng: jax.Array,
        batch: batching.Batch,
        rows: int,
        keys: tuple[str, ...] | None,
        strategy: Any,
    ) -> Any:
        inputs = batch.features
        if strategy is not None:
            inputs = strategy.shard_batch(inputs)
        outputs = predict_step(config, variables, rng, inputs, keys)
        return self.host_predictions(outputs, rows, strategy)

    def host_predictions(self, outputs: Any, rows: int, strategy: Any = None) -> Any:
        """The real rows of a batch's predictions, as numpy, host-transformed."""
        if strategy is not None:  # this process's rows of the sharded outputs
            outputs = strategy.local(outputs)
        if isinstance(outputs, Mapping):
            # np.asarray per output is several times cheaper than jax.device_get
            # on the whole dict for a single-row request.
            predictions: Any = {k: np.asarray(v)[:rows] for k, v in outputs.items()}
        else:
            predictions = np.asarray(outputs)[:rows]
        if self.prediction_transform is not None:
            predictions = self.prediction_transform(predictions)
        return predictions


def _eval_batch(
    config: StepConfig,
    variables: Any,
    step: jax.Array,
    rng: jax.Array,
    strategy: Any,
    batch: batching.Batch,
) -> tuple[jax.Array, dict[str, Metric], dict[str, jax.Array]]:
    """The loss, metrics and fetched values of one batch (sharded under a strategy)."""
    if strategy is not None:
        batch = strategy.shard_batch(batch)
    if config.fetches:
        return eval_step_fetching(config, variables, step, rng, batch)
    return (*eval_step(config, variables, step, rng, batch), {})


def _replicate(
    strategy: Any, variables: Any, rng: jax.Array, global_step: int
) -> tuple[Any, jax.Array, jax.Array, int]:
    """Under a strategy, every process takes the chief's variables, rng and step."""
    step = jnp.int32(global_step)
    if strategy is None:
        return variables, step, rng, global_step
    variables, step, rng = strategy.replicate((variables, step, rng))
    return variables, step, rng, int(step)
