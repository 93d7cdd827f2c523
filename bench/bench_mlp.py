"""W2: a 784-512-256-128-10 MLP `model_fn` (flax Dense, Adam) against a hand loop.

Ours: `Estimator(model_fn)` with a default `RunConfig`, fed
`Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(128)` over 2,560
seeded synthetic rows (784 float features, 10 classes); steady state = the
median logged `global_step/sec`, whole call = N / the `train(steps=N)` call.
Hand-written: the same flax network, mean softmax cross-entropy and
`optax.adam(1e-3)`, one jitted step per numpy batch, on the same batches.

Run: python bench/bench_mlp.py [--steps 1000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # run from anywhere

from _harness import Row, arguments, interleave, report  # noqa: E402
from _loops import estimator_runner, hand_per_step, same_batches  # noqa: E402

import estimators as est  # noqa: E402

BATCH = 128


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for units in (512, 256, 128):
            x = nn.relu(nn.Dense(units)(x))
        return nn.Dense(10)(x)


def model_fn(features, labels, mode):
    logits = MLP()(features["x"])
    loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    return est.EstimatorSpec(mode, loss=loss, optimizer=optax.adam(1e-3))


def main() -> None:
    args = arguments(__doc__.splitlines()[0], steps=1000)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * 20, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=BATCH * 20).astype(np.int32)

    def input_fn():
        return est.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(BATCH)

    xs, ys = same_batches(input_fn(), args.steps, lambda f: f["x"])
    estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(prefix="bench-mlp-"))
    whole_call, steady = estimator_runner(estimator, input_fn, args.steps)
    runs = interleave(
        {
            "hand per-step jit, steps/s": hand_per_step(
                MLP(), optax.adam(1e-3), xs, ys
            ),
            "ours whole train() call, steps/s": whole_call,
        },
        args.rounds,
    )
    runs["ours steady (logged global_step/sec)"] = steady
    hand = max(runs["hand per-step jit, steps/s"])
    rows = [
        Row("W2 MLP 784-512-256-128-10, steady vs per-step jit", max(steady), hand,
            "steps/s", target=">= 0.95x"),
        Row("W2 MLP, whole train() vs per-step jit",
            max(runs["ours whole train() call, steps/s"]), hand, "steps/s"),
    ]  # fmt: skip
    report(f"W2 MLP, {args.steps} steps, best of {args.rounds}", rows, runs, args.json)


if __name__ == "__main__":
    main()
