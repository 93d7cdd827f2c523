"""Serving input receivers: raw columns named with dtypes and per-row shapes."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np
import optax
import pyarrow as pa
import pytest

import estimators as est
from estimators import feature_column as fc
from estimators.export import InputSpec, ServingInputReceiver


def test_raw_receiver_takes_example_batches_of_any_kind():
    receiver = est.build_raw_serving_input_receiver_fn(
        {
            "x": np.zeros((1, 4), np.float32),
            "n": np.zeros(3, np.int64),
            "city": pa.array(["a"]),
            "tags": pa.array([["a", "b"]]),
            "s": jax.ShapeDtypeStruct((1, 2), np.float32),
            "given": InputSpec("bool"),
        }
    )()
    assert receiver.features == {
        "x": InputSpec("float32", (4,)),
        "n": InputSpec("int64", ()),
        "city": InputSpec("string", ()),
        "tags": InputSpec("string", (), varlen=True),
        "s": InputSpec("float32", (2,)),
        "given": InputSpec("bool", ()),
    }
    assert not receiver.parse_records


def test_parsing_receiver_takes_a_parse_spec_with_defaults():
    spec = fc.make_parse_example_spec(
        [
            fc.numeric_column("age", default_value=30.0),
            fc.categorical_column_with_hash_bucket("city", 5),
        ]
    )
    receiver = est.build_parsing_serving_input_receiver_fn(spec)()
    assert receiver.parse_records
    assert receiver.features["age"] == InputSpec("float32", (1,), False, (30.0,))
    assert receiver.features["city"] == InputSpec("string", (), varlen=True)


def test_input_spec_json_round_trip():
    spec = InputSpec("float32", (2,), default_value=1.0)
    assert spec.default_value == (1.0, 1.0)
    assert InputSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({}, "non-empty dict"),
        ({"x": np.float32(1.0)}, "leading batch axis"),
        ({"x": np.zeros((1, 2), complex)}, "numeric or 'string'"),
    ],
)
def test_bad_receivers_are_named(features, message):
    with pytest.raises(ValueError, match=message):
        ServingInputReceiver(features)


def test_a_receiver_fn_must_return_a_receiver(mlp, tmp_path):
    estimator, _ = mlp
    with pytest.raises(
        TypeError, match="must return an est.export.ServingInputReceiver"
    ):
        estimator.export_saved_model(str(tmp_path), lambda: {"x": 1})


def _array_model_fn(features, labels, mode):
    """A model_fn whose features are ONE array, as tf's TensorServingInputReceiver."""
    assert not isinstance(features, dict)
    y = nn.Dense(2)(features)
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"y": y})
    loss = est.losses.mean_squared_error(labels, y)
    return est.EstimatorSpec(mode, loss=loss, optimizer=optax.sgd(0.1))


def test_a_tensor_receiver_serves_a_model_fn_of_one_array(tmp_path):
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
    estimator = est.Estimator(_array_model_fn, model_dir=str(tmp_path / "m"))
    estimator.train(lambda: (x, x[:, :2]), steps=3)
    receiver = est.export.TensorServingInputReceiver(x)
    assert receiver.features == {"inputs": InputSpec("float32", (3,))}
    path = estimator.export_saved_model(str(tmp_path / "e"), lambda: receiver)
    model = est.export.load(path)
    assert model.signature["tensor_key"] == "inputs"
    expected = next(estimator.predict(lambda: (x, None), yield_single_examples=False))
    np.testing.assert_allclose(model(x)["y"], expected["y"], rtol=1e-6)
    np.testing.assert_allclose(model({"inputs": x})["y"], expected["y"], rtol=1e-6)
    np.testing.assert_allclose(model(x.tolist())["y"], expected["y"], rtol=1e-6)


def test_a_tensor_receiver_takes_one_array_not_a_dict():
    with pytest.raises(ValueError, match="`features` is one array spec, not a dict"):
        est.export.TensorServingInputReceiver({"x": np.zeros((1, 2))})
    named = est.export.TensorServingInputReceiver(
        np.zeros((1, 2)), receiver_tensors={"images": None}
    )
    assert named.tensor_key == "images"
