import json

import numpy as np
import pyarrow.parquet as pq

from estimators_pipeline.tasks import columns
from estimators_pipeline.tasks.config import PipelineConfig
from estimators_pipeline.tasks.ingest import ingest
from estimators_pipeline.tasks.transform import transform

FEATURES = [
    {"numeric_column": {"key": "age", "normalizer": "zscore"}},
    {"categorical_column_with_vocabulary_list": {"key": "workclass", "top_k": 3}},
]


def _transform(config, splits):
    return transform.fn(config.features, config.data.label, splits, config.work_dir)


def _config(work_dir, census_dir, features):
    return PipelineConfig.model_validate(
        {
            "model_name": "data",
            "data": {"uri": str(census_dir), "label": "label"},
            "features": features,
            "estimator": {"type": "LinearClassifier"},
            "work_dir": str(work_dir),
        }
    )


def test_statistics_are_learnt_on_the_training_split_only(tmp_path, census_dir):
    config = _config(tmp_path, census_dir, FEATURES)
    splits = ingest.fn(config.data, config.features, config.work_dir)
    frozen = _transform(config, splits)
    age, workclass = columns.read_groups(frozen.uri)["feature_columns"]
    train = pq.read_table(splits.train_uri)
    ages = train.column("age").to_numpy().astype(np.float64)
    np.testing.assert_allclose(age.mean, [ages.mean()], rtol=1e-6)
    np.testing.assert_allclose(age.std, [ages.std()], rtol=1e-5)
    values, counts = np.unique(
        train.column("workclass").to_numpy(zero_copy_only=False), return_counts=True
    )
    top = sorted(zip(-counts, values, strict=True))[:3]  # by count, ties by value
    assert list(workclass.vocabulary_list) == [v for _, v in top]
    assert frozen.raw_keys == {"age": "float32", "workclass": "string"}


def test_the_frozen_file_is_named_by_data_and_spec(tmp_path, census_dir):
    config = _config(tmp_path, census_dir, FEATURES)
    splits = ingest.fn(config.data, config.features, config.work_dir)
    first = _transform(config, splits)
    again = _transform(config.override(**{"train.steps": 5}), splits)  # not a feature
    other = _transform(config.override(features=FEATURES[:1]), splits)
    assert first.uri == again.uri != other.uri
    with open(first.uri) as f:
        assert json.load(f)["format"] == "estimators.pipeline.feature_columns"
