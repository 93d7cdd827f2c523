"""Predictor: hot, bucketed, and reloaded only when a newer model appears."""

from __future__ import annotations

import os

import numpy as np
import pytest

import estimators as est


def test_estimator_predictor_matches_predict(
    classifier, make_census, predict, assert_same
):
    predictor = classifier.predictor()
    assert predictor.global_step == 40
    assert predictor.path == classifier.latest_checkpoint()
    for rows in (1, 3, 17):
        features = make_census(rows, seed=rows)
        assert_same(predictor(features), predict(classifier, features))


def test_export_predictor_matches_the_loaded_export(
    export_path, make_census, assert_same
):
    features = make_census(11, seed=3)
    predictor = est.Predictor(export_path)
    assert predictor.global_step == 40
    assert_same(predictor(features), est.export.load(export_path)(features))


def test_predict_keys_select_outputs(export_path, make_census):
    predictor = est.Predictor(export_path)
    out = predictor(make_census(2), predict_keys=["classes"])
    assert list(out) == ["classes"]
    assert out["classes"].tolist()[0][0] in ("low", "high")
    with pytest.raises(ValueError, match=r"predict_keys \['nope'\] are not among"):
        predictor(make_census(2), predict_keys="nope")


def test_estimator_predictor_reloads_only_for_a_newer_checkpoint(
    mlp, tmp_path, predict, assert_same, monkeypatch
):
    estimator, x = mlp
    model = est.Estimator(
        estimator.model_fn,
        model_dir=str(tmp_path),
        config=estimator.config.replace(model_dir=str(tmp_path)),
    )
    y = (x[:, 0] > 0).astype(np.int32)
    model.train(lambda: ({"x": x}, y), steps=5)
    predictor = model.predictor(check_interval_secs=0)
    first = predictor({"x": x[:4]})
    loads = []
    source = predictor._source
    original = source.load
    monkeypatch.setattr(
        source, "load", lambda stamp: loads.append(stamp) or original(stamp)
    )
    predictor({"x": x[:4]})
    assert loads == []  # unchanged checkpoint: nothing reloaded
    model.train(lambda: ({"x": x}, y), steps=20)
    second = predictor({"x": x[:4]})
    assert len(loads) == 1 and predictor.global_step == 25
    assert not np.allclose(first["probabilities"], second["probabilities"])
    assert_same(second, predict(model, {"x": x[:4]}))


def test_a_base_directory_predictor_picks_up_newer_exports(mlp, tmp_path):
    estimator, x = mlp
    receiver = est.build_raw_serving_input_receiver_fn({"x": x[:1]})
    first = estimator.export_saved_model(str(tmp_path), receiver)
    predictor = est.Predictor(str(tmp_path), check_interval_secs=3600)
    assert predictor.path == first
    second = estimator.export_saved_model(str(tmp_path), receiver)
    predictor({"x": x[:2]})
    assert predictor.path == first  # not checked again within the interval
    assert predictor.refresh() and predictor.path == second
    assert not predictor.refresh()


def test_reload_reads_the_export_again(export_path):
    predictor = est.Predictor(export_path)
    before = predictor._runner
    predictor.reload()
    assert predictor._runner is not before


def test_a_missing_export_is_refused(tmp_path):
    with pytest.raises(est.export.ExportError, match="export.json is missing"):
        est.Predictor(str(tmp_path))
    with pytest.raises(est.export.ExportError, match="does not exist"):
        est.Predictor(os.path.join(str(tmp_path), "nope"))


def test_check_interval_must_not_be_negative(export_path):
    with pytest.raises(ValueError, match="check_interval_secs"):
        est.Predictor(export_path, check_interval_secs=-1)
