"""export_saved_model + load: the exported model predicts what the Estimator does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import estimators as est
from estimators.export import _files


def read_json(directory, name):
    with open(os.path.join(directory, name)) as f:
        return json.load(f)


def test_export_writes_a_complete_timestamped_directory(export_path, classifier):
    base = os.path.dirname(export_path)
    assert os.path.basename(export_path).isdigit()
    assert os.listdir(base) == [os.path.basename(export_path)]  # no temp dir left
    names = set(os.listdir(export_path))
    assert {
        "export.json",
        "signature.json",
        "predict.jaxexport",
        "variables.safetensors",
        "transform.json",
        "MLmodel",
        "requirements.txt",
    } <= names
    assert "python_model.py" not in names  # the loader is installed code
    manifest = read_json(export_path, "export.json")
    assert manifest["global_step"] == 40
    assert manifest["checkpoint"] == "ckpt-40"
    assert manifest["head"]["class"] == "BinaryClassHead"
    assert manifest["label_vocabulary"] == ["low", "high"]
    signature = read_json(export_path, "signature.json")
    assert signature["inputs"]["age"]["dtype"] == "float32"
    assert signature["inputs"]["tags"] == {
        "dtype": "string",
        "shape": [],
        "varlen": True,
        "default_value": None,
    }
    assert signature["features"]["tags"]["shape"] == [None]  # a symbolic list width
    assert signature["outputs"]["classes"] == {"dtype": "string", "shape": [1]}
    assert signature["outputs"]["probabilities"] == {"dtype": "float32", "shape": [2]}


def test_the_program_has_a_symbolic_batch_dimension(export_path):
    with open(os.path.join(export_path, "predict.jaxexport"), "rb") as f:
        exported = jax.export.deserialize(bytearray(f.read()))
    batch_dims = {str(aval.shape[0]) for aval in exported.out_avals}
    assert batch_dims == {"b"}


def test_loaded_export_matches_estimator_predict(
    export_path, classifier, make_census, predict, assert_same
):
    features = make_census(13, seed=5)
    expected = predict(classifier, features)
    model = est.export.load(export_path)
    assert model.global_step == 40
    assert_same(model(features), expected)
    frame = pd.DataFrame(
        {
            k: v.to_pylist() if isinstance(v, pa.Array) else v
            for k, v in features.items()
        }
    )
    assert_same(model(frame), expected)
    assert_same(model(pa.table(features)), expected)
    assert_same(model(frame.to_dict("records")), expected)


def test_one_record_and_json_text(export_path, classifier, predict, assert_same):
    model = est.export.load(export_path)
    row = {"age": 51.0, "city": "lagos", "tags": ["a", "c"]}
    expected = predict(classifier, census_like_row(row))
    assert_same(model(row), expected)
    assert_same(model(json.dumps([row])), expected)


def census_like_row(row):
    return {
        "age": np.array([row["age"]], np.float32),
        "city": pa.array([row["city"]]),
        "tags": pa.array([row["tags"]]),
    }


def test_request_sizes_share_power_of_two_compilations(
    export_path, classifier, make_census, predict, assert_same
):
    model = est.export.load(export_path)
    for rows in (5, 6, 7, 8):  # one bucket of 8 rows (and list width bucket 4)
        features = make_census(rows, seed=rows)
        assert_same(model(features), predict(classifier, features))
    assert model._call._cache_size() <= 2  # list widths 2..3 pad to 2 or 4


FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import estimators.export as export
    import estimators.export.pyfunc_model  # the original registers nothing
    assert "mlflow" not in sys.modules, "estimators imported mlflow"
    request = json.loads(sys.argv[2])
    out = export.load(sys.argv[1])(request)
    assert "test_exported" not in sys.modules
    print(json.dumps({k: np.asarray(v).tolist() for k, v in out.items()}))
""")


