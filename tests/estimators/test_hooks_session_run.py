"""tf-style SessionRunHooks: ported hooks see the right values at the right steps.

The model is one weight w (initialised to 0) fitted to labels 1 by SGD with
learning rate 0.25 on mean((w - 1)^2): w <- w - 0.25 * 2 * (w - 1) = 0.5 w + 0.5,
so after t steps w_t = 1 - 0.5^t. The step that ends at global_step t computes
its prediction and loss with w_{t-1}: prediction 1 - 0.5^(t-1), loss 0.25^(t-1).
"""

from __future__ import annotations

import glob
import logging
import os
from types import SimpleNamespace

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from support import fast_config

import estimators as est
from estimators.steps import StepConfig


def model_fn(features, labels, mode):
    kernel_init = nn.initializers.zeros
    w = nn.Dense(1, use_bias=False, kernel_init=kernel_init)(features["x"])[:, 0]
    predictions = {"w": w, "doubled": 2 * w}
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions=predictions)
    loss = jnp.mean((w - labels) ** 2)
    est.summary.scalar("w_mean", jnp.mean(w))
    return est.EstimatorSpec(
        mode, predictions=predictions, loss=loss, optimizer=optax.sgd(0.25)
    )


def input_fn():
    x, y = np.ones((2, 1), np.float32), np.ones(2, np.float32)
    return est.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(2)


def w_at(t):
    """The prediction of the step that ends at global_step t: 1 - 0.5^(t-1)."""
    return 1 - 0.5 ** (t - 1)


def make(tmp_path, **config):
    return est.Estimator(
        model_fn, model_dir=str(tmp_path / "model"), config=fast_config(**config)
    )


class GroupEnds(est.Hook):
    """Records where the fused groups end, without asking to see every step."""

    def __init__(self):
        self.ends = []

    def after_step(self, context):
        self.ends.append(context.global_step)

    def steps_until_needed(self, global_step):
        return None


def test_tf_logging_tensor_hook_logs_the_right_values_at_the_right_steps(
    tmp_path, caplog
):
    # tf's MNIST tutorial: tensors_to_log = {"probabilities": "softmax_tensor"};
    # tf.train.LoggingTensorHook(tensors=tensors_to_log, every_n_iter=50). Ported:
    # the import and the tensor's name (a prediction key) change.
    seen = []
    tensors_to_log = {"w": "w", "step": "global_step", "loss": "loss"}
    logging_hook = est.LoggingTensorHook(tensors=tensors_to_log, every_n_iter=3)
    recording = est.LoggingTensorHook(
        tensors=tensors_to_log, every_n_iter=3, formatter=lambda v: seen.append(v) or ""
    )
    groups = GroupEnds()
    with caplog.at_level(logging.INFO, logger="estimators"):
        make(tmp_path).train(input_fn, steps=7, hooks=[logging_hook, recording, groups])
    # tf logs the first step and then every 3: global steps 1, 4, 7, whose
    # "global_step" (read before the step, as in tf) is 0, 3, 6.
    assert [int(v["step"]) for v in seen] == [0, 3, 6]
    for values, t in zip(seen, [1, 4, 7], strict=True):
        np.testing.assert_allclose(values["w"], [w_at(t)] * 2, rtol=1e-6)
        assert values["loss"] == pytest.approx((1 - w_at(t)) ** 2, rel=1e-6)
    # Fused between the steps the hook logs: three compiled calls, not seven.
    assert groups.ends == [1, 4, 7]
    lines = [r.getMessage() for r in caplog.records if "step = " in r.getMessage()]
    assert lines[0] == "loss = 1.0, step = 0, w = [0. 0.]"
    assert lines[1].startswith("loss = 0.015625, step = 3, w = [0.875 0.875] (")


def test_a_custom_tf_session_run_hook_ports_by_changing_imports(tmp_path):
    # tf's CIFAR-10 tutorial (cifar10_train.py) _LoggerHook, with
    # tf.train -> est and the `loss` tensor -> "loss".
    printed = []
    log_frequency = 2

    class _LoggerHook(est.SessionRunHook):
        """Logs loss and runtime."""

        def begin(self):
            self._step = -1

        def before_run(self, run_context):
            self._step += 1
            return est.SessionRunArgs("loss")  # Asks for loss value.

        def after_run(self, run_context, run_values):
            if self._step % log_frequency == 0:
                loss_value = run_values.results
                printed.append((self._step, loss_value))

    groups = GroupEnds()
    make(tmp_path).train(input_fn, steps=5, hooks=[_LoggerHook(), groups])
    # Local steps 0, 2, 4 end at global steps 1, 3, 5: losses 0.25^0, 0.25^2,
    # 0.25^4 = 1, 0.0625, 0.00390625.
    assert printed == [(0, 1.0), (2, 0.0625), (4, 0.00390625)]
    assert isinstance(printed[1][1], np.float32)
    assert groups.ends == [1, 2, 3, 4, 5]  # it sees every step, as in tf


