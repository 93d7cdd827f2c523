"""Loading an export runs no code from it and verifies every file first.

Each planted Python file writes a marker file when imported: the marker must
never exist, whichever way the export is loaded (`est.export.load`,
`mlflow.pyfunc.load_model` on the directory, or on a model logged with
`log_model_kwargs`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import pandas as pd
import pytest

import estimators as est
from estimators.atomic import sha256_file

mlflow = pytest.importorskip("mlflow")

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# What exports written before the loader module held (the MLmodel's flavor).
OLD_MLMODEL = """flavors:
  python_function:
    artifacts:
      export:
        path: .
        uri: .
    code: null
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.pyfunc.loaders.code_model
    model_code_path: python_model.py
    python_version: "3.11"
    streamable: false
"""


def frame_of(features):
    return pd.DataFrame(
        {
            k: v.to_pylist() if hasattr(v, "to_pylist") else v
            for k, v in features.items()
        }
    )


def marker_code(marker) -> str:
    return f"open({str(marker)!r}, 'w').write('imported')\n"


def copy_export(src, dst) -> str:
    shutil.copytree(src, dst)
    return str(dst)


def relist(path, name):
    """Records `name`'s current sha256 in export.json (as an export writer would)."""
    manifest_path = os.path.join(path, "export.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    full = os.path.join(path, name)
    manifest["files"][name] = {
        "sha256": sha256_file(full),
        "bytes": os.path.getsize(full),
    }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)


def frame_predictions(model, frame):
    """The pyfunc's frame, whichever loader gave `model`."""
    if isinstance(model, est.export.ExportedModel):
        from estimators.export.pyfunc_model import predictions_frame

        return predictions_frame(model(frame))
    return model.predict(frame)


def load_with_mlflow(path):
    return mlflow.pyfunc.load_model(path)


def load_logged(path):
    """An MLflow model logged with `log_model_kwargs`, holding the export as data."""
    saved = tempfile.mkdtemp(dir=os.path.dirname(path), prefix="logged-")
    os.rmdir(saved)
    mlflow.pyfunc.save_model(saved, **est.export.log_model_kwargs(path))
    return mlflow.pyfunc.load_model(saved)


LOADERS = [est.export.load, load_with_mlflow, load_logged]
LOADER_IDS = ["est.export.load", "mlflow.pyfunc.load_model", "log_model_kwargs"]


def test_the_mlmodel_names_the_installed_loader_and_the_export_holds_no_code(
    export_path,
):
    with open(os.path.join(export_path, "MLmodel")) as f:
        mlmodel = f.read()
    assert "loader_module: estimators.export.pyfunc_model" in mlmodel
    assert "code: null" in mlmodel and "model_code_path" not in mlmodel
    assert not [n for n in os.listdir(export_path) if n.endswith((".py", ".pyc"))]
    with open(os.path.join(export_path, "export.json")) as f:
        listed = set(json.load(f)["files"])
    assert set(os.listdir(export_path)) == listed | {"export.json"}


@pytest.mark.parametrize("load", LOADERS, ids=LOADER_IDS)
@pytest.mark.parametrize("planted", ["python_model.py", "estimators/__init__.py"])
def test_planted_code_is_refused_before_any_import(
    export_path, tmp_path, load, planted
):
    path = copy_export(export_path, tmp_path / "planted")
    marker = tmp_path / "imported.txt"
    os.makedirs(os.path.dirname(os.path.join(path, planted)), exist_ok=True)
    with open(os.path.join(path, planted), "w") as f:
        f.write(marker_code(marker))
    unlisted = planted.split("/")[0]
    with pytest.raises(
        est.export.ExportError,
        match=rf"holds '{unlisted}', which export.json does not list",
    ):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("load", LOADERS, ids=LOADER_IDS)
def test_every_tampered_file_is_refused(export_path, tmp_path, load):
    with open(os.path.join(export_path, "export.json")) as f:
        names = sorted(json.load(f)["files"])
    assert {"MLmodel", "predict.jaxexport", "variables.safetensors"} <= set(names)
    for name in names:
        path = copy_export(export_path, tmp_path / name)
        with open(os.path.join(path, name), "ab") as f:
            f.write(b"\n")  # still valid YAML / JSON / text: only the hash tells
        with pytest.raises(
            est.export.ExportError, match=rf"corrupt: {name} does not match"
        ):
            load(path)


def test_a_listed_name_outside_the_export_is_refused(export_path, tmp_path):
    path = copy_export(export_path, tmp_path / "escape")
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    relist(path, "../outside.txt")
    with pytest.raises(
        est.export.ExportError, match="lists '../outside.txt', which is not a file"
    ):
        est.export.load(path)


