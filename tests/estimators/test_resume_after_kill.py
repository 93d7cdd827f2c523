"""A run killed at any moment resumes from the last complete checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import estimators as est

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import estimators as est
    from support import classifier_model_fn
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    config = est.RunConfig(save_checkpoints_steps=5, keep_checkpoint_max=3,
                           log_step_count_steps=None, save_summary_steps=0)
    model = est.Estimator(classifier_model_fn, model_dir={model_dir!r}, config=config,
                          params={{"n_classes": 2}})
    print("ready", flush=True)
    model.train(lambda: est.data.Dataset.from_tensor_slices(({{"x": x}}, y))
                .repeat().batch(16), steps={steps})
""")


def run(model_dir, steps):
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = SCRIPT.format(tests=tests, model_dir=str(model_dir), steps=steps)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def test_killed_training_resumes_from_the_last_complete_checkpoint(tmp_path):
    model_dir = tmp_path / "model"
    proc = run(model_dir, 1_000_000)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    while est.checkpoints.latest_checkpoint(str(model_dir)) is None:
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.05)
    time.sleep(0.3)  # let it write more checkpoints, then kill it mid-flight
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    latest = est.checkpoints.latest_checkpoint(str(model_dir))
    step = est.checkpoints.checkpoint_step(latest)
    est.checkpoints.read_checkpoint(latest)  # complete and verified
    resumed = run(model_dir, 5)
    assert resumed.wait(timeout=120) == 0
    latest = est.checkpoints.latest_checkpoint(str(model_dir))
    assert est.checkpoints.checkpoint_step(latest) == step + 5


def _loss_steps(model_dir) -> list[int]:
    import json

    path = os.path.join(model_dir, "metrics.jsonl")
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.endswith("\n")]
    return [r["step"] for r in records if r["name"] == "loss"]


def test_a_kill_loses_no_summary_older_than_the_last_checkpoint(tmp_path):
    model_dir = tmp_path / "model"
    code = SCRIPT.replace("save_summary_steps=0", "save_summary_steps=1")
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def start(steps):
        script = code.format(tests=tests, model_dir=str(model_dir), steps=steps)
        return subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
        )

    proc = start(1_000_000)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    while est.checkpoints.latest_checkpoint(str(model_dir)) is None:
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    step = est.checkpoints.checkpoint_step(
        est.checkpoints.latest_checkpoint(str(model_dir))
    )
    # Every summary up to the durable checkpoint survived the kill.
    assert set(range(1, step + 1)) <= set(_loss_steps(model_dir))
    resumed = start(5)
    assert resumed.wait(timeout=120) == 0
    # After the resume: each step's point exactly once, no gap, no duplicate.
    assert sorted(_loss_steps(model_dir)) == list(range(1, step + 6))
