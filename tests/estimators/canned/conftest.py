"""A tiny seeded table for the canned estimators and their complete flow."""

from __future__ import annotations

import numpy as np
import pytest

import estimators as est
from estimators import feature_column as fc

ROWS = 48
COLORS = ["red", "green", "blue"]


@pytest.fixture(scope="session")
def toy():
    """Features x (2 floats), color (strings), w (weights); binary, 3-class and
    real labels that depend on both x and color."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 2)).astype(np.float32)
    color = np.array(COLORS)[rng.integers(0, 3, ROWS)]
    score = x[:, 0] + (color == "red") - 0.5 * (color == "blue")
    return {
        "features": {"x": x, "color": color, "w": rng.uniform(0.5, 2.0, ROWS)},
        "binary": (score > 0.2).astype(np.int32),
        "classes": np.digitize(score, [-0.5, 0.7]).astype(np.int32),
        "real": (2.0 * score + 1.0).astype(np.float32),
    }


@pytest.fixture(scope="session")
def columns():
    """The columns of the toy table: numeric x, categorical color and its dense forms."""
    color = fc.categorical_column_with_vocabulary_list("color", COLORS)
    return {
        "x": fc.numeric_column("x", shape=2),
        "color": color,
        "color_indicator": fc.indicator_column(color),
        "color_embedding": fc.embedding_column(color, dimension=2),
    }


def _batches(features, labels, size):
    def input_fn():
        for i in range(0, ROWS, size):
            part = {k: v[i : i + size] for k, v in features.items()}
            yield (part, None if labels is None else labels[i : i + size])

    return input_fn


@pytest.fixture(scope="session")
def batches():
    """`batches(features, labels, size)`: an input_fn of one ordered pass in batches
    of `size` (labels may be None)."""
    return _batches


@pytest.fixture
def complete_flow(tmp_path):
    """Trains `make(model_dir)` a few steps, evaluates, predicts, predicts again with
    a fresh estimator on the same model_dir, exports and serves the export (with
    `serving`, a serving_input_receiver_fn, or the feature columns' raw features).

    Returns the trained estimator, its evaluation (batches of 32 + 16) and its
    predictions.
    """

    def run(make, features, labels, *, eval_keys, predict_keys, steps=5, serving=None):
        model_dir = str(tmp_path / "model")
        estimator = make(model_dir)
        estimator.train(lambda: (features, labels), steps=steps)
        results = estimator.evaluate(_batches(features, labels, 32))
        assert set(results) == set(eval_keys) | {"loss", "global_step"}
        assert results["global_step"] == steps
        assert all(np.isfinite(v) for v in results.values())
        predictions = list(estimator.predict(_batches(features, None, ROWS)))
        assert len(predictions) == ROWS
        assert set(predictions[0]) == set(predict_keys)
        again = list(make(model_dir).predict(_batches(features, None, ROWS)))
        for before, after in zip(predictions, again, strict=True):
            for key in predict_keys:
                np.testing.assert_array_equal(before[key], after[key])
        path = estimator.export_saved_model(str(tmp_path / "export"), serving)
        exported = est.export.load(path)
        served = exported.predict({k: features[k] for k in exported.input_names})
        for key in predict_keys:
            expected = np.stack([p[key] for p in predictions])
            if expected.dtype.kind == "U":
                np.testing.assert_array_equal(served[key], expected)
            else:
                np.testing.assert_allclose(served[key], expected, rtol=1e-5, atol=1e-6)
        return estimator, results, predictions

    return run


def _nested(flat):
    tree = {}
    for name, value in flat.items():
        *scopes, leaf = name.split("/")
        node = tree
        for scope in scopes:
            node = node.setdefault(scope, {})
        node[leaf] = value
    return tree


@pytest.fixture
def create_checkpoint():
    """`create_checkpoint(estimator, input_fn, values, global_step)`: tf's
    `create_checkpoint` for our layout. Trains one step to write every variable,
    then rewrites the checkpoint with `values` ({"dnn/logits/bias": [...]}, names
    under "params/") at `global_step`."""
    from estimators import checkpoints

    def create(estimator, input_fn, values, global_step):
        estimator.train(input_fn, steps=1)
        arrays, manifest = checkpoints.read_checkpoint(estimator.model_dir)
        for name, value in values.items():
            key = f"variables/params/{name}"
            assert key in arrays, (key, sorted(arrays))
            value = np.asarray(value, arrays[key].dtype)
            assert value.shape == arrays[key].shape, (key, value.shape)
            arrays[key] = value
        arrays["global_step"] = np.asarray(global_step, arrays["global_step"].dtype)
        checkpoints.save_checkpoint(
            estimator.model_dir, global_step, _nested(arrays), extra=manifest["extra"]
        )

    return create


class LossRecorder(est.Hook):
    """Records the training loss of every step (tf's mock optimizer's assertion)."""

    def __init__(self):
        self.losses = []

    def after_step(self, context):
        self.losses.append(float(context.loss))


@pytest.fixture
def loss_recorder():
    return LossRecorder()