def test_an_unlisted_required_file_is_refused(export_path, tmp_path):
    path = copy_export(export_path, tmp_path / "unlisted")
    manifest_path = os.path.join(path, "export.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    del manifest["files"]["variables.safetensors"]
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    with pytest.raises(
        est.export.ExportError, match="does not list variables.safetensors"
    ):
        est.export.load(path)


def old_export(export_path, directory, marker) -> str:
    """An export as written before the loader module: python_model.py, listed."""
    path = copy_export(export_path, directory)
    with open(os.path.join(path, "MLmodel"), "w") as f:
        f.write(OLD_MLMODEL)
    with open(os.path.join(path, "python_model.py"), "w") as f:
        f.write(marker_code(marker))
    relist(path, "MLmodel")
    relist(path, "python_model.py")
    return path


@pytest.mark.parametrize(
    "load", [est.export.load, load_logged], ids=["est.export.load", "log_model_kwargs"]
)
def test_old_exports_load_verified_without_importing_their_code(
    export_path, tmp_path, make_census, load
):
    marker = tmp_path / "imported.txt"
    path = old_export(export_path, tmp_path / "old", marker)
    frame = frame_of(make_census(6, seed=3))
    expected = mlflow.pyfunc.load_model(export_path).predict(frame)
    pd.testing.assert_frame_equal(frame_predictions(load(path), frame), expected)
    assert not marker.exists()

    with open(os.path.join(path, "python_model.py"), "a") as f:
        f.write("# tampered\n")
    with pytest.raises(est.export.ExportError, match="corrupt: python_model.py"):
        load(path)
    assert not marker.exists()


def test_the_verified_load_predicts_as_before(
    export_path, classifier, make_census, predict
):
    from estimators.export.pyfunc_model import predictions_frame

    features = make_census(9, seed=4)
    expected = predictions_frame(predict(classifier, features))
    got = mlflow.pyfunc.load_model(export_path).predict(frame_of(features))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, atol=1e-5)


def test_a_logged_export_keeps_its_signature_params_and_model_config(
    export_path, tmp_path, make_census
):
    frame = frame_of(make_census(5, seed=6))
    saved = str(tmp_path / "logged")
    mlflow.pyfunc.save_model(
        saved,
        **est.export.log_model_kwargs(
            export_path, input_example=(frame, {"output": "all"})
        ),
    )
    model = mlflow.pyfunc.load_model(saved)
    assert model.metadata.get_input_schema().input_names() == list(frame.columns)
    assert [p.name for p in model.metadata.get_params_schema().params] == ["output"]
    everything = model.predict(frame)
    only = model.predict(frame, params={"output": "class_ids"})
    assert only.name == "class_ids"
    assert only.tolist() == everything["class_ids"].tolist()
    configured = mlflow.pyfunc.load_model(saved, model_config={"output": "classes"})
    assert configured.predict(frame).tolist() == everything["classes"].tolist()


def test_params_reach_the_model_through_the_loader(export_path, make_census):
    from mlflow.exceptions import MlflowException

    loaded = mlflow.pyfunc.load_model(export_path)
    assert isinstance(loaded.get_raw_model(), est.export.ExportedModel)
    raw = loaded._model_impl  # MLflow's developer-stable handle on our loader's model
    frame = frame_of(make_census(2, seed=8))
    assert raw.predict(frame, {"output": "classes"}).name == "classes"
    with pytest.raises(MlflowException, match="unknown signature 'nope'") as info:
        raw.predict(frame, {"signature_name": "nope"})
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("logged", [False, True], ids=["export", "logged"])
def test_load_pyfunc_loads_what_mlflow_loads(
    export_path, tmp_path, make_census, logged
):
    frame = frame_of(make_census(4, seed=9))
    uri = export_path
    if logged:
        uri = str(tmp_path / "logged")
        mlflow.pyfunc.save_model(uri, **est.export.log_model_kwargs(export_path))
    expected = mlflow.pyfunc.load_model(uri).predict(frame)
    pd.testing.assert_frame_equal(est.export.load_pyfunc(uri).predict(frame), expected)
    only = est.export.load_pyfunc(uri, model_config={"output": "class_ids"})
    assert only.predict(frame).tolist() == expected["class_ids"].tolist()


@pytest.mark.parametrize(
    ("flavor", "message"),
    [
        (OLD_MLMODEL, "loads it with 'mlflow.pyfunc.loaders.code_model'"),
        (
            "flavors:\n  python_function:\n    code: code\n"
            "    loader_module: estimators.export.pyfunc_model\n",
            "and code from 'code'",
        ),
    ],
    ids=["models-from-code", "code-folder"],
)
def test_load_pyfunc_refuses_an_mlmodel_that_imports_code(
    export_path, tmp_path, flavor, message
):
    """A rewritten MLmodel: MLflow itself would import the planted code."""
    marker = tmp_path / "imported.txt"
    path = old_export(export_path, tmp_path / "rewritten", marker)
    os.makedirs(os.path.join(path, "code", "estimators", "export"))
    for name in ("__init__.py", "export/__init__.py", "export/pyfunc_model.py"):
        with open(os.path.join(path, "code", "estimators", name), "w") as f:
            f.write(marker_code(marker))
    with open(os.path.join(path, "MLmodel"), "w") as f:
        f.write(flavor)
    with pytest.raises(est.export.ExportError, match=message):
        est.export.load_pyfunc(path)
    assert not marker.exists()
