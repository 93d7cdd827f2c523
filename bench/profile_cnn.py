"""Where the Hvass CNN's training step spends its time on XLA:CPU, and what helps.

The network (Hvass-Labs TensorFlow tutorial 17, on 8x8 digits): conv 5x5x16 ->
max-pool 2 -> conv 5x5x36 -> max-pool 2 -> dense 128 -> 10, Adam, batch 128.
Everything is measured in this one process, interleaved (round-robin over the
variants, `--rounds` times), and the median per variant is printed with the
machine load (`/proc/loadavg`) before and after: the machine is shared.

1. the whole jitted training step for each (convolution, pooling) pair:
   `nn.Conv` or `est.layers.Conv`, `nn.max_pool` or `est.layers.max_pool`;
2. each operation alone: forward, input gradient and kernel gradient of the two
   convolutions (XLA's convolution, im2col + matmul), pooling forward/backward;
3. `--flags`: the whole step again in child processes under XLA_FLAGS variants
   and pinned to one core (`taskset`).

Run: python bench/profile_cnn.py [--rounds 5] [--flags]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax import lax  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent.parent))  # run from anywhere

from estimators import layers  # noqa: E402

BATCH = 128


class HvassCNN(nn.Module):
    conv: type[nn.Module] = nn.Conv
    pool: object = staticmethod(nn.max_pool)

    @nn.compact
    def __call__(self, x):
        for filters in (16, 36):
            x = nn.relu(self.conv(filters, kernel_size=(5, 5), padding="SAME")(x))
            x = self.pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(128)(x))
        return nn.Dense(10)(x)


VARIANTS = {
    "nn.Conv + nn.max_pool": (nn.Conv, nn.max_pool),
    "nn.Conv + layers.max_pool": (nn.Conv, layers.max_pool),
    "layers.Conv + nn.max_pool": (layers.Conv, nn.max_pool),
    "layers.Conv + layers.max_pool": (layers.Conv, layers.max_pool),
}


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


CPU_MS: dict[str, list[float]] = {}  # process CPU time per step, all threads
OP_CPU_MS: dict[str, list[float]] = {}  # the same per operation


def step_timer(name, conv, pool, steps):
    """A jitted train step of the CNN; returns a function timing `steps` steps."""
    model = HvassCNN(conv, pool)
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.random((8, BATCH, 8, 8, 1), dtype=np.float32))
    ys = jnp.asarray(rng.integers(0, 10, (8, BATCH)).astype(np.int32))
    tx = optax.adam(1e-3)
    params = model.init(jax.random.key(0), xs[0])["params"]
    state = [params, tx.init(params)]

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits = model.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def run(n=steps):
        params, opt_state = state
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            params, opt_state, loss = step(params, opt_state, xs[i % 8], ys[i % 8])
        loss.block_until_ready()
        state[:] = [params, opt_state]
        CPU_MS.setdefault(name, []).append((time.process_time() - cpu) / n * 1e3)
        return (time.perf_counter() - start) / n * 1e3

    run(2)  # compile
    return run


def interleaved(timers: dict, rounds: int) -> dict[str, list[float]]:
    times = {name: [] for name in timers}
    for _ in range(rounds):
        for name, run in timers.items():
            times[name].append(run())
    return times


def print_times(title: str, times: dict[str, list[float]]) -> None:
    print(f"\n{title}  (ms; median, then every round)")
    for name, values in times.items():
        rounds = " ".join(f"{v:.3f}" for v in values)
        print(f"  {name:44s}{statistics.median(values):8.3f}   [{rounds}]")


def whole_step(rounds: int, steps: int) -> dict[str, list[float]]:
    timers = {name: step_timer(name, c, p, steps) for name, (c, p) in VARIANTS.items()}
    return interleaved(timers, rounds)


def op_timer(name, fn, *args, calls=100):
    jitted = jax.jit(fn)
    jax.block_until_ready(jitted(*args))

    def run():
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            out = jitted(*args)
        jax.block_until_ready(out)
        OP_CPU_MS.setdefault(name, []).append((time.process_time() - cpu) / calls * 1e3)
        return (time.perf_counter() - start) / calls * 1e3

    return run


def operations(rounds: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(0)
    dn = ("NHWC", "HWIO", "NHWC")
    convs = {
        "xla": lambda x, k: lax.conv_general_dilated(
            x, k, (1, 1), "SAME", dimension_numbers=dn
        ),
        "im2col": lambda x, k: layers.conv_general_dilated(
            x, k, (1, 1), "SAME", dimension_numbers=dn
        ),
    }
    timers = {}
    for size, cin, cout in ((8, 1, 16), (4, 16, 36)):
        x = jnp.asarray(rng.random((BATCH, size, size, cin), dtype=np.float32))
        k = jnp.asarray(rng.random((5, 5, cin, cout), dtype=np.float32))
        g = jnp.asarray(rng.random((BATCH, size, size, cout), dtype=np.float32))
        where = f"conv {size}x{size}x{cin}->{cout}"
        for name, c in convs.items():
            for part, fn in (
                ("forward", c),
                ("d/dinput", lambda x, k, g, c=c: jax.vjp(lambda x: c(x, k), x)[1](g)),
                ("d/dkernel", lambda x, k, g, c=c: jax.vjp(lambda k: c(x, k), k)[1](g)),
            ):
                label = f"{where} {name} {part}"
                operands = (x, k) if part == "forward" else (x, k, g)
                timers[label] = op_timer(label, fn, *operands)
    pools = {"nn.max_pool": nn.max_pool, "layers.max_pool": layers.max_pool}
    for size, channels in ((8, 16), (4, 36)):
        x = jnp.asarray(rng.random((BATCH, size, size, channels), dtype=np.float32))
        half = size // 2
        g = jnp.asarray(rng.random((BATCH, half, half, channels), dtype=np.float32))
        for name, p in pools.items():
            where = f"pool {size}x{size}x{channels} {name}"

            def pool(x, p=p):
                return p(x, (2, 2), strides=(2, 2))

            timers[f"{where} forward"] = op_timer(f"{where} forward", pool, x)
            timers[f"{where} backward"] = op_timer(
                f"{where} backward",
                lambda x, g, pool=pool: jax.vjp(pool, x)[1](g),
                x,
                g,
            )
    return interleaved(timers, rounds)


FLAGS = {
    "default": {},
    "--xla_cpu_multi_thread_eigen=false": {
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"
    },
    "--xla_cpu_use_thunk_runtime=false": {
        "XLA_FLAGS": "--xla_cpu_use_thunk_runtime=false"
    },
    "--xla_cpu_use_onednn=true": {"XLA_FLAGS": "--xla_cpu_use_onednn=true"},
    "one core (taskset -c 0)": {"TASKSET": "0"},
}


def flags(rounds: int, steps: int) -> None:
    """Each XLA_FLAGS variant in its own process (flags are read at start-up)."""
    results = {name: {} for name in FLAGS}
    for _ in range(rounds):
        for name, env in FLAGS.items():
            command = [sys.executable, __file__, "--child", "--steps", str(steps)]
            if "TASKSET" in env:
                command = ["taskset", "-c", env["TASKSET"], *command]
            child_env = {
                **os.environ,
                **{k: v for k, v in env.items() if k != "TASKSET"},
            }
            out = subprocess.run(command, env=child_env, capture_output=True, text=True)
            if out.returncode != 0:
                results[name] = {"error": out.stderr.strip().splitlines()[-1][:100]}
                continue
            for variant, ms in json.loads(out.stdout.splitlines()[-1]).items():
                results[name].setdefault(variant, []).append(ms)  # [wall, cpu]
    for name, per_variant in results.items():
        print(f"\n{name}:")
        if "error" in per_variant:
            print(f"  fails: {per_variant['error']}")
            continue
        for variant, values in per_variant.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            print(f"  {variant:44s}{wall:8.3f} ms wall {cpu:8.3f} ms CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--flags", action="store_true", help="XLA_FLAGS variants")
    parser.add_argument("--no-ops", action="store_true", help="skip part 2")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        times = whole_step(1, args.steps)
        print(json.dumps({k: [v[0], CPU_MS[k][-1]] for k, v in times.items()}))
        return
    print(f"jax {jax.__version__}, {os.cpu_count()} cores, load {loadavg()}")
    if args.flags:
        flags(args.rounds, args.steps)
    else:
        print_times("whole training step, wall", whole_step(args.rounds, args.steps))
        print_times("whole training step, process CPU time (both cores)", CPU_MS)
        if not args.no_ops:
            print_times("each operation alone, wall", operations(args.rounds))
            print_times("each operation alone, process CPU time", OP_CPU_MS)
    print(f"\nload after: {loadavg()}")


if __name__ == "__main__":
    main()
