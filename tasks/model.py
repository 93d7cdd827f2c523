"""The Estimator and input functions a config describes.

Training, evaluation, the champion comparison and export all build their
Estimator here, from the config and the frozen feature columns, so the four
cannot disagree about the model.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import estimators as est
from estimators import canned
from flows.config import PipelineConfig
from tasks import columns as columns_lib

__all__ = ["build_estimator", "input_fn", "resolve"]


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


def _estimator_class(name: str) -> type:
    if ":" in name:
        return resolve(name)
    if name not in canned.__all__ or not name[0].isupper():
        known = [n for n in canned.__all__ if n[0].isupper()]
        raise ValueError(
            f"estimator.type {name!r} is not a canned estimator; known: {known}."
        )
    return getattr(canned, name)


def _argument(name: str, value: Any) -> Any:
    """YAML spellings of callables: activations by name, optimizers with a rate."""
    if name.endswith("activation_fn") and isinstance(value, str):
        import flax.linen as nn

        return getattr(nn, value)
    if name.endswith("optimizer") and isinstance(value, Mapping) and len(value) == 1:
        [(optimizer, settings)] = value.items()
        return canned.get_optimizer(optimizer, argument=name, **dict(settings or {}))
    return value


def run_config(config: PipelineConfig, writers: Sequence[Any]) -> est.RunConfig:
    """The RunConfig of `config.train`, sending summaries to `writers`."""
    train = config.train
    return est.RunConfig(
        random_seed=train.seed,
        save_summary_steps=train.save_summary_steps,
        save_checkpoints_steps=train.save_checkpoints_steps,
        save_checkpoints_secs=None if train.save_checkpoints_steps else 600,
        keep_checkpoint_max=train.keep_checkpoint_max,
        log_step_count_steps=train.log_step_count_steps,
        steps_per_execution=train.steps_per_execution,
        metric_writers=list(writers),
    )


def build_estimator(
    config: PipelineConfig,
    columns_uri: str,
    model_dir: str,
    writers: Sequence[Any] = (),
) -> est.Estimator:
    """The config's Estimator over `model_dir`, with the frozen columns.

    A canned estimator gets each column group as the argument of that name
    (`feature_columns`, `linear_feature_columns`, ...); a custom `model_fn` gets
    them in `params` under the same names.

    Args:
        config: The pipeline config.
        columns_uri: The frozen feature columns (`FrozenColumns.uri`).
        model_dir: Checkpoints go (and are resumed from) here.
        writers: `MetricWriter`s that receive every summary.
    """
    groups = columns_lib.read_groups(columns_uri)
    spec = config.estimator
    args = {k: _argument(k, v) for k, v in spec.args.items()}
    conflict = sorted(set(args) & (set(groups) | {"model_dir", "config"}))
    if conflict:
        raise ValueError(
            f"estimator.args must not set {conflict}: the pipeline fills them in "
            "(feature columns come from `features`)."
        )
    config_ = run_config(config, writers)
    if spec.model_fn:
        model_fn: Callable[..., Any] = resolve(spec.model_fn)
        return est.Estimator(
            model_fn,
            model_dir=model_dir,
            config=config_,
            params={**args, **groups},
            feature_columns=columns_lib.all_columns(groups),
        )
    cls = _estimator_class(spec.type)
    try:
        return cls(**args, **groups, model_dir=model_dir, config=config_)
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
