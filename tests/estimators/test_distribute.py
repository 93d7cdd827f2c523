"""Data parallelism: sharded runs equal single-device runs; only the chief writes.

Runs with several CPU devices need `XLA_FLAGS` before jax is imported, so they
run in subprocesses. On a 2-core machine back-to-back sharded steps can
deadlock in the all-reduce, so every step is blocked on (a hook reads the
loss) and each subprocess has a timeout; these runs say nothing about speed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from support import batches_of, classifier_model_fn, fast_config

import estimators as est

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMON = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import estimators as est
    from support import classifier_model_fn, fast_config

    PARAMS = {{"n_classes": 3, "hidden_units": [8], "dropout": 0.25}}
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    Y = rng.integers(0, 3, 40).astype(np.int32)

    class BlockEachStep(est.Hook):
        \"\"\"Reads the loss after every compiled call: no two calls overlap.\"\"\"
        def after_step(self, context):
            context.loss
""")

SHARDED = COMMON + textwrap.dedent("""
    import jax
    assert jax.device_count() == 2, jax.devices()

    def input_fn():  # batches of 7 rows: padded to 8 for 2 devices
        return [({{"x": X[i:i + 7]}}, Y[i:i + 7]) for i in range(0, 35, 7)]

    def run(model_dir, strategy, steps_per_execution):
        config = fast_config(train_distribute=strategy, eval_distribute=strategy,
                             steps_per_execution=steps_per_execution,
                             save_checkpoints_steps=3)
        model = est.Estimator(classifier_model_fn, model_dir=model_dir,
                              config=config, params=PARAMS)
        model.train(input_fn, hooks=[BlockEachStep()])
        evaluation = model.evaluate(input_fn)
        predictions = [p["probabilities"].tolist()
                       for p in model.predict(lambda: {{"x": X[:5]}})]
        variables = {{n: model.get_variable_value(n).tolist()
                      for n in model.get_variable_names()}}
        return {{"variables": variables, "eval": evaluation,
                 "predictions": predictions}}

    strategy = est.distribute.DataParallel()
    shards = strategy.shard_batch(np.zeros((8, 3), np.float32)).addressable_shards
    results = {{
        "num_devices": strategy.num_devices,
        "shard_shapes": [list(s.data.shape) for s in shards],
        "single": run(os.path.join({root!r}, "single"), None, 1),
        "sharded": run(os.path.join({root!r}, "sharded"), strategy, 1),
        "stacked": run(os.path.join({root!r}, "stacked"), strategy, 2),
    }}
    print(json.dumps(results, default=float))
""")


def _python(code, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})},
    )


