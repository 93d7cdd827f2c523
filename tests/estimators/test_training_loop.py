"""The training loop: fused steps by default, hooks' cadence, non-finite state."""

from __future__ import annotations

import flax.linen as nn
import numpy as np
import optax
import pytest
from support import classifier_model_fn, fast_config

import estimators as est
from estimators.hooks import HookList
from estimators.training_loop import run_length


def logistic_model_fn(features, labels, mode):
    logits = nn.Dense(1)(features["x"])[:, 0]
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"logits": logits})
    loss = est.losses.sigmoid_cross_entropy(labels, logits)
    return est.EstimatorSpec(mode, loss=loss, optimizer=optax.adagrad(0.1))


def test_an_optimizer_state_overflow_with_a_finite_loss_stops_training(tmp_path):
    # Inputs of 3.4e38 keep the logistic loss finite (about |logit|), but the
    # squared gradients overflow Adagrad's accumulators to inf: the weights
    # would never change again. Training stops, naming the leaf, and writes no
    # checkpoint of the poisoned state.
    x = np.full((8, 2), 3.4e38, np.float32)
    y = np.zeros(8, np.float32)
    model = est.Estimator(
        logistic_model_fn, model_dir=str(tmp_path), config=fast_config()
    )
    with pytest.raises(est.NanLossDuringTrainingError, match="opt_state") as raised:
        model.train(lambda: ({"x": x}, y), steps=20)
    assert "sum_of_squares" in raised.value.leaf
    assert model.latest_checkpoint() is None


class EveryStep(est.Hook):
    def __init__(self):
        self.steps = []

    def after_step(self, context):
        self.steps.append(context.global_step)


class Quiet(est.Hook):
    def __init__(self):
        self.steps = []

    def steps_until_needed(self, global_step):
        return None

    def after_step(self, context):
        self.steps.append(context.global_step)


def test_steps_run_fused_up_to_the_next_host_action_and_hooks_see_their_steps():
    config = est.RunConfig(log_step_count_steps=100, save_summary_steps=30)
    assert run_length(config, HookList([Quiet()]), fuse=True)(0) == 30
    assert run_length(config, HookList([Quiet()]), fuse=True)(95) == 5
    assert run_length(config, HookList([EveryStep()]), fuse=True)(0) == 1
    assert run_length(config, HookList([est.StopAtStepHook(last_step=7)]), True)(0) == 7
    assert run_length(config.replace(steps_per_execution=4), HookList(), True)(0) == 4
    assert run_length(config, HookList(), fuse=False)(0) == 1


def test_fused_training_equals_step_by_step_training(tmp_path, blobs):
    x, y = blobs
    every, quiet = EveryStep(), Quiet()

    def train(name, hooks, **config):
        model = est.Estimator(
            classifier_model_fn,
            model_dir=str(tmp_path / name),
            config=fast_config(random_seed=3, **config),
            params={"n_classes": 3},
        )
        data = est.data.Dataset.from_tensor_slices(({"x": x}, y)).shuffle(50, seed=1)
        model.train(lambda: data.repeat().batch(16), steps=45, hooks=hooks)
        return model

    fused = train("fused", [quiet], save_summary_steps=20, log_step_count_steps=None)
    single = train("single", [every], steps_per_execution=1)
    assert every.steps == list(range(1, 46))  # a plain hook sees every step
    assert quiet.steps == [20, 40, 45]  # fused runs end at summaries and the end
    for name in single.get_variable_names():
        np.testing.assert_allclose(
            fused.get_variable_value(name), single.get_variable_value(name), rtol=1e-5
        )


def test_fused_groups_of_different_lengths_share_one_compilation(tmp_path, blobs):
    # save_summary_steps=20 with steps=45 from step 0, then 33 more from step 45:
    # groups of 20, 20, 5, then 15, 18 (to 78). 20, 18, 15 are over a quarter of
    # 20 and compile at 20 steps; 5 compiles at the next power of two, 8.
    from estimators.steps import train_steps

    x, y = blobs
    model = est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path),
        config=fast_config(
            random_seed=3, save_summary_steps=20, log_step_count_steps=None
        ),
        params={"n_classes": 3},
    )
    data = est.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(16)
    before = train_steps._cache_size()
    model.train(lambda: data, steps=45)
    model.train(lambda: data, steps=33)
    assert model.get_variable_value("global_step") == 78
    assert train_steps._cache_size() - before == 2


def test_steps_size_bounds_compilations_and_padding():
    from estimators import batching

    sizes = {batching.steps_size(k, 100) for k in range(2, 101)}
    assert sizes == {2, 4, 8, 16, 32, 100}
    assert all(batching.steps_size(k, 100) <= 4 * k for k in range(2, 101))
    batch = batching.Batch({"x": np.ones((3, 2, 1))}, np.ones((3, 2)), None)
    padded = batching.pad_steps(batch, 3, 4)
    assert padded.features["x"].shape == (4, 2, 1)
    assert padded.features["x"][3].sum() == 0 and padded.labels[:3].all()


@pytest.mark.parametrize("conv, fused", [(nn.Conv, False), (est.layers.Conv, True)])
def test_xla_convolutions_train_one_step_per_call_on_the_cpu(tmp_path, conv, fused):
    # XLA:CPU runs the kernel gradient of lax.conv_general_dilated ~5x slower
    # inside a loop; est.layers.Conv has no convolution op, so it fuses.
    from estimators.steps import train_step, train_steps

    def model_fn(features, labels, mode):
        x = conv(2, kernel_size=(3, 3))(features["x"].reshape(-1, 4, 4, 1))
        logits = nn.Dense(2)(x.reshape(x.shape[0], -1))
        loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
        return est.EstimatorSpec(mode, loss=loss, optimizer=optax.sgd(0.1))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 16)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    model = est.Estimator(model_fn, str(tmp_path), config=fast_config(random_seed=1))
    singles, groups = train_step._cache_size(), train_steps._cache_size()
    data = est.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(8)
    model.train(lambda: data, steps=6)
    assert model.get_variable_value("global_step") == 6
    assert (train_steps._cache_size() > groups) == fused
    assert (train_step._cache_size() > singles) == (not fused)