def run_fresh(path, request):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, path, json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=os.path.dirname(path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_fresh_process_without_the_model_code_predicts_the_same(
    export_path, classifier, make_census, predict, assert_same
):
    features = make_census(9, seed=7)
    request = {
        k: v.to_pylist() if isinstance(v, pa.Array) else v.tolist()
        for k, v in features.items()
    }
    got = run_fresh(export_path, request)
    assert_same(got, predict(classifier, features), atol=1e-5)


def test_custom_model_fn_with_a_raw_receiver_in_a_fresh_process(
    mlp, tmp_path, predict, assert_same
):
    estimator, x = mlp
    receiver = est.build_raw_serving_input_receiver_fn(
        {"x": np.zeros((1, 4), np.float32)}
    )
    path = estimator.export_saved_model(str(tmp_path), receiver)
    expected = predict(estimator, {"x": x[:6]})
    assert_same(run_fresh(path, {"x": x[:6].tolist()}), expected, atol=1e-5)
    model = est.export.load(path)
    assert_same(model({"x": x[:6]}), expected)
    frame = pd.DataFrame({"x": list(x[:6])})  # a list per cell
    assert_same(model(frame), expected)


def test_export_needs_a_checkpoint(tmp_path):
    def model_fn(features, labels, mode):
        return est.EstimatorSpec(mode, predictions={"x": features["x"]})

    untrained = est.Estimator(model_fn, model_dir=str(tmp_path / "m"))
    with pytest.raises(ValueError, match="Couldn't find trained model"):
        untrained.export_saved_model(str(tmp_path / "e"))


def test_export_without_columns_asks_for_a_receiver(mlp, tmp_path):
    estimator, _ = mlp
    with pytest.raises(ValueError, match="serving_input_receiver_fn"):
        estimator.export_saved_model(str(tmp_path))


def test_a_given_checkpoint_is_exported(mlp, tmp_path):
    estimator, x = mlp
    receiver = est.build_raw_serving_input_receiver_fn({"x": x[:1]})
    path = estimator.export_saved_model(
        str(tmp_path), receiver, checkpoint_path=estimator.latest_checkpoint()
    )
    assert est.export.load(path).global_step == 30


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"city": ["lima"], "tags": [["a"]]}, r"missing input column\(s\) \['age'\]"),
        (
            {"age": ["old"], "city": ["lima"], "tags": [["a"]]},
            r"feature 'age': expected a numeric column, got string \(row 0: 'old'\)",
        ),
        (
            {"age": [30.0, 40.0], "city": ["lima", "paris"], "tags": [["a"], ["b"]]},
            r"feature 'city': unknown category 'paris' \(row 1\); the column has no OOV",
        ),
        (
            {"age": [30.0], "city": [3], "tags": [["a"]]},
            r"feature 'city': expected strings",
        ),
        (
            {"age": [30.0, 1.0], "city": ["lima"], "tags": [["a"]]},
            r"column 'city' has 1 rows but column 'age' has 2",
        ),
        (["not", "records"], "a request must be"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_requests_name_the_column(export_path, request_, message):
    model = est.export.load(export_path)
    with pytest.raises(est.export.ServingInputError, match=message):
        model(request_)


def test_unknown_categories_are_missing_when_not_strict(
    export_path, classifier, predict, assert_same
):
    features = {
        "age": np.array([30.0, 50.0], np.float32),
        "city": pa.array(["x", "lima"]),
        "tags": pa.array([["a"], ["b"]]),
    }
    model = est.export.load(export_path, strict_vocabulary=False)
    assert_same(model(features), predict(classifier, features))


def copy_export(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return str(dst)


def test_a_partial_export_is_refused_naming_what_is_missing(export_path, tmp_path):
    path = copy_export(export_path, tmp_path / "partial")
    os.remove(os.path.join(path, "variables.safetensors"))
    with pytest.raises(
        est.export.ExportError, match=r"missing \['variables.safetensors'\]"
    ):
        est.export.load(path)
    os.remove(os.path.join(path, "export.json"))
    with pytest.raises(est.export.ExportError, match="export.json is missing"):
        est.export.load(path)


def test_a_corrupt_export_is_refused(export_path, tmp_path):
    path = copy_export(export_path, tmp_path / "corrupt")
    program = os.path.join(path, "predict.jaxexport")
    with open(program, "r+b") as f:
        f.seek(os.path.getsize(program) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(
        est.export.ExportError, match="predict.jaxexport does not match"
    ):
        est.export.load(path)


def test_loading_the_base_directory_points_to_the_newest_export(export_path):
    base = os.path.dirname(export_path)
    with pytest.raises(est.export.ExportError, match="load one of them"):
        est.export.load(base)
    assert est.export.latest_export(base) == export_path


def test_a_failed_export_leaves_nothing_behind(mlp, tmp_path, monkeypatch):
    estimator, x = mlp
    receiver = est.build_raw_serving_input_receiver_fn({"x": x[:1]})

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_files, "install", fail)
    with pytest.raises(OSError, match="disk full"):
        estimator.export_saved_model(str(tmp_path), receiver)
    assert os.listdir(tmp_path) == []


def test_two_exports_in_the_same_second_get_distinct_directories(mlp, tmp_path):
    estimator, x = mlp
    receiver = est.build_raw_serving_input_receiver_fn({"x": x[:1]})
    first = estimator.export_saved_model(str(tmp_path), receiver)
    second = estimator.export_saved_model(str(tmp_path), receiver)
    assert first != second
    assert est.export.latest_export(str(tmp_path)) == max(
        first, second, key=lambda p: int(os.path.basename(p))
    )
