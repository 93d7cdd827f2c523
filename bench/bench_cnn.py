"""CNN: Hvass tutorial 17's network as a custom `model_fn`, ms per training step.

conv 5x5x16 -> max-pool 2 -> conv 5x5x36 -> max-pool 2 -> dense 128 -> 10 (ReLU,
SAME padding, Adam 1e-3) on the 8x8 digits (data/digits.csv, pixels / 16), batch
128, `Dataset.from_tensor_slices(...).shuffle(1797, seed=0).repeat().batch(128)`,
default `RunConfig`. Two versions of the network: flax's `nn.Conv` +
`nn.max_pool`, and the drop-in `est.layers.Conv` + `est.layers.max_pool`
(docs/cpu-convolutions.md). Each against a hand-written flax + optax loop (one
jitted step per numpy batch, the same batches, the same layers).

Ours: steady state from the logged `global_step/sec` (1000 / it = ms/step).

Run: python bench/bench_cnn.py [--steps 400] [--rounds 3] [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # run from anywhere

from _harness import DATA, Row, arguments, interleave, report  # noqa: E402
from _loops import estimator_runner, hand_per_step, same_batches  # noqa: E402

import estimators as est  # noqa: E402
from estimators import layers  # noqa: E402

BATCH = 128
VERSIONS = {
    "nn.Conv + nn.max_pool": (nn.Conv, nn.max_pool),
    "est.layers.Conv + est.layers.max_pool": (layers.Conv, layers.max_pool),
}


class HvassCNN(nn.Module):
    conv: type[nn.Module] = nn.Conv
    pool: object = staticmethod(nn.max_pool)

    @nn.compact
    def __call__(self, pixels):
        x = pixels.reshape(-1, 8, 8, 1)
        for filters in (16, 36):
            x = nn.relu(self.conv(filters, kernel_size=(5, 5), padding="SAME")(x))
            x = self.pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(128)(x))
        return nn.Dense(10)(x)


def model_fn_for(conv, pool):
    def model_fn(features, labels, mode):
        logits = HvassCNN(conv, pool)(features["pixels"])
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(
                mode, predictions={"classes": jnp.argmax(logits, 1)}
            )
        loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
        return est.EstimatorSpec(mode, loss=loss, optimizer=optax.adam(1e-3))

    return model_fn


def load() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(DATA / "digits.csv", delimiter=",", skiprows=1, dtype=np.float32)
    return table[:, :64] / 16.0, table[:, 64].astype(np.int32)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], steps=400)
    pixels, labels = load()

    def input_fn():
        dataset = est.data.Dataset.from_tensor_slices(({"pixels": pixels}, labels))
        return dataset.shuffle(len(labels), seed=0).repeat().batch(BATCH)

    xs, ys = same_batches(input_fn(), args.steps, lambda f: f["pixels"])
    sides, steady = {}, {}
    for name, (conv, pool) in VERSIONS.items():
        sides[f"hand {name}, steps/s"] = hand_per_step(
            HvassCNN(conv, pool), optax.adam(1e-3), xs, ys
        )
        estimator = est.Estimator(
            model_fn_for(conv, pool), model_dir=tempfile.mkdtemp(prefix="bench-cnn-")
        )
        sides[f"ours {name}, whole call, steps/s"], steady[name] = estimator_runner(
            estimator, input_fn, args.steps
        )
    runs = interleave(sides, args.rounds)
    rows = []
    for name in VERSIONS:
        runs[f"ours {name}, steady (logged global_step/sec)"] = steady[name]
        hand = max(runs[f"hand {name}, steps/s"])
        # The 5 ms target is for the documented drop-in layers: XLA:CPU's own
        # convolutions run at ~17 ms/step either way (docs/cpu-convolutions.md).
        target = "<= 5 ms" if name.startswith("est.layers") else "— (use est.layers)"
        rows.append(
            Row(f"CNN (Hvass 17, digits, b128), {name}", 1e3 / max(steady[name]),
                1e3 / hand, "ms/step", higher_is_better=False, target=target)
        )  # fmt: skip
    plain, ours = (1e3 / max(runs[f"hand {name}, steps/s"]) for name in VERSIONS)
    rows.append(
        Row("CNN hand loop: est.layers (ours) vs nn.Conv + nn.max_pool (hand)",
            ours, plain, "ms/step", higher_is_better=False)
    )  # fmt: skip
    report(f"CNN, {args.steps} steps, best of {args.rounds}", rows, runs, args.json)


if __name__ == "__main__":
    main()