def test_a_session_run_hook_fetching_a_list_can_request_stop(tmp_path):
    seen = []

    class StopWhenClose(est.SessionRunHook):
        def after_create_session(self, session, coord):
            seen.append(("created", session.run("global_step"), coord))

        def before_run(self, run_context):
            return est.SessionRunArgs(["w", "global_step"])

        def after_run(self, run_context, run_values):
            w, step = run_values.results
            seen.append((int(step), float(w[0])))
            if w[0] > 0.8:
                run_context.request_stop()

    estimator = make(tmp_path)
    estimator.train(input_fn, steps=100, hooks=[StopWhenClose()])
    # Predictions 0, 0.5, 0.75, 0.875 at the steps read at 0..3; 0.875 > 0.8.
    assert seen == [("created", 0, None), (0, 0.0), (1, 0.5), (2, 0.75), (3, 0.875)]
    assert estimator.get_variable_value("global_step") == 4


def test_step_counter_and_summary_saver_write_at_their_cadence(tmp_path):
    memory = est.InMemoryWriter()
    groups = GroupEnds()
    make(tmp_path, metric_writers=[memory]).train(
        input_fn,
        steps=7,
        hooks=[
            est.StepCounterHook(every_n_steps=2),
            est.SummarySaverHook(save_steps=3),
            est.SummarySaverHook(save_steps=5, summary_op="w_mean"),
            groups,
        ],
    )
    # StepCounterHook measures from step 1 on: rates at 3, 5, 7.
    assert [step for step, _ in memory.history("global_step/sec")] == [3, 5, 7]
    # SummarySaverHook(save_steps=3) writes at 1, 4, 7; the second at 1, 6.
    w_mean = memory.history("w_mean")
    assert [step for step, _ in w_mean] == [1, 1, 4, 6, 7]
    for step, value in w_mean:
        assert value == pytest.approx(w_at(step), rel=1e-6)
    assert [step for step, _ in memory.history("loss")] == [1, 4, 7]
    assert groups.ends == [1, 3, 4, 5, 6, 7]


def test_final_ops_hook_reads_the_last_steps_values(tmp_path):
    hook = est.FinalOpsHook({"w": "w", "loss": "loss", "step": "global_step"})
    estimator = make(tmp_path)
    estimator.train(input_fn, steps=3, hooks=[hook])
    values = hook.final_ops_values
    np.testing.assert_allclose(values["w"], [w_at(3)] * 2)  # 0.75
    assert values["loss"] == pytest.approx(0.0625)  # (1 - 0.75)^2
    assert values["step"] == 3
    evaluation = est.FinalOpsHook(["loss", "global_step"])
    result = estimator.evaluate(lambda: input_fn().take(1), hooks=[evaluation])
    # Evaluated with w_3 = 0.875: (1 - 0.875)^2 = 0.015625.
    assert evaluation.final_ops_values == [pytest.approx(0.015625), 3]
    assert result["loss"] == pytest.approx(0.015625)


def test_profiler_hook_writes_a_trace_for_the_steps_asked(tmp_path):
    out = tmp_path / "profile"
    groups = GroupEnds()
    make(tmp_path).train(
        input_fn,
        steps=5,
        hooks=[est.ProfilerHook(save_steps=3, output_dir=str(out)), groups],
    )
    # tf traces the first step and then every 3: steps 1 and 4, each alone.
    assert sorted(os.listdir(out)) == ["profile-1", "profile-4"]
    for step in (1, 4):
        assert glob.glob(str(out / f"profile-{step}" / "plugins/profile/*/*.xplane.pb"))
    assert groups.ends == [1, 3, 4, 5]


def test_builtin_cadence_lets_steps_fuse():
    at_step_10 = SimpleNamespace(global_step=10)  # what a run resumed at 10 gives
    hook = est.LoggingTensorHook(["loss"], every_n_iter=5)
    hook.after_create_session(at_step_10, None)
    assert [hook.steps_until_needed(s) for s in (10, 11, 12, 15, 16)] == [1, 5, 4, 1, 5]
    by_secs = est.LoggingTensorHook(["loss"], every_n_secs=30)
    by_secs.after_create_session(at_step_10, None)
    assert (
        by_secs.steps_until_needed(10) == 1 and by_secs.steps_until_needed(11) is None
    )
    assert est.LoggingTensorHook(["loss"], at_end=True).steps_until_needed(0) is None
    assert est.FinalOpsHook("loss").steps_until_needed(0) is None

    class Plain(est.SessionRunHook):
        def end(self, session):
            pass

    class Fetching(est.SessionRunHook):
        def before_run(self, run_context):
            return est.SessionRunArgs("loss")

    assert Plain().steps_until_needed(0) is None
    assert Fetching().steps_until_needed(0) == 1


