"""Estimator training and prediction speed against a hand-written JAX + optax loop.

Both run in the same process on the same seeded data:
- Iris (4-10-10-3, Adagrad 0.1, batch 100) with steps_per_execution=100;
- an MLP 784-512-256-128-10 (Adam, batch 128) on synthetic data;
- single-example `predict` latency after the first call (mean of 200 calls).

Run: python bench/bench_estimator.py [--steps 2000] [--mlp-steps 300]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import estimators as est


class MLP(nn.Module):
    hidden: tuple[int, ...]
    classes: int

    @nn.compact
    def __call__(self, x):
        for units in self.hidden:
            x = nn.relu(nn.Dense(units)(x))
        return nn.Dense(self.classes)(x)


def make_model_fn(hidden, classes, optimizer):
    def model_fn(features, labels, mode):
        logits = MLP(hidden, classes)(features["x"])
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(
                mode, predictions={"class_ids": jnp.argmax(logits, 1)}
            )
        loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
        return est.EstimatorSpec(mode, loss=loss, optimizer=optimizer)

    return model_fn


def hand_written_steps_per_sec(x, y, hidden, classes, optimizer, batch, steps, unroll):
    """A minimal JAX + optax loop: jitted step (or `unroll` steps under lax.scan)."""
    model = MLP(hidden, classes)
    params = model.init(jax.random.key(0), x[:batch])["params"]
    opt_state = optimizer.init(params)

    def one_step(carry, b):
        params, opt_state = carry

        def loss_fn(p):
            logits = model.apply({"params": p}, b[0])
            return optax.softmax_cross_entropy_with_integer_labels(logits, b[1]).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def run(carry, xb, yb):
        return jax.lax.scan(one_step, carry, (xb, yb))

    n = len(x) // batch
    order = np.arange(n * batch).reshape(n, batch)

    def batches(i):
        idx = order[(np.arange(i, i + unroll) % n)]
        return x[idx], y[idx]

    carry = (params, opt_state)
    carry, loss = run(carry, *batches(0))  # compile
    jax.block_until_ready(loss)
    start = time.perf_counter()
    for i in range(0, steps, unroll):
        carry, loss = run(carry, *batches(i))
    jax.block_until_ready(loss)
    return steps / (time.perf_counter() - start)


class _StepTimes(est.Hook):
    """Records (global_step, time) after every compiled call."""

    def __init__(self):
        self.times = []

    def after_step(self, context):
        self.times.append((context.global_step, time.perf_counter()))


def estimator_steps_per_sec(x, y, hidden, classes, optimizer, batch, steps, unroll):
    """Whole `train()` call (restore, input, steps, final checkpoint) and the
    steady-state rate between its first and last step (tf's global_step/sec)."""
    config = est.RunConfig(
        steps_per_execution=unroll,
        save_checkpoints_secs=None,
        save_summary_steps=0,
        log_step_count_steps=None,
    )
    model_dir = tempfile.mkdtemp(prefix="bench-")
    estimator = est.Estimator(
        make_model_fn(hidden, classes, optimizer), model_dir=model_dir, config=config
    )

    def input_fn():
        return est.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(batch)

    estimator.train(input_fn, steps=unroll)  # compile and first checkpoint
    times = _StepTimes()
    start = time.perf_counter()
    estimator.train(input_fn, steps=steps, hooks=[times])
    elapsed = time.perf_counter() - start
    (first_step, first_time), (last_step, last_time) = times.times[0], times.times[-1]
    steady = (last_step - first_step) / (last_time - first_time)
    return steps / elapsed, steady, estimator


def predict_latency_ms(estimator, x, calls=200):
    sample = {"x": x[:1]}
    next(estimator.predict(lambda: (sample, None)))  # first call compiles and loads
    start = time.perf_counter()
    for _ in range(calls):
        next(estimator.predict(lambda: (sample, None)))
    return (time.perf_counter() - start) / calls * 1e3


def compare(name, args, rounds):
    """Alternates the two loops `rounds` times; reports the best of each (the
    machine is shared, so the best run is the one least disturbed)."""
    hand, call, steady, estimator = [], [], [], None
    for _ in range(rounds):
        hand.append(hand_written_steps_per_sec(*args))
        whole, inner, estimator = estimator_steps_per_sec(*args)
        call.append(whole)
        steady.append(inner)
    best = max(hand)
    print(f"{name}:")
    print(f"  hand-written JAX + optax loop     {best:10.1f} steps/s")
    print(
        f"  Estimator, steady state          {max(steady):10.1f} steps/s  "
        f"ratio {max(steady) / best:.2f}"
    )
    print(
        f"  Estimator, whole train() call    {max(call):10.1f} steps/s  "
        f"ratio {max(call) / best:.2f}  (restore + final checkpoint included)"
    )
    print(
        "  per-round ratios (steady): "
        + ", ".join(f"{s / h:.2f}" for s, h in zip(steady, hand, strict=True))
    )
    return estimator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20000, help="Iris steps")
    parser.add_argument("--mlp-steps", type=int, default=600, help="MLP steps")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("estimators").setLevel(logging.WARNING)
    rng = np.random.default_rng(0)
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, "
        f"{jax.device_count()} device(s), {os.cpu_count()} cores"
    )

    iris = np.loadtxt(
        "data/iris_training.csv", delimiter=",", skiprows=1, dtype=np.float32
    )
    ix, iy = iris[:, :4], iris[:, 4].astype(np.int32)
    ix, iy = np.tile(ix, (10, 1)), np.tile(iy, 10)
    args_iris = (ix, iy, (10, 10), 3, optax.adagrad(0.1), 100, args.steps, 100)
    iris_estimator = compare(
        "iris 4-10-10-3 b100, steps_per_execution=100", args_iris, args.rounds
    )

    mx = rng.normal(size=(128 * 20, 784)).astype(np.float32)
    my = rng.integers(0, 10, size=128 * 20).astype(np.int32)
    args_mlp = (mx, my, (512, 256, 128), 10, optax.adam(1e-3), 128, args.mlp_steps, 1)
    compare("mlp 784-512-256-128-10 b128", args_mlp, args.rounds)

    latency = predict_latency_ms(iris_estimator, ix)
    print(
        f"predict, one example, after the first call: {latency:.3f} ms "
        "(mean of 200 calls)"
    )


if __name__ == "__main__":
    main()
