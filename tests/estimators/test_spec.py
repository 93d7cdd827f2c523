"""EstimatorSpec validation per mode."""

from __future__ import annotations

import optax
import pytest

import estimators as est


def test_each_mode_names_its_missing_field():
    with pytest.raises(ValueError, match="PREDICT mode is missing `predictions`"):
        est.EstimatorSpec(est.ModeKeys.PREDICT)
    with pytest.raises(ValueError, match="EVAL mode is missing `loss`"):
        est.EstimatorSpec(est.ModeKeys.EVAL)
    with pytest.raises(ValueError, match="TRAIN mode is missing `loss`"):
        est.EstimatorSpec(est.ModeKeys.TRAIN, optimizer=optax.sgd(0.1))
    with pytest.raises(ValueError, match="TRAIN mode is missing `optimizer`"):
        est.EstimatorSpec(est.ModeKeys.TRAIN, loss=1.0)


def test_a_bad_mode_and_optimizer_are_named():
    with pytest.raises(ValueError, match="`mode` must be one of"):
        est.EstimatorSpec("fit", loss=1.0)
    with pytest.raises(TypeError, match="optax GradientTransformation"):
        est.EstimatorSpec("train", loss=1.0, optimizer="adam")


def test_mode_strings_become_mode_keys():
    spec = est.EstimatorSpec("infer", predictions={"y": 1})
    assert spec.mode is est.ModeKeys.PREDICT
    assert est.ModeKeys.TRAIN == "train" and est.ModeKeys.EVAL == "eval"


def test_train_op_holding_an_optax_transformation_is_the_optimizer():
    adam = optax.adam(0.1)
    with pytest.warns(est.TFCompatWarning, match="`train_op`.*is `optimizer`"):
        spec = est.EstimatorSpec("train", loss=1.0, train_op=adam)
    assert spec.optimizer is adam
    with pytest.raises(ValueError, match="give one of them"):
        est.EstimatorSpec("train", loss=1.0, train_op=adam, optimizer=adam)


def test_a_tf_train_op_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"optimizer=optax.adagrad\(0.1\)"):
        est.EstimatorSpec("train", loss=1.0, train_op="minimize_op")


def test_training_chief_hooks_run_with_the_training_hooks_on_the_chief():
    hook, chief_hook = est.Hook(), est.Hook()
    spec = est.EstimatorSpec(
        "train",
        loss=1.0,
        optimizer=optax.sgd(0.1),
        training_hooks=[hook],
        training_chief_hooks=[chief_hook],
    )
    assert spec.training_hooks == (hook, chief_hook)  # one process: the chief


def test_a_scaffold_is_accepted_and_ignored_with_a_warning():
    with pytest.warns(est.TFCompatWarning, match="`scaffold`.*ignored"):
        spec = est.EstimatorSpec("infer", predictions={"y": 1}, scaffold=object())
    assert spec.predictions == {"y": 1}
