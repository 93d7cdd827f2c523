"""Time to the first training step of W1 in a fresh process, cold and warm JAX cache.

Each measurement is a new Python process that times, from the top of its script
(before `import jax`), the imports, building the model and one training step
finished: ours `DNNClassifier([10, 10])` + `train(input_fn, steps=1)` (W1's
input_fn and default RunConfig, so the final checkpoint is included); the
hand-written side a flax MLP, `optax.adagrad(0.1)` and one jitted step.

Per round, for each side: a process with an empty JAX persistent compilation
cache (`JAX_COMPILATION_CACHE_DIR` = a new folder,
`JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0`), then a second process on the
same folder, which reuses the compiled programs. One more pair of our processes
runs with no cache variables at all: what the library does by default (the
first of them may find a per-user cache already warm). Medians over rounds.

Run: python bench/bench_first_step.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import time

START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE_VARIABLES = (
    "JAX_COMPILATION_CACHE_DIR",
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
)


def child_ours() -> dict[str, float]:
    sys.path.insert(0, str(HERE))
    sys.path.append(str(HERE.parent))
    import bench_iris

    imported = time.perf_counter() - START
    features, labels = bench_iris.load()
    bench_iris.classifier().train(bench_iris.input_fn_for(features, labels), steps=1)
    return {"import_s": imported, "first_step_s": time.perf_counter() - START}


def child_hand() -> dict[str, float]:
    import flax.linen as nn
    import jax
    import numpy as np
    import optax

    imported = time.perf_counter() - START

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            for units in (10, 10):
                x = nn.relu(nn.Dense(units)(x))
            return nn.Dense(3)(x)

    table = np.loadtxt(
        HERE.parent / "data" / "iris_training.csv", delimiter=",", skiprows=1,
        dtype=np.float32,
    )  # fmt: skip
    x, y = table[:100, :4], table[:100, 4].astype(np.int32)
    model, tx = MLP(), optax.adagrad(0.1)
    params = model.init(jax.random.key(0), x)["params"]

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits = model.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    jax.block_until_ready(step(params, tx.init(params), x, y))
    return {"import_s": imported, "first_step_s": time.perf_counter() - START}


def run_child(side: str, cache: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in CACHE_VARIABLES}
    env.setdefault("JAX_PLATFORMS", "cpu")
    # As an installed package runs: compiled bytecode kept (in a folder of its
    # own, so a shell that forbids writing it next to the sources still gets it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "bench-pycache")
    if cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    command = [sys.executable, __file__, "--child", side]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{side} child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child = child_ours if sys.argv[2] == "ours" else child_hand
        print(json.dumps(child()))
        return
    sys.path.insert(0, str(HERE))
    from _harness import Row, arguments, report

    args = arguments(__doc__.splitlines()[0])
    runs: dict[str, list[float]] = {}

    def record(name: str, result: dict[str, float]) -> None:
        runs.setdefault(f"{name}: first step, s", []).append(result["first_step_s"])
        runs.setdefault(f"{name}: imports, s", []).append(result["import_s"])

    for _ in range(args.rounds):
        for side in ("ours", "hand"):
            with tempfile.TemporaryDirectory(prefix="bench-jax-cache-") as cache:
                record(f"{side} cold cache", run_child(side, cache))
                record(f"{side} warm cache", run_child(side, cache))
        record("ours library default, 1st", run_child("ours", None))
        record("ours library default, 2nd", run_child("ours", None))

    def median(name: str) -> float:
        return statistics.median(runs[f"{name}: first step, s"])

    rows = [
        Row("First step of W1, fresh process, cold JAX cache",
            median("ours cold cache"), median("hand cold cache"), "s",
            higher_is_better=False),
        Row("First step of W1, second process, warm JAX cache",
            median("ours warm cache"), median("hand warm cache"), "s",
            higher_is_better=False, target="<= 1 s"),
        Row("First step of W1, second process, library defaults",
            median("ours library default, 2nd"), median("hand warm cache"), "s",
            higher_is_better=False, target="<= 1 s"),
    ]  # fmt: skip
    report(f"Time to first step, median of {args.rounds}", rows, runs, args.json)


if __name__ == "__main__":
    main()
