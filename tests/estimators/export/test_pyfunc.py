"""The export as an MLflow pyfunc: load_model, and `mlflow models serve` over HTTP."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

mlflow = pytest.importorskip("mlflow")

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def frame_of(features):
    return pd.DataFrame(
        {
            k: v.to_pylist() if hasattr(v, "to_pylist") else v
            for k, v in features.items()
        }
    )


def records_of(frame):
    """The pyfunc's DataFrame rows as plain dicts of lists/scalars."""
    return json.loads(frame.to_json(orient="records"))


def expected_records(estimator, features, predict):
    """Estimator.predict's batch, as JSON rows (vectors as lists)."""
    from estimators.export.pyfunc_model import predictions_frame

    return records_of(predictions_frame(predict(estimator, features)))


def assert_records_close(got, expected):
    assert len(got) == len(expected)
    for row_got, row_expected in zip(got, expected, strict=True):
        assert sorted(row_got) == sorted(row_expected)
        for key, value in row_expected.items():
            if isinstance(value, str) or (
                isinstance(value, list) and value and isinstance(value[0], str)
            ):
                assert row_got[key] == value, key
            else:
                np.testing.assert_allclose(row_got[key], value, atol=1e-5, err_msg=key)


def test_mlflow_loads_the_export_as_a_pyfunc(
    export_path, classifier, make_census, predict
):
    features = make_census(7, seed=11)
    model = mlflow.pyfunc.load_model(export_path)
    got = records_of(model.predict(frame_of(features)))
    assert_records_close(got, expected_records(classifier, features, predict))


def test_the_pyfunc_refuses_bad_input_with_invalid_parameter_value(export_path):
    from mlflow.exceptions import MlflowException

    model = mlflow.pyfunc.load_model(export_path)
    bad = pd.DataFrame({"age": [31.0], "city": ["paris"], "tags": [["a"]]})
    with pytest.raises(
        MlflowException, match="feature 'city': unknown category"
    ) as info:
        model.predict(bad)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def serialized_records(features):
    """One serialized tf.train.Example per row of the census-like columns."""
    from estimators.export import serialize_example

    return [
        serialize_example(
            {
                "age": float(features["age"][i]),
                "city": features["city"][i].as_py(),
                "tags": features["tags"][i].as_py(),
            }
        )
        for i in range(len(features["age"]))
    ]


def test_the_pyfunc_takes_serialized_examples(
    export_path, classifier, make_census, predict
):
    """The default export parses tf.Examples: a list of bytes or a column of them."""
    features = make_census(5, seed=12)
    records = serialized_records(features)
    model = mlflow.pyfunc.load_model(export_path)
    expected = expected_records(classifier, features, predict)
    assert_records_close(records_of(model.predict(records)), expected)
    frame = pd.DataFrame({"examples": records})
    assert_records_close(records_of(model.predict(frame)), expected)


def test_log_model_kwargs_save_a_model_that_points_at_the_export(
    export_path, tmp_path, make_census
):
    from estimators.export import log_model_kwargs

    saved = str(tmp_path / "model")
    mlflow.pyfunc.save_model(saved, **log_model_kwargs(export_path))
    features = make_census(3, seed=2)
    got = records_of(mlflow.pyfunc.load_model(saved).predict(frame_of(features)))
    direct = records_of(
        mlflow.pyfunc.load_model(export_path).predict(frame_of(features))
    )
    assert_records_close(got, direct)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, payload):
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_until_ready(url, process, deadline_secs=90.0):
    start = time.monotonic()
    while time.monotonic() - start < deadline_secs:
        if process.poll() is not None:
            raise AssertionError(
                f"mlflow models serve exited with {process.returncode}"
            )
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"mlflow models serve was not ready in {deadline_secs} s")


@pytest.fixture
def served(export_path, tmp_path):
    """`mlflow models serve -m <export>` on 127.0.0.1, in its own process group."""
    port = free_port()
    bin_dir = os.path.dirname(sys.executable)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "JAX_PLATFORMS": "cpu",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            os.path.join(bin_dir, "mlflow"),
            "models",
            "serve",
            "-m",
            export_path,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        log.close()


def test_mlflow_models_serve_answers_over_http(
    served, classifier, make_census, predict
):
    features = make_census(4, seed=21)
    expected = expected_records(classifier, features, predict)
    frame = frame_of(features)
    split = json.loads(frame.to_json(orient="split", index=False))
    status, body = post(f"{served}/invocations", {"dataframe_split": split})
    assert status == 200, body
    assert_records_close(body["predictions"], expected)

    # MLflow turns each `inputs` column into one numpy array: lists of one length.
    single = {**features, "tags": pa.array([["c"]] * 4)}
    inputs = {
        "age": features["age"].tolist(),
        "city": frame["city"].tolist(),
        "tags": ["c"] * 4,
    }
    status, body = post(f"{served}/invocations", {"inputs": inputs})
    assert status == 200, body
    assert_records_close(
        body["predictions"], expected_records(classifier, single, predict)
    )

    missing = {"columns": ["city", "tags"], "data": [["lima", ["a"]]]}
    status, body = post(f"{served}/invocations", {"dataframe_split": missing})
    assert status == 400
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "missing input column(s) ['age']" in body["message"]

    unknown = {"columns": ["age", "city", "tags"], "data": [[30.0, "paris", ["a"]]]}
    status, body = post(f"{served}/invocations", {"dataframe_split": unknown})
    assert status == 400
    assert "feature 'city': unknown category 'paris'" in body["message"]

    # Serialized tf.train.Examples, base64 in JSON as TF-Serving clients send them.
    texts = [base64.b64encode(r).decode() for r in serialized_records(features)]
    for payload in (
        {"instances": [{"b64": text} for text in texts]},
        {"inputs": {"examples": texts}},
    ):
        status, body = post(f"{served}/invocations", payload)
        assert status == 200, body
        assert_records_close(body["predictions"], expected)
    from estimators.export import serialize_example

    bad = serialize_example({"age": 30, "city": "lima", "tags": ["a"]})
    payload = {"instances": [{"b64": base64.b64encode(bad).decode()}]}
    status, body = post(f"{served}/invocations", payload)
    assert status == 400
    assert "feature 'age': record 0 holds int64 values" in body["message"]