def test_fetches_are_compiled_only_when_asked(tmp_path):
    config = StepConfig(program=None)
    assert config.fetches == ()
    with_w = config.with_fetches(["w"])
    assert with_w.fetches == ("w",) and config.with_fetches(["w"]) is with_w
    assert with_w.with_fetches(["doubled"]) is config.with_fetches(["doubled", "w"])
    assert with_w.with_fetches([]) is with_w


def test_unknown_names_and_feeds_fail_with_the_fix(tmp_path):
    class Asks(est.SessionRunHook):
        def __init__(self, args):
            self.args = args

        def before_run(self, run_context):
            return self.args

    with pytest.raises(ValueError, match=r"'nope'.*predictions \['doubled', 'w'\]"):
        make(tmp_path).train(
            input_fn, steps=1, hooks=[Asks(est.SessionRunArgs("nope"))]
        )
    with pytest.raises(ValueError, match="feed_dict has no meaning"):
        make(tmp_path).train(
            input_fn, steps=1, hooks=[Asks(est.SessionRunArgs("w", feed_dict={"x": 1}))]
        )
    with pytest.raises(TypeError, match="must return est.SessionRunArgs"):
        make(tmp_path).train(input_fn, steps=1, hooks=[Asks(["w"])])
    with pytest.raises(TypeError, match="replace each tensor by its name"):
        make(tmp_path).train(input_fn, steps=1, hooks=[Asks(est.SessionRunArgs(3.0))])
    with pytest.raises(TypeError, match="est.Hook or est.SessionRunHook"):
        make(tmp_path).train(input_fn, steps=1, hooks=[object()])
    with pytest.raises(NotImplementedError, match="input_fn"):
        est.FeedFnHook(lambda: {})
    with pytest.raises(ValueError, match="exactly one of every_n_iter"):
        est.LoggingTensorHook(["loss"])
    with pytest.raises(ValueError, match="final_ops_feed_dict"):
        est.FinalOpsHook("loss", final_ops_feed_dict={})
    with pytest.raises(ValueError, match="scaffold"):
        est.SummarySaverHook(save_steps=1, scaffold=object())


def test_logging_by_seconds_and_at_end(tmp_path, caplog):
    # tf's LoggingTensorHookTest: every_n_secs logs the first step, then not
    # before the seconds pass; at_end logs the last step's values once.
    seen = []
    by_secs = est.LoggingTensorHook(
        {"step": "global_step"}, every_n_secs=3600, formatter=lambda v: seen.append(v)
    )
    groups = GroupEnds()
    with caplog.at_level(logging.INFO, logger="estimators"):
        make(tmp_path).train(
            input_fn,
            steps=7,
            hooks=[by_secs, est.LoggingTensorHook(["w_mean"], at_end=True), groups],
        )
    assert [int(v["step"]) for v in seen] == [0]
    assert groups.ends == [1, 7]  # nothing else due: the other six steps fuse
    at_end = [r.getMessage() for r in caplog.records if "w_mean" in r.getMessage()]
    assert at_end == [f"w_mean = {np.float32(w_at(7))}"]  # 1 - 0.5^6 = 0.984375


def test_profiler_hook_under_a_fixed_steps_per_execution(tmp_path):
    # Calls of 2 steps end at 2, 4, 6: step 1 is traced within the first call;
    # step 4 (1 + 3) is passed inside the call ending at 4, so the next call,
    # steps 5-6, is traced.
    out = tmp_path / "profile"
    make(tmp_path, steps_per_execution=2).train(
        input_fn,
        steps=6,
        hooks=[est.ProfilerHook(save_steps=3, output_dir=str(out), show_memory=True)],
    )
    assert sorted(os.listdir(out)) == [
        "memory-2.prof",  # a device memory profile after each trace
        "memory-6.prof",
        "profile-1",
        "profile-5",
    ]


def test_evaluation_hooks_fetch_predictions_and_summaries(tmp_path):
    estimator = make(tmp_path)
    estimator.train(input_fn, steps=3)
    seen = []
    hook = est.LoggingTensorHook(
        {"w": "w", "mean": "w_mean", "loss": "loss"},
        every_n_iter=1,
        formatter=lambda values: seen.append(values),
    )
    estimator.evaluate(lambda: input_fn().take(2), hooks=[hook])
    # Both batches see w_3 = 1 - 0.5^3 = 0.875; loss (1 - 0.875)^2 = 0.015625.
    assert len(seen) == 2
    for values in seen:
        np.testing.assert_allclose(values["w"], [0.875, 0.875])
        assert values["mean"] == pytest.approx(0.875)
        assert values["loss"] == pytest.approx(0.015625)
    with pytest.raises(ValueError, match=r"'nope'.*EVAL spec's predictions"):
        estimator.evaluate(
            lambda: input_fn().take(1), hooks=[est.FinalOpsHook(["nope"])]
        )
