"""Shared fixtures: a trained canned classifier with numeric and categorical columns,
exported once per session, and a small custom model without feature columns."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pyarrow as pa  # noqa: E402
import pytest  # noqa: E402

import estimators as est  # noqa: E402
from estimators import feature_column as fc  # noqa: E402
from estimators.canned.dnn import DNNClassifier  # noqa: E402

CITIES = ["berlin", "lagos", "lima"]


def census_like(n: int, seed: int = 0) -> dict[str, object]:
    """Raw columns: age (float), city (string, 3 known values), tags (string lists)."""
    rng = np.random.default_rng(seed)
    tags = [
        [str(t) for t in rng.choice(["a", "b", "c", "d", "e"], rng.integers(1, 4))]
        for _ in range(n)
    ]
    return {
        "age": rng.normal(40.0, 10.0, size=n).astype(np.float32),
        "city": pa.array(rng.choice(CITIES, n)),
        "tags": pa.array(tags, pa.list_(pa.string())),
    }


def census_labels(features: dict[str, object]) -> pa.Array:
    city = np.asarray(features["city"].to_pylist())
    return pa.array(np.where((features["age"] > 40) | (city == "lima"), "high", "low"))


def census_columns(features: dict[str, object]) -> list[object]:
    """Numeric (z-scored by analyze), vocabulary (indicator), hashed lists (embedding)."""
    return fc.analyze(
        [features],
        [
            fc.numeric_column("age", normalizer="zscore"),
            fc.indicator_column(
                fc.categorical_column_with_vocabulary_list("city", CITIES)
            ),
            fc.embedding_column(fc.categorical_column_with_hash_bucket("tags", 11), 3),
        ],
    )


def fast_config(**kwargs):
    defaults = dict(
        save_checkpoints_secs=None, log_step_count_steps=None, save_summary_steps=0
    )
    defaults.update(kwargs)
    return est.RunConfig(**defaults)


@pytest.fixture(scope="session")
def census():
    features = census_like(96)
    return features, census_labels(features)


@pytest.fixture(scope="session")
def classifier(tmp_path_factory, census):
    """A DNNClassifier with label_vocabulary, trained 40 steps."""
    features, labels = census
    model = DNNClassifier(
        [8],
        census_columns(features),
        model_dir=str(tmp_path_factory.mktemp("dnn")),
        label_vocabulary=["low", "high"],
        config=fast_config(),
    )
    return model.train(lambda: (features, labels), steps=40)


@pytest.fixture(scope="session")
def export_path(tmp_path_factory, classifier):
    return classifier.export_saved_model(str(tmp_path_factory.mktemp("exports")))


def predict_batch(estimator, features):
    """Estimator.predict over one batch, as a dict of arrays."""
    return next(estimator.predict(lambda: features, yield_single_examples=False))


def assert_same_predictions(got, expected, atol=1e-6):
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        value = np.asarray(value)
        if value.dtype.kind in "USO":
            np.testing.assert_array_equal(np.asarray(got[key]), value, err_msg=key)
        else:
            np.testing.assert_allclose(
                np.asarray(got[key]), value, atol=atol, err_msg=key
            )


def mlp_model_fn(features, labels, mode, params):
    """A 3-class MLP on raw feature "x" (no feature columns)."""
    net = nn.relu(nn.Dense(8)(features["x"]))
    logits = nn.Dense(3)(net)
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(
            mode,
            predictions={
                "class_ids": jnp.argmax(logits, 1)[:, None],
                "probabilities": jax.nn.softmax(logits),
            },
        )
    loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    return est.EstimatorSpec(mode, loss=loss, optimizer=optax.adam(0.05))


@pytest.fixture(scope="session")
def mlp(tmp_path_factory):
    """A custom model_fn estimator on x float32 [B, 4], trained 30 steps."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 1).astype(np.int32)
    model = est.Estimator(
        mlp_model_fn,
        model_dir=str(tmp_path_factory.mktemp("mlp")),
        config=fast_config(),
    )
    return model.train(lambda: ({"x": x}, y), steps=30), x


# Helpers as fixtures: test modules cannot import this conftest by name.
@pytest.fixture(scope="session")
def make_census():
    return census_like


@pytest.fixture(scope="session")
def predict():
    return predict_batch


@pytest.fixture(scope="session")
def assert_same():
    return assert_same_predictions
