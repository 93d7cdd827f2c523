"""The two sides every training benchmark runs: the Estimator and a hand loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import numpy as np
import optax
from _harness import StepRateLog, steady_rate, timed_steps

import estimators as est


def same_batches(
    dataset: Iterable, steps: int, to_array: Callable[[dict], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The first `steps` batches of a pipeline as stacked numpy arrays."""
    xs, ys = [], []
    for (features, labels), _ in zip(dataset, range(steps), strict=False):
        xs.append(to_array(features))
        ys.append(np.asarray(labels))
    return np.stack(xs), np.stack(ys)


def train_step(model, tx):
    """`(params, opt_state), (x, y) -> new carry, loss`: mean softmax cross-entropy."""

    def one_step(carry, batch):
        params, opt_state = carry
        x, y = batch

        def loss_fn(p):
            logits = model.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    return one_step


def hand_per_step(model, tx, xs: np.ndarray, ys: np.ndarray) -> Callable[[], float]:
    """A jitted step per numpy batch; returns a runner giving steps/s over all."""
    params = model.init(jax.random.key(0), xs[0])["params"]
    state = (params, tx.init(params))
    one_step = train_step(model, tx)
    step = jax.jit(lambda carry, x, y: one_step(carry, (x, y)))
    jax.block_until_ready(step(state, xs[0], ys[0]))  # compile

    def run():
        carry = state
        for x, y in zip(xs, ys, strict=True):
            carry, loss = step(carry, x, y)
        return jax.block_until_ready(loss)

    return lambda: timed_steps(run, len(xs))


def hand_scan(model, tx, xs: np.ndarray, ys: np.ndarray) -> Callable[[], float]:
    """The whole loop in one jitted `lax.scan` over batches already on the device."""
    params = model.init(jax.random.key(0), xs[0])["params"]
    state = (params, tx.init(params))
    scan = jax.jit(
        lambda carry, xs, ys: jax.lax.scan(train_step(model, tx), carry, (xs, ys))
    )
    device_xs, device_ys = jax.device_put(xs), jax.device_put(ys)
    jax.block_until_ready(scan(state, device_xs, device_ys))  # compile
    return lambda: timed_steps(
        lambda: jax.block_until_ready(scan(state, device_xs, device_ys)), len(xs)
    )


def estimator_runner(
    estimator: est.Estimator, input_fn, steps: int
) -> tuple[Callable[[], float], list[float]]:
    """`train(steps=N)` on an Estimator warmed by one untimed call.

    Returns a runner giving the whole call's steps/s, and the list it fills with
    each call's steady state: the median `global_step/sec` the Estimator logged.
    """
    estimator.train(input_fn, steps=min(steps, 200))  # compile, first checkpoint
    steady: list[float] = []

    def whole_call():
        with StepRateLog() as log:
            rate = timed_steps(lambda: estimator.train(input_fn, steps=steps), steps)
        steady.append(steady_rate(log.rates, rate))
        return rate

    return whole_call, steady
