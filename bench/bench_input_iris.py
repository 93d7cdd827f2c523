"""Batches/s of the Iris input pipeline: `next()` (with every stage run on the
columns, and in index mode), `next_stacked(k)`, and a hand-written numpy loop
(one permutation per pass, one gather per column).

The tf program's input_fn is
`Dataset.from_tensor_slices((features, labels)).shuffle(1000).repeat().batch(100)`
over 120 rows of 4 float32 features. The three producers are timed in
interleaved rounds in this one process (the machine is shared: compare the
ratios, not the absolute rates).

    python bench/bench_input_iris.py --rounds 5 --batches 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))  # run from anywhere

from estimators.data import Dataset  # noqa: E402

ROWS, BATCH = 120, 100


def iris_like() -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 4)).astype(np.float32)
    names = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth"]
    return {n: x[:, i].copy() for i, n in enumerate(names)}, np.arange(ROWS) % 3


def pipeline() -> Dataset:
    features, labels = iris_like()
    return (
        Dataset.from_tensor_slices((features, labels))
        .shuffle(1000)
        .repeat()
        .batch(BATCH)
    )


def by_next(batches: int) -> None:
    it = iter(pipeline())
    for _ in range(batches):
        next(it)


def by_next_on_the_data(batches: int) -> None:
    """next() with every stage run on the columns (index mode off)."""
    it = iter(pipeline())
    it._plan = None
    for _ in range(batches):
        next(it)


def by_stacked(k: int) -> Callable[[int], None]:
    def run(batches: int) -> None:
        it = iter(pipeline())
        done = 0
        while done < batches:
            features, _ = it.next_stacked(min(k, batches - done))
            done += len(features["SepalLength"])

    return run


def hand_written(k: int) -> Callable[[int], None]:
    """What one writes by hand: permutations of the rows, then one gather."""

    def run(batches: int) -> None:
        features, labels = iris_like()
        columns = [*features.values(), labels]
        rng = np.random.default_rng(0)
        pending = np.empty(0, np.int64)
        done = 0
        while done < batches:
            count = min(k, batches - done)
            need = count * BATCH
            parts = [pending]
            have = len(pending)
            while have < need:
                parts.append(rng.permutation(ROWS))
                have += ROWS
            order = np.concatenate(parts)
            rows, pending = order[:need], order[need:]
            _ = [np.take(c, rows, axis=0).reshape(count, BATCH) for c in columns]
            done += count

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=20000)
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    producers = {
        "next(), stages on the columns": by_next_on_the_data,
        "next(), index mode": by_next,
        f"next_stacked({args.k})": by_stacked(args.k),
        f"hand-written numpy, {args.k} batches per call": hand_written(args.k),
    }
    times: dict[str, list[float]] = {name: [] for name in producers}
    for _ in range(args.rounds):
        for name, run in producers.items():
            start = time.perf_counter()
            run(args.batches)
            times[name].append(time.perf_counter() - start)
    hand = statistics.median(times[list(producers)[-1]])
    print(f"{'producer':46} {'batches/s':>12} {'vs hand':>8}")
    for name, spent in times.items():
        median = statistics.median(spent)
        print(f"{name:46} {args.batches / median:12,.0f} {hand / median:8.2f}")


if __name__ == "__main__":
    main()
