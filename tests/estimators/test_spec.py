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
