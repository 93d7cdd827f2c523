"""The Estimator and input functions a config describes.

Training, evaluation, the champion comparison and export all build their
Estimator here, from the config and the frozen feature columns, so the four
cannot disagree about the model.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import estimators as est
from estimators import canned
from estimators_pipeline.tasks import columns as columns_lib
from estimators_pipeline.tasks.config import EstimatorConfig, TrainConfig

__all__ = [
    "build_estimator",
    "construct_estimator",
    "estimator_argument",
    "estimator_class",
    "input_fn",
    "resolve",
    "run_config",
]


def resolve(name: str) -> Any:
    """The object named "package.module:attr" or "path/to/file.py:attr".

    The current directory is importable, as when running a script from the
    project root.

    Example:
        >>> resolve("estimators.canned:DNNClassifier").__name__
        'DNNClassifier'
    """
    module_name, sep, attr = name.partition(":")
    if not sep or not attr:
        raise ValueError(
            f"expected 'module:attribute' or 'file.py:attribute', got {name!r}."
        )
    if module_name.endswith(".py"):
        spec = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(module_name))[0], module_name
        )
        if spec is None or not os.path.exists(module_name):
            raise ValueError(f"{name!r}: no such file {module_name!r}.")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{name!r}: module {module_name!r} has no {attr!r}.") from None


def estimator_class(name: str) -> type:
    """The canned estimator `name` ("DNNClassifier") or the class "module:Class"."""
    if ":" in name:
        return resolve(name)
    if name not in canned.__all__ or not name[0].isupper():
        known = [n for n in canned.__all__ if n[0].isupper()]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {known}"
        raise ValueError(f"estimator.type {name!r} is not a canned estimator{hint}.")
    return getattr(canned, name)


def estimator_argument(name: str, value: Any) -> Any:
    """YAML spellings of callables: activations by name, optimizers with a rate."""
    if name.endswith("activation_fn") and isinstance(value, str):
        import flax.linen as nn

        if not callable(getattr(nn, value, None)):
            raise ValueError(
                f"estimator.args.{name}: flax.linen has no activation {value!r} "
                "(e.g. relu, tanh, sigmoid)."
            )
        return getattr(nn, value)
    if name.endswith("optimizer") and isinstance(value, Mapping) and len(value) == 1:
        [(optimizer, settings)] = value.items()
        try:
            return canned.get_optimizer(
                optimizer, argument=f"estimator.args.{name}", **dict(settings or {})
            )
        except TypeError as e:
            raise ValueError(f"estimator.args.{name} ({optimizer}): {e}") from None
    return value


def run_config(
    train: TrainConfig | None = None,
    writers: Sequence[Any] = (),
    *,
    save_checkpoints_steps: int | None = None,
) -> est.RunConfig:
    """The RunConfig of a `train` section, sending summaries to `writers`.

    Args:
        train: The training settings; default `TrainConfig()`.
        writers: `MetricWriter`s that receive every summary.
        save_checkpoints_steps: Overrides `train.save_checkpoints_steps` (the
            evaluation cadence during training needs a checkpoint per evaluation).
    """
    train = train or TrainConfig()
    every = save_checkpoints_steps or train.save_checkpoints_steps
    return est.RunConfig(
        random_seed=train.seed,
        save_summary_steps=train.save_summary_steps,
        save_checkpoints_steps=every,
        save_checkpoints_secs=None if every else 600,
        keep_checkpoint_max=train.keep_checkpoint_max,
        log_step_count_steps=train.log_step_count_steps,
        steps_per_execution=train.steps_per_execution,
        metric_writers=list(writers),
    )


def build_estimator(
    estimator: EstimatorConfig,
    columns_uri: str,
    model_dir: str,
    *,
    config: est.RunConfig | None = None,
) -> est.Estimator:
    """The configured Estimator over `model_dir`, with the frozen columns.

    A canned estimator gets each column group as the argument of that name
    (`feature_columns`, `linear_feature_columns`, ...); a custom `model_fn` gets
    them in `params` under the same names.

    Args:
        estimator: The `estimator` section of the pipeline config.
        columns_uri: The frozen feature columns (`FrozenColumns.uri`).
        model_dir: Checkpoints go (and are resumed from) here.
        config: The RunConfig (see `run_config`); default `run_config()`.
    """
    return construct_estimator(
        estimator, columns_lib.read_groups(columns_uri), model_dir, config
    )


def construct_estimator(
    spec: EstimatorConfig,
    groups: Mapping[str, Sequence[Any]],
    model_dir: str,
    config: est.RunConfig | None = None,
) -> est.Estimator:
    """The Estimator of `spec` with column `groups` (built, or frozen)."""
    args = {k: estimator_argument(k, v) for k, v in spec.args.items()}
    conflict = sorted(set(args) & (set(groups) | {"model_dir", "config"}))
    if conflict:
        raise ValueError(
            f"estimator.args must not set {conflict}: the pipeline fills them in "
            "(feature columns come from `features`)."
        )
    config = config or run_config()
    if spec.model_fn:
        model_fn: Callable[..., Any] = resolve(spec.model_fn)
        return est.Estimator(
            model_fn,
            model_dir=model_dir,
            config=config,
            params={**args, **groups},
            feature_columns=columns_lib.all_columns(groups),
        )
    cls = estimator_class(spec.type)
    try:
        return cls(**args, **groups, model_dir=model_dir, config=config)
    except TypeError as e:
        raise ValueError(f"estimator {spec.type}: {e}") from None


def input_fn(
    uri: str,
    raw_keys: Sequence[str],
    label: str,
    batch_size: int,
    *,
    shuffle_buffer: int | None = None,
    seed: int = 0,
) -> Callable[[], est.Dataset]:
    """An input_fn over a Parquet split: one pass, or shuffled and repeated.

    Args:
        uri: The Parquet file.
        raw_keys: The raw feature columns to read.
        label: The label column.
        batch_size: Rows per batch.
        shuffle_buffer: Shuffle with this buffer and repeat forever (training);
            None reads the split once in order (evaluation).
        seed: The shuffle seed.
    """

    def make() -> est.Dataset:
        dataset = est.Dataset.from_parquet(uri, columns=list(raw_keys), label=label)
        if shuffle_buffer:
            dataset = dataset.shuffle(shuffle_buffer, seed=seed).repeat()
        return dataset.batch(batch_size)

    return make
