"""Serving speed: Estimator.predict, the hot Predictor, the loaded export, and the
MLflow pyfunc over HTTP (`mlflow models serve` on 127.0.0.1).

The model is a DNNClassifier (64-32, label vocabulary) over a census-like input:
age (numeric, z-scored), city (vocabulary -> indicator) and tags (string lists,
hashed -> embedding), so every path runs the feature-column host transform.
Reported: single-row p50 latency (after warm-up) and 1,000-row batch throughput.
Targets (issue 5): hot Predictor p50 < 1 ms; Estimator.predict single row < 5 ms;
loaded export within 1.5x of the hot Predictor.

Run: python bench/bench_predict.py [--calls 300] [--no-http]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

import estimators as est  # noqa: E402
from estimators import feature_column as fc  # noqa: E402
from estimators.canned import DNNClassifier  # noqa: E402

CITIES = ["berlin", "lagos", "lima", "oslo", "quito"]


def census_like(n: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    tags = [
        [str(t) for t in rng.choice(list("abcdefgh"), rng.integers(1, 4))]
        for _ in range(n)
    ]
    return {
        "age": rng.normal(40.0, 10.0, size=n).astype(np.float32),
        "city": pa.array(rng.choice(CITIES, n)),
        "tags": pa.array(tags, pa.list_(pa.string())),
    }


def labels_of(features: dict[str, object]) -> pa.Array:
    city = np.asarray(features["city"].to_pylist())
    return pa.array(np.where((features["age"] > 40) | (city == "lima"), "yes", "no"))


def train(model_dir: str) -> DNNClassifier:
    features = census_like(2048, seed=0)
    columns = fc.analyze(
        [features],
        [
            fc.numeric_column("age", normalizer="zscore"),
            fc.indicator_column(
                fc.categorical_column_with_vocabulary_list("city", CITIES)
            ),
            fc.embedding_column(fc.categorical_column_with_hash_bucket("tags", 100), 8),
        ],
    )
    config = est.RunConfig(
        save_checkpoints_secs=None, log_step_count_steps=None, save_summary_steps=0
    )
    model = DNNClassifier(
        [64, 32],
        columns,
        model_dir=model_dir,
        label_vocabulary=["no", "yes"],
        config=config,
    )
    labels = labels_of(features)
    return model.train(lambda: ((features, labels) for _ in range(100)))


def p50_ms(fn, calls: int) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def rows_per_sec(fn, rows: int, repeats: int = 20) -> float:
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return rows * repeats / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`mlflow models serve -m <export>` in its own process group, keep-alive client."""

    def __init__(self, export_path: str) -> None:
        self.port = free_port()
        bin_dir = os.path.dirname(sys.executable)
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
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
                str(self.port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self._wait(90.0)

    def _wait(self, deadline: float) -> None:
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("mlflow models serve exited early")
            try:
                self.connection.request("GET", "/ping")
                if self.connection.getresponse().read() is not None:
                    self.ready_secs = time.monotonic() - start
                    return
            except OSError:
                self.connection.close()
                time.sleep(0.25)
        raise RuntimeError(f"mlflow models serve not ready after {deadline} s")

    def post(self, body: bytes) -> dict:
        headers = {"Content-Type": "application/json"}
        try:
            self.connection.request("POST", "/invocations", body, headers)
            response = self.connection.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.connection.close()  # the server closed an idle keep-alive connection
            self.connection.request("POST", "/invocations", body, headers)
            response = self.connection.getresponse()
        payload = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {payload}")
        return payload

    def close(self) -> None:
        self.connection.close()
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def split_body(features: dict[str, object]) -> bytes:
    frame = pd.DataFrame(
        {
            k: v.to_pylist() if isinstance(v, pa.Array) else v
            for k, v in features.items()
        }
    )
    return json.dumps(
        {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    logging.getLogger("estimators").setLevel(logging.ERROR)

    work = tempfile.mkdtemp(prefix="bench-predict-")
    try:
        run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: str, args: argparse.Namespace) -> None:
    """Trains, exports, measures every path and prints the table."""
    model = train(os.path.join(work, "model"))
    path = model.export_saved_model(os.path.join(work, "exports"))
    row, batch = census_like(1, seed=1), census_like(1000, seed=2)

    predictor = model.predictor()
    loaded = est.export.load(path)

    def one_row():
        return next(model.predict(lambda: row))

    def one_batch():
        return list(model.predict(lambda: batch, yield_single_examples=False))

    paths = {
        "Estimator.predict": (one_row, one_batch),
        "hot Predictor": (lambda: predictor(row), lambda: predictor(batch)),
        "loaded export": (lambda: loaded(row), lambda: loaded(batch)),
    }
    served = None
    if not args.no_http:
        served = Served(path)
        row_body, batch_body = split_body(row), split_body(batch)
        paths["pyfunc over HTTP"] = (
            lambda: served.post(row_body),
            lambda: served.post(batch_body),
        )
    results = {}
    try:
        for name, (one, thousand) in paths.items():
            calls = (
                args.calls if name != "pyfunc over HTTP" else max(args.calls // 3, 50)
            )
            results[name] = (p50_ms(one, calls), rows_per_sec(thousand, 1000))
    finally:
        if served is not None:
            served.close()

    print(f"\nexport: {path}  (global_step {loaded.global_step})")
    if served is not None:
        print(f"mlflow models serve ready in {served.ready_secs:.1f} s")
    hot_p50, hot_rps = results["hot Predictor"]
    print(
        f"\n{'path':<20} {'1-row p50 ms':>13} {'x hot':>7} {'1000-row rows/s':>16} "
        f"{'x hot':>7}"
    )
    for name, (p50, rps) in results.items():
        print(
            f"{name:<20} {p50:>13.3f} {p50 / hot_p50:>7.2f} {rps:>16,.0f} "
            f"{hot_rps / rps:>7.2f}"
        )
    checks = [
        ("hot Predictor p50 < 1 ms", hot_p50 < 1.0),
        ("Estimator.predict 1-row p50 < 5 ms", results["Estimator.predict"][0] < 5.0),
        (
            "loaded export within 1.5x of hot Predictor",
            results["loaded export"][0] <= 1.5 * hot_p50,
        ),
    ]
    print()
    for label, ok in checks:
        print(f"[{'ok' if ok else 'MISS'}] {label}")


if __name__ == "__main__":
    main()
