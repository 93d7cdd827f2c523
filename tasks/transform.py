"""Transform: learn the feature columns' statistics on the training split, freeze them.

The frozen columns (vocabularies, mean/std, bucket boundaries) are the single
definition of the features that training, evaluation, the champion comparison
and the exported model all use, so training and serving cannot drift apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.cache_policies import CacheKeyFnPolicy

from estimators import feature_column as fc
from estimators.data import Dataset
from estimators_pipeline.tasks import columns as columns_lib
from estimators_pipeline.tasks.cache import (
    REFERENCE_SERIALIZER,
    ReferenceStorage,
    reference,
)
from estimators_pipeline.tasks.config import ColumnSpecs
from estimators_pipeline.tasks.ingest import Splits
from estimators_pipeline.tasks.logs import stage_logger
from estimators_pipeline.tasks.policies import (
    content_key,
    output_cache_key,
    source_digest,
)

__all__ = ["FrozenColumns", "freeze", "transform"]

_BATCH_ROWS = 4096


@reference
@dataclass(frozen=True)
class FrozenColumns:
    """A reference to frozen feature columns.

    Attributes:
        uri: The JSON file (`tasks.columns.read_groups` reads it).
        raw_keys: Raw feature key -> dtype the columns read.
    """

    uri: str
    raw_keys: dict[str, str]


def _batches(uri: str, keys: list[str], label: str) -> Dataset:
    return Dataset.from_parquet(uri, columns=keys, label=label).batch(_BATCH_ROWS)


def freeze(splits: Splits, features: Any, label: str, path: str) -> FrozenColumns:
    """Analyzes the columns on the train split, checks they apply, writes `path`.

    Every row of both splits is run through `fc.transform` once, so a value the
    columns cannot handle fails here, naming the column and row, not mid-training.
    """
    groups = columns_lib.build_groups(features)
    keys = columns_lib.raw_keys(groups)
    columns = columns_lib.all_columns(groups)
    learnt = {
        c.name: c
        for c in fc.analyze(_batches(splits.train_uri, list(keys), label), columns)
    }
    frozen = {g: [learnt[c.name] for c in cols] for g, cols in groups.items()}
    for uri in (splits.train_uri, splits.eval_uri):
        for batch, _ in _batches(uri, list(keys), label):
            fc.transform(batch, list(learnt.values()))
    columns_lib.write_groups(frozen, path)
    return FrozenColumns(uri=path, raw_keys=keys)


def _output(splits: Splits, features: Any, label: str, work_dir: str) -> str:
    key = content_key(splits, features, label, source_digest(freeze))
    return os.path.join(os.path.abspath(work_dir), "transform", f"{key[:24]}.json")


def _cache_key(context: Any, parameters: dict[str, Any]) -> str | None:
    path = _output(
        parameters["splits"],
        parameters["features"],
        parameters["label"],
        parameters["work_dir"],
    )
    key = f"transform-{os.path.splitext(os.path.basename(path))[0]}"
    return output_cache_key(context, key, os.path.exists(path))


@task(
    name="transform",
    # Results as JSON references, their metadata checked before use (tasks/cache.py).
    cache_policy=CacheKeyFnPolicy(
        cache_key_fn=_cache_key, key_storage=ReferenceStorage()
    ),
    result_serializer=REFERENCE_SERIALIZER,
)
def transform(
    features: ColumnSpecs, label: str, splits: Splits, work_dir: str
) -> FrozenColumns:
    """Freezes the feature columns on the training split.

    Args:
        features: The config's feature column specs.
        label: The label column (left out of the features).
        splits: The ingested splits.
        work_dir: The pipeline's local folder; the frozen columns go to
            `work_dir/transform/<content key>.json`.

    Cached on the split (its content fingerprint and files), the feature spec,
    the label and this module's source.
    """
    frozen = freeze(splits, features, label, _output(splits, features, label, work_dir))
    stage_logger(__name__).info(
        "transform: %d raw columns read, frozen in %s",
        len(frozen.raw_keys),
        os.path.basename(frozen.uri),
    )
    return frozen