def _assert_same(expected, actual):
    assert sorted(expected["variables"]) == sorted(actual["variables"])
    for name, value in expected["variables"].items():
        np.testing.assert_allclose(
            actual["variables"][name], value, rtol=1e-5, atol=1e-6, err_msg=name
        )
    for key, value in expected["eval"].items():
        np.testing.assert_allclose(actual["eval"][key], value, rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(
        actual["predictions"], expected["predictions"], rtol=1e-5, atol=1e-6
    )


def test_data_parallel_over_two_devices_equals_one_device(tmp_path):
    code = SHARDED.format(tests=TESTS, root=str(tmp_path))
    flags = "--xla_force_host_platform_device_count=2"
    done = _python(code, {"XLA_FLAGS": flags})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["num_devices"] == 2
    assert results["shard_shapes"] == [[4, 3], [4, 3]]
    assert results["single"]["eval"]["global_step"] == 5
    _assert_same(results["single"], results["sharded"])
    _assert_same(results["single"], results["stacked"])


def test_data_parallel_over_one_device_in_process(blobs, tmp_path):
    x, y = blobs
    strategy = est.distribute.DataParallel(jax.devices()[:1])
    models = {}
    for name, config in {
        "plain": fast_config(),
        "parallel": fast_config(train_distribute=strategy, eval_distribute=strategy),
    }.items():
        models[name] = est.Estimator(
            classifier_model_fn, tmp_path / name, config, params={"n_classes": 3}
        ).train(batches_of(x, y, 32), steps=3)
    for name in models["plain"].get_variable_names():
        np.testing.assert_allclose(
            models["parallel"].get_variable_value(name),
            models["plain"].get_variable_value(name),
            rtol=1e-6,
        )
    assert models["parallel"].evaluate(batches_of(x, y, 32)) == pytest.approx(
        models["plain"].evaluate(batches_of(x, y, 32))
    )


def test_input_fn_gets_an_input_context_under_a_strategy(blobs, tmp_path):
    x, y = blobs
    seen = []

    def input_fn(input_context):
        seen.append(input_context)
        return batches_of(x, y, 30)()

    strategy = est.distribute.DataParallel()
    config = fast_config(train_distribute=strategy)
    est.Estimator(classifier_model_fn, tmp_path, config).train(input_fn, steps=1)
    context = seen[0]
    assert (context.num_input_pipelines, context.input_pipeline_id) == (1, 0)
    assert context.num_replicas_in_sync == len(jax.devices())
    assert context.get_per_replica_batch_size(4 * len(jax.devices())) == 4
    with pytest.raises(ValueError, match=r"global batch size \(3\)"):
        est.distribute.InputContext(num_replicas_in_sync=2).get_per_replica_batch_size(
            3
        )


def test_bad_distribution_configs_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="`devices` is empty"):
        est.distribute.DataParallel(devices=[])
    with pytest.raises(TypeError, match=r"`devices\[0\]` must be a jax.Device"):
        est.distribute.DataParallel(devices=["cpu:0"])
    device = jax.devices()[0]
    with pytest.raises(ValueError, match="more than once"):
        est.distribute.DataParallel(devices=[device, device])
    with pytest.raises(ValueError, match="axis_name"):
        est.distribute.DataParallel(axis_name="")
    for field in ("train_distribute", "eval_distribute"):
        config = est.RunConfig(**{field: "MirroredStrategy"})
        with pytest.raises(TypeError, match=f"RunConfig.{field} must be an est"):
            est.Estimator(classifier_model_fn, tmp_path, config)


def test_strategy_pads_batches_to_a_multiple_of_its_devices():
    strategy = est.distribute.DataParallel()
    n = strategy.local_device_count
    assert [strategy.padded_size(r) for r in (1, n, n + 1)] == [n, n, 2 * n]
    assert "DataParallel(" in repr(strategy) and strategy.axis_name == "data"


