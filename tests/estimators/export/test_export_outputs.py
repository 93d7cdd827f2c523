"""EstimatorSpec(export_outputs=...): named serving signatures, tf's default rule."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import estimators as est


def signature_model_fn(features, labels, mode, params):
    logits = nn.Dense(3)(features["x"])
    probabilities = jax.nn.softmax(logits)
    value = logits[:, :1]
    if mode == est.ModeKeys.PREDICT:
        outputs = params["outputs"](probabilities, value, logits)
        return est.EstimatorSpec(
            mode,
            predictions={"probabilities": probabilities, "logits": logits},
            export_outputs=outputs,
        )
    loss = est.losses.sparse_softmax_cross_entropy(labels, logits)
    return est.EstimatorSpec(mode, loss=loss, optimizer=optax.sgd(0.1))


def export(tmp_path, outputs):
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    y = np.arange(8, dtype=np.int32) % 3
    model = est.Estimator(
        signature_model_fn, str(tmp_path / "m"), params={"outputs": outputs}
    )
    model.train(lambda: ({"x": x}, y), steps=2)
    receiver = est.export.build_raw_serving_input_receiver_fn({"x": x[:1]})
    path = model.export_saved_model(str(tmp_path / "export"), receiver)
    return model, est.export.load(path), x


def test_several_named_signatures_are_served_and_the_default_is_tf_s(tmp_path):
    outputs = lambda p, v, logits: {  # noqa: E731
        "serving_default": est.export.ClassificationOutput(scores=p),
        "regression": est.export.RegressionOutput(v),
        "predict": est.export.PredictOutput({"logits": logits}),
    }
    model, exported, x = export(tmp_path, outputs)
    expected = next(model.predict(lambda: {"x": x}, yield_single_examples=False))
    assert exported.signature_names == ["serving_default", "predict", "regression"]
    default = exported({"x": x})
    assert list(default) == ["scores"]  # tf's ClassificationOutput key
    np.testing.assert_allclose(default["scores"], expected["probabilities"], rtol=1e-6)
    regression = exported({"x": x}, signature_name="regression")
    np.testing.assert_allclose(
        regression["outputs"], expected["logits"][:, :1], rtol=1e-6
    )
    logits = exported({"x": x}, signature_name="predict")["logits"]
    np.testing.assert_allclose(logits, expected["logits"], rtol=1e-6)
    with pytest.raises(est.export.ServingInputError, match="unknown signature 'nope'"):
        exported({"x": x}, signature_name="nope")


def test_one_signature_is_also_the_default_as_in_tf(tmp_path):
    outputs = lambda p, v, logits: {"scores": est.export.PredictOutput(p)}  # noqa: E731
    _, exported, x = export(tmp_path, outputs)
    assert exported.signature_names == ["serving_default", "scores"]
    assert list(exported({"x": x})) == ["output"]  # PredictOutput of one array


def test_without_export_outputs_the_predictions_are_the_default(tmp_path):
    _, exported, x = export(tmp_path, lambda p, v, logits: None)
    assert exported.signature_names == ["serving_default"]
    assert sorted(exported({"x": x})) == ["logits", "probabilities"]


def test_bad_export_outputs_name_the_problem():
    with pytest.raises(TypeError, match=r"export_outputs\['a'\] must be an"):
        est.EstimatorSpec(
            "infer", predictions={"p": jnp.ones(2)}, export_outputs={"a": 1}
        )
    with pytest.raises(ValueError, match="none is the default"):
        est.export_output.signature_outputs(
            {
                "a": est.export.PredictOutput(jnp.ones(2)),
                "b": est.export.PredictOutput(jnp.ones(2)),
            },
            None,
        )
