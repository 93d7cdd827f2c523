"""W1: Iris `DNNClassifier([10, 10])` with a default RunConfig against hand-written loops.

The program a tf.estimator user ports as it is: 4 `numeric_column`s, 3 classes,
Adagrad 0.1, `Dataset.from_tensor_slices((features, labels)).shuffle(1000)
.repeat().batch(100)` over the Iris training split, `RunConfig()` untouched.

Ours: `train(steps=N)` after an untimed warm-up call (compilation, first
checkpoint); steady state = the median `global_step/sec` the Estimator logs
every 100 steps (tf's figure); whole call = N / the call's wall time (restore,
input, final checkpoint included).

Hand-written, on the same batches (the same pipeline, seed 0, iterated once up
front into numpy arrays), the same 4-10-10-3 ReLU network, mean softmax
cross-entropy and `optax.adagrad(0.1)`:
  (a) one jitted step per batch, numpy batches passed in (the per-step limit);
  (b) the whole loop in one `lax.scan` over the stacked batches, already on the
      device (the limit of fusing every step).

Run: python bench/bench_iris.py [--steps 20000] [--rounds 3] [--quick]
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

from _harness import DATA, Row, arguments, interleave, report  # noqa: E402
from _loops import (  # noqa: E402
    estimator_runner,
    hand_per_step,
    hand_scan,
    same_batches,
)

import estimators as est  # noqa: E402

NAMES = ["PetalLength", "PetalWidth", "SepalLength", "SepalWidth"]  # sorted
BATCH = 100


def load() -> tuple[dict[str, np.ndarray], np.ndarray]:
    table = np.loadtxt(
        DATA / "iris_training.csv", delimiter=",", skiprows=1, dtype=np.float32
    )
    columns = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth"]
    features = {name: table[:, i] for i, name in enumerate(columns)}
    return features, table[:, 4].astype(np.int32)


def input_fn_for(features, labels):
    def input_fn():
        dataset = est.data.Dataset.from_tensor_slices((features, labels))
        return dataset.shuffle(1000, seed=0).repeat().batch(BATCH)

    return input_fn


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for units in (10, 10):
            x = nn.relu(nn.Dense(units)(x))
        return nn.Dense(3)(x)


def classifier() -> est.DNNClassifier:
    return est.DNNClassifier(
        hidden_units=[10, 10],
        feature_columns=[est.feature_column.numeric_column(n) for n in NAMES],
        n_classes=3,
        optimizer=optax.adagrad(0.1),
        model_dir=tempfile.mkdtemp(prefix="bench-iris-"),
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0], steps=20000)
    features, labels = load()
    input_fn = input_fn_for(features, labels)
    xs, ys = same_batches(
        input_fn(), args.steps, lambda f: np.stack([f[n] for n in NAMES], 1)
    )
    whole_call, steady = estimator_runner(classifier(), input_fn, args.steps)
    runs = interleave(
        {
            "hand (a) per-step jit, steps/s": hand_per_step(
                MLP(), optax.adagrad(0.1), xs, ys
            ),
            "hand (b) one lax.scan, steps/s": hand_scan(
                MLP(), optax.adagrad(0.1), xs, ys
            ),
            "ours whole train() call, steps/s": whole_call,
        },
        args.rounds,
    )
    runs["ours steady (logged global_step/sec)"] = steady
    a, b = (
        max(runs["hand (a) per-step jit, steps/s"]),
        max(runs["hand (b) one lax.scan, steps/s"]),
    )
    rows = [
        Row("W1 Iris DNNClassifier, steady vs per-step jit", max(steady), a,
            "steps/s", target=">= 0.8x"),
        Row("W1 Iris DNNClassifier, steady vs one lax.scan", max(steady), b,
            "steps/s", target=">= 0.6x"),
        Row("W1 Iris DNNClassifier, whole train() vs per-step jit",
            max(runs["ours whole train() call, steps/s"]), a, "steps/s"),
    ]  # fmt: skip
    report(f"W1 Iris, {args.steps} steps, best of {args.rounds}", rows, runs, args.json)


if __name__ == "__main__":
    main()