MULTI_HOST = COMMON + textwrap.dedent("""
    process_id, port, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    est.distribute.initialize_multi_host(
        f"127.0.0.1:{{port}}", 2, process_id, initialization_timeout=60)
    import jax
    assert jax.process_count() == 2 and jax.device_count() == 2

    def input_fn(input_context):
        # global batches of 8 rows; each process reads its own 4 rows of each
        n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
        rows = 8 // n
        return [({{"x": X[s + i * rows:s + (i + 1) * rows]}},
                 Y[s + i * rows:s + (i + 1) * rows]) for s in range(0, 40, 8)]

    strategy = est.distribute.DataParallel()
    config = fast_config(train_distribute=strategy, eval_distribute=strategy,
                         save_checkpoints_steps=2, save_summary_steps=1)
    model = est.Estimator(classifier_model_fn, os.path.join(root, f"model{{process_id}}"),
                          config, params=PARAMS)
    model.train(input_fn, hooks=[BlockEachStep()])
    evaluation = model.evaluate(input_fn)
    with open(os.path.join(root, f"result{{process_id}}.json"), "w") as f:
        json.dump({{"eval": evaluation, "chief": est.distribute.is_chief()}}, f)
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_two_processes(code, tmp_path, timeout):
    """Runs `code` as processes 0 and 1 of a jax.distributed run on 127.0.0.1."""
    port = str(_free_port())
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(i), port, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    try:
        outputs = [proc.communicate(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]


def test_two_processes_train_together_and_only_the_chief_writes(tmp_path):
    code = MULTI_HOST.format(tests=TESTS)
    _run_two_processes(code, tmp_path, timeout=90)

    # Only the chief wrote checkpoints and metrics; process 1's model_dir is empty.
    chief_dir, other_dir = tmp_path / "model0", tmp_path / "model1"
    assert est.checkpoints.latest_checkpoint(str(chief_dir)).endswith("ckpt-5")
    assert (chief_dir / "metrics.jsonl").exists()
    assert not other_dir.exists() or not any(other_dir.iterdir())
    results = [json.loads((tmp_path / f"result{i}.json").read_text()) for i in (0, 1)]
    assert [r["chief"] for r in results] == [True, False]

    # Both processes trained the same model: the one a single device gets from
    # the global batches (process 0's rows, then process 1's), and both report
    # the chief's evaluation.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = rng.integers(0, 3, 40).astype(np.int32)
    reference = est.Estimator(
        classifier_model_fn,
        tmp_path / "reference",
        fast_config(),
        params={"n_classes": 3, "hidden_units": [8], "dropout": 0.25},
    ).train(batches_of(x, y, 8))
    chief = est.Estimator(classifier_model_fn, chief_dir, fast_config())
    for name in reference.get_variable_names():
        np.testing.assert_allclose(
            chief.get_variable_value(name),
            reference.get_variable_value(name),
            rtol=1e-5,
            atol=1e-6,
            err_msg=name,
        )
    expected = reference.evaluate(batches_of(x, y, 8))
    for result in results:
        assert result["eval"] == pytest.approx(expected, rel=1e-5)


STOPS = COMMON + textwrap.dedent("""
    process_id, port, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    est.distribute.initialize_multi_host(
        f"127.0.0.1:{{port}}", 2, process_id, initialization_timeout=60)

    class LastStep(est.Hook):
        def end(self, context):
            self.step = context.global_step

    class ChiefStopsAt(est.Hook):  # e.g. an early-stopping hook reading chief files
        def __init__(self, step):
            self.at = step
        def after_step(self, context):
            if est.distribute.is_chief() and context.global_step >= self.at:
                context.request_stop()

    class ChiefListenerStops(est.CheckpointSaverListener):
        def after_save(self, global_step, path):
            return est.distribute.is_chief()

    def input_fn(batches):
        def fn(input_context):
            i = input_context.input_pipeline_id
            return [({{"x": X[s + 4 * i:s + 4 * i + 4]}}, Y[s + 4 * i:s + 4 * i + 4])
                    for s in range(0, 8 * batches[i], 8)]
        return fn

    strategy = est.distribute.DataParallel()
    results = {{}}
    for name, batches, hooks, listeners, config in [
        ("hook", (5, 5), [ChiefStopsAt(3)], [], {{}}),
        ("listener", (5, 5), [], [ChiefListenerStops()],
         {{"save_checkpoints_steps": 2}}),
        ("input", (5, 3), [], [], {{}}),
    ]:
        model = est.Estimator(
            classifier_model_fn, os.path.join(root, f"{{name}}{{process_id}}"),
            fast_config(train_distribute=strategy, **config), params=PARAMS)
        last = LastStep()
        model.train(input_fn(batches), hooks=[BlockEachStep(), last, *hooks],
                    saving_listeners=listeners)
        results[name] = last.step
    with open(os.path.join(root, f"stops{{process_id}}.json"), "w") as f:
        json.dump(results, f)
""")


def test_every_stop_decision_is_agreed_by_all_processes(tmp_path):
    # A hook or listener that stops on the chief only, and one process's input
    # ending first, stop both processes at the same step (no hang, no
    # collective mismatch).
    code = STOPS.format(tests=TESTS)
    _run_two_processes(code, tmp_path, timeout=120)
    results = [json.loads((tmp_path / f"stops{i}.json").read_text()) for i in (0, 1)]
    assert results[0] == results[1] == {"hook": 3, "listener": 2, "input": 3}
    chief = est.checkpoints.latest_checkpoint(str(tmp_path / "input0"))
    assert est.checkpoints.checkpoint_step(chief) == 3
