"""W3 of issue 10: canned estimators on 1M Parquet rows against a hand-written pyarrow + JAX loop.

The workload, end to end (read + transform + train one epoch, rows/s):

- data: `census_data.py`'s seeded table, 1,000,000 rows (`--rows` for a quick
  run) in 65,536-row groups: 10 numeric columns and 5 string columns whose
  vocabularies hold 10, 100, 1,000, 5,000 and 10,000 values, and a 0/1 label;
- `LinearClassifier`: the 10 `numeric_column`s (`normalizer="zscore"`, mean and
  std learnt by `fc.analyze` before timing) and 5
  `categorical_column_with_vocabulary_list`s (each key's whole vocabulary);
- `DNNClassifier([128, 64])`: the same numeric columns and an
  `embedding_column(dimension=8)` of each vocabulary column;
- Adagrad, learning rate 0.1 (tf's: accumulators from 0.1, epsilon 1e-7),
  batch 1,024, one epoch.

Three contenders, interleaved round by round in one process:

- ours: the canned estimator with a default `RunConfig`, fed
  `Dataset.from_parquet(folder, label="label").batch(1024)` (what a ported
  program does; the estimator transforms the features itself);
- ours, transform per block: the canned model_fn in a plain `Estimator` fed
  `Dataset.from_parquet(...).map_blocks(fc.transform).batch(1024)` (`.map`
  before `.batch` where `map_blocks` is missing): the feature columns applied
  once per Parquet record batch instead of once per batch;
- hand: `pq.ParquetFile(..., read_dictionary=<the 5 string columns>)` read
  group by group; per group and column, `pc.index_in(dictionary,
  value_set=vocabulary)` once and a `take` with the indices; numeric columns
  z-scored in numpy; 1,024-row batches cut (rows carried over group ends) and
  one jitted, donated step each (the last batch padded, with a mask).

Compilation is excluded on every side: each trains first on a prefix, untimed.
Each of our timed epochs starts from the first row (one untimed step on a list
input clears the input position the previous epoch saved). The machine's load
average is printed with the table: on a shared machine only the ratios
measured in the same round mean much.

`--memory` prints instead the peak RSS (each in a child process) of a read +
transform epoch and of a LinearClassifier epoch at 1M and at 10M rows.

    python bench/bench_census.py                    # 1M rows, 3 rounds
    python bench/bench_census.py --rows 100000 --repeats 2   # quick
    python bench/bench_census.py --memory
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))  # run from anywhere

from bench_data import ensure_table  # noqa: E402
from census_data import CATEGORICAL, LABEL, NUMERIC, vocabulary  # noqa: E402

import estimators as est  # noqa: E402
from estimators import canned  # noqa: E402
from estimators import feature_column as fc  # noqa: E402
from estimators.canned.dnn import dnn_model_fn  # noqa: E402
from estimators.canned.linear import linear_model_fn  # noqa: E402
from estimators.data import Dataset  # noqa: E402

BATCH = 1024
HIDDEN = (128, 64)
EMBEDDING_DIM = 8
LEARNING_RATE = 0.1
KEYS = list(CATEGORICAL)
WARM_BATCHES = 16


def adagrad() -> optax.GradientTransformation:
    """Adagrad 0.1 as tf (and `est.canned`'s "Adagrad") define it."""
    return optax.adagrad(LEARNING_RATE, initial_accumulator_value=0.1, eps=1e-7)


# -- columns -----------------------------------------------------------------------


def build_columns(folder: Path) -> tuple[list[Any], list[Any]]:
    """(numeric, vocabulary) columns, frozen: z-scores learnt from the first file."""
    first = sorted(folder.glob("*.parquet"))[0]
    open_numeric = [fc.numeric_column(k, normalizer="zscore") for k in NUMERIC]
    numeric = fc.analyze(
        Dataset.from_parquet(first, columns=NUMERIC).batch(65_536), open_numeric
    )
    categorical = [
        fc.categorical_column_with_vocabulary_list(k, vocabulary(k)) for k in KEYS
    ]
    return list(numeric), categorical


def model_columns(kind: str, numeric: list[Any], categorical: list[Any]) -> list[Any]:
    if kind == "linear":
        return numeric + categorical
    return numeric + [fc.embedding_column(c, EMBEDDING_DIM) for c in categorical]


# -- the hand-written loop ---------------------------------------------------------


class HandLoop:
    """pyarrow + JAX written directly: dictionaries looked up once per group."""

    def __init__(self, kind: str, numeric: list[Any]) -> None:
        self.vocabularies = {k: pa.array(vocabulary(k), pa.string()) for k in KEYS}
        self.mean = np.array([c.mean[0] for c in numeric], np.float32)
        self.std = np.array([c.std[0] for c in numeric], np.float32)
        params, self.logits = (linear if kind == "linear" else dnn)()
        optimizer = adagrad()
        self.state = (params, optimizer.init(params))
        logits = self.logits

        @partial(jax.jit, donate_argnums=0)
        def step(state: Any, ids: Any, numeric: Any, labels: Any, mask: Any) -> Any:
            params, opt_state = state

            def loss_fn(p: Any) -> Any:
                losses = optax.sigmoid_binary_cross_entropy(
                    logits(p, ids, numeric)[:, 0], labels
                )
                return (losses * mask).sum() / mask.sum()

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        self.step = step

    def transform(self, group: pa.RecordBatch) -> tuple[np.ndarray, ...]:
        """`(ids int32 [n, 5], numeric float32 [n, 10], labels float32 [n])`."""
        ids = []
        for key in KEYS:
            column = group.column(key)  # a DictionaryArray: the group's dictionary
            found = pc.index_in(column.dictionary, value_set=self.vocabularies[key])
            ids.append(found.fill_null(-1).take(column.indices).to_numpy())
        numeric = np.stack([group.column(k).to_numpy() for k in NUMERIC], axis=1)
        numeric = (numeric.astype(np.float32) - self.mean) / self.std
        labels = group.column(LABEL).to_numpy().astype(np.float32)
        return np.stack(ids, axis=1).astype(np.int32), numeric, labels

    def batches(self, folder: Path, limit: int) -> Iterator[tuple[np.ndarray, ...]]:
        """1,024-row batches of transformed groups, rows carried over group ends."""
        carry: list[tuple[np.ndarray, ...]] = []
        left = limit
        for path in sorted(folder.glob("*.parquet")):
            parquet = pq.ParquetFile(path, read_dictionary=KEYS)
            for group in parquet.iter_batches(65_536, columns=NUMERIC + KEYS + [LABEL]):
                group = group.slice(0, left)
                left -= group.num_rows
                parts = self.transform(group)
                if carry:  # the rows left over from the previous group first
                    parts = tuple(
                        np.concatenate([c, p])
                        for c, p in zip(carry[0], parts, strict=True)
                    )
                    carry = []
                rows = len(parts[2])
                full = rows - rows % BATCH
                for start in range(0, full, BATCH):
                    yield tuple(p[start : start + BATCH] for p in parts)
                if full < rows:
                    carry = [tuple(p[full:] for p in parts)]
                if not left:
                    break
            if not left:
                break
        if carry:
            yield carry[0]

    def epoch(self, folder: Path, limit: int) -> int:
        """Trains one pass over the first `limit` rows; returns the rows seen."""
        rows, loss = 0, None
        for ids, numeric, labels in self.batches(folder, limit):
            n = len(labels)
            rows += n
            mask = np.ones(BATCH, np.float32)
            if n < BATCH:  # the last batch, padded to the compiled shape
                ids, numeric, labels = (
                    _pad(a, BATCH - n) for a in (ids, numeric, labels)
                )
                mask[n:] = 0.0
            self.state, loss = self.step(self.state, ids, numeric, labels, mask)
        jax.block_until_ready((self.state, loss))
        return rows


def _pad(array: np.ndarray, rows: int) -> np.ndarray:
    return np.pad(array, [(0, rows)] + [(0, 0)] * (array.ndim - 1))


def linear() -> tuple[Any, Callable[..., Any]]:
    params = {
        "tables": [jnp.zeros((size, 1)) for size in CATEGORICAL.values()],
        "kernel": jnp.zeros((len(NUMERIC), 1)),
        "bias": jnp.zeros((1,)),
    }

    def logits(p: Any, ids: Any, numeric: Any) -> Any:
        sparse = sum(t[ids[:, i]] for i, t in enumerate(p["tables"]))
        return sparse + numeric @ p["kernel"] + p["bias"]

    return params, logits


def dnn() -> tuple[Any, Callable[..., Any]]:
    keys = iter(jax.random.split(jax.random.key(0), 8))
    normal = jax.nn.initializers.truncated_normal(1 / math.sqrt(EMBEDDING_DIM))
    glorot = jax.nn.initializers.glorot_uniform()
    width = len(KEYS) * EMBEDDING_DIM + len(NUMERIC)
    sizes = (width, *HIDDEN, 1)
    params = {
        "tables": [
            normal(next(keys), (n, EMBEDDING_DIM)) for n in CATEGORICAL.values()
        ],
        "dense": [
            (glorot(next(keys), (a, b)), jnp.zeros(b))
            for a, b in zip(sizes, sizes[1:], strict=False)
        ],
    }

    def logits(p: Any, ids: Any, numeric: Any) -> Any:
        embedded = [t[ids[:, i]] for i, t in enumerate(p["tables"])]
        net = jnp.concatenate([*embedded, numeric], axis=1)
        for i, (kernel, bias) in enumerate(p["dense"]):
            net = net @ kernel + bias
            if i < len(HIDDEN):
                net = jax.nn.relu(net)
        return net

    return params, logits


# -- ours --------------------------------------------------------------------------


def canned_estimator(kind: str, columns: list[Any]) -> est.Estimator:
    """The canned estimator, default RunConfig, model_dir in a temp folder."""
    model_dir = tempfile.mkdtemp(prefix=f"bench-census-{kind}-")
    if kind == "linear":
        return canned.LinearClassifier(columns, model_dir, optimizer=adagrad())
    return canned.DNNClassifier(list(HIDDEN), columns, model_dir, optimizer=adagrad())


def block_estimator(kind: str, columns: list[Any]) -> est.Estimator:
    """The canned model_fn in a plain Estimator, for pre-transformed input."""
    head = est.heads.BinaryClassHead()

    def model_fn(features: Any, labels: Any, mode: Any) -> Any:
        if kind == "linear":
            return linear_model_fn(
                features,
                labels,
                mode,
                head=head,
                feature_columns=columns,
                optimizer=adagrad(),
            )
        return dnn_model_fn(
            features,
            labels,
            mode,
            head=head,
            hidden_units=HIDDEN,
            feature_columns=columns,
            optimizer=adagrad(),
        )

    return est.Estimator(
        model_fn,
        tempfile.mkdtemp(prefix=f"bench-census-{kind}-block-"),
        label_transform=head.transform_labels,
    )


def parquet(folder: Path, rows: int, columns: list[Any] | None = None) -> Dataset:
    """`from_parquet(...).batch(1024)`; with `columns`, transformed per block."""
    dataset = Dataset.from_parquet(folder, label=LABEL)
    if rows < _table_rows(folder):
        dataset = dataset.take(rows)
    if columns is not None:
        if hasattr(dataset, "map_blocks"):
            dataset = dataset.map_blocks(lambda f: fc.transform(f, columns))
        else:  # before batch(), `map` also runs on whole blocks
            dataset = dataset.map(lambda f, y: (fc.transform(f, columns), y))
    return dataset.batch(BATCH)


def _table_rows(folder: Path) -> int:
    return sum(pq.read_metadata(f).num_rows for f in folder.glob("*.parquet"))


class Ours:
    """One of our contenders: trains epochs through `Estimator.train`."""

    def __init__(self, estimator: est.Estimator, columns: list[Any] | None) -> None:
        self.estimator = estimator
        self.columns = columns  # None: the estimator transforms each batch
        self.prefix: list[Any] = []

    def warm(self, folder: Path, rows: int) -> None:
        """Compiles what an epoch runs (untimed): one epoch of the Dataset, then a
        prefix given as a list (what `rewind` trains on)."""
        self.estimator.train(lambda: parquet(folder, rows, self.columns))
        self.prefix = list(parquet(folder, WARM_BATCHES * BATCH, self.columns))
        self.estimator.train(lambda: self.prefix)

    def rewind(self) -> None:
        """One step on a list input: the next epoch starts at the first row."""
        self.estimator.train(lambda: self.prefix[:1])

    def epoch(self, folder: Path, rows: int) -> int:
        """Trains one epoch of `rows` rows; returns the rows it trained on."""
        before = _global_step(self.estimator)
        self.estimator.train(lambda: parquet(folder, rows, self.columns))
        steps = _global_step(self.estimator) - before
        return rows if steps == math.ceil(rows / BATCH) else steps * BATCH


def _global_step(estimator: est.Estimator) -> int:
    latest = estimator.latest_checkpoint()
    return int(latest.rstrip("/").rsplit("-", 1)[1]) if latest else 0


# -- measuring ---------------------------------------------------------------------


def measure(
    contenders: dict[str, tuple[Callable[[], int], Callable[[], Any]]],
    rows: int,
    repeats: int,
) -> dict[str, list[float]]:
    """rows/s of each `(epoch, setup)` contender, in turn, `repeats` rounds."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (epoch, setup) in contenders.items():
            setup()
            start = time.perf_counter()
            seen = epoch()
            seconds = time.perf_counter() - start
            if seen != rows:
                raise SystemExit(f"{name}: trained on {seen:,} rows, not {rows:,}")
            rates[name].append(rows / seconds)
    return rates


def main_child(args: argparse.Namespace, folder: Path) -> None:
    """One epoch in this (child) process; prints a JSON line with its peak RSS."""
    numeric, categorical = build_columns(folder)
    rows = args.rows
    columns = model_columns("linear", numeric, categorical)
    if args.child == "transform":
        start = time.perf_counter()
        seen = sum(len(y) for _, y in parquet(folder, rows, columns))
    else:
        ours = Ours(canned_estimator("linear", columns), None)
        ours.warm(folder, rows)
        ours.rewind()
        start = time.perf_counter()
        seen = ours.epoch(folder, rows)
    seconds = time.perf_counter() - start
    if seen != rows:
        raise SystemExit(f"the epoch saw {seen:,} rows, not {rows:,}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mib": peak}))


def main_memory() -> None:
    sizes = (1_000_000, 10_000_000)
    print(f"{'epoch':26s}{'rows':>12s}{'rows/s':>11s}{'peak RSS MiB':>14s}")
    for kind in ("transform", "linear"):
        peaks = []
        for rows in sizes:
            folder = HERE / "out" / f"census-{rows}"
            ensure_table(rows, folder)
            command = [sys.executable, __file__, "--child", kind, "--rows", str(rows)]
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            peaks.append(result["peak_rss_mib"])
            name = (
                "read+transform per block"
                if kind == "transform"
                else "LinearClassifier"
            )
            print(
                f"{name:26s}{rows:12,d}{rows / result['seconds']:11,.0f}"
                f"{result['peak_rss_mib']:14,.0f}"
            )
        print(f"  peak 10M / 1M: {peaks[1] / peaks[0]:.2f}x (target <= 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--data", default=None, help="folder (default bench/out/census-ROWS)"
    )
    parser.add_argument(
        "--models", default="linear,dnn", help="comma-separated: linear,dnn"
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="peak RSS of 1M- and 10M-row epochs, in child processes",
    )
    parser.add_argument(
        "--child", choices=("transform", "linear"), help=argparse.SUPPRESS
    )
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args()
    logging.getLogger("estimators").setLevel(logging.WARNING)
    rows = args.rows
    folder = Path(args.data) if args.data else HERE / "out" / f"census-{rows}"
    if args.memory:
        return main_memory()
    if args.child:
        return main_child(args, folder)
    ensure_table(rows, folder)
    numeric, categorical = build_columns(folder)
    print(
        f"W3: {rows:,} Parquet rows, batch {BATCH}, one epoch, Adagrad "
        f"{LEARNING_RATE}; jax {jax.__version__} ({jax.devices()[0].platform}), "
        f"{os.cpu_count()} cores, load average {_load()} at the start"
    )
    warm_rows = min(rows, WARM_BATCHES * BATCH + rows % BATCH)
    table = []
    for kind in args.models.split(","):
        columns = model_columns(kind, numeric, categorical)
        hand = HandLoop(kind, numeric)
        default = Ours(canned_estimator(kind, columns), None)
        block = Ours(block_estimator(kind, columns), columns)
        hand.epoch(folder, warm_rows)
        default.warm(folder, rows)
        block.warm(folder, rows)
        rates = measure(
            {
                "hand": (lambda h=hand: h.epoch(folder, rows), lambda: None),
                "ours": (lambda o=default: o.epoch(folder, rows), default.rewind),
                "block": (lambda o=block: o.epoch(folder, rows), block.rewind),
            },
            rows,
            args.repeats,
        )
        table.append((kind, rates))
    print_table(table, args.repeats)
    if args.json:
        write_rows(table, rows, args.json)


def write_rows(
    table: list[tuple[str, dict[str, list[float]]]], rows: int, path: str
) -> None:
    """The table as `_harness.Row`s (best rate of each side) for run_all.py."""
    from _harness import Row, report

    names = {"linear": "LinearClassifier", "dnn": "DNNClassifier [128, 64]"}
    out = []
    for kind, rates in table:
        for side, label in (("ours", "canned, as ported"), ("block", "map_blocks")):
            out.append(
                Row(
                    f"W3 {rows:,} Parquet rows, {names[kind]}, {label}, one epoch",
                    max(rates[side]),
                    max(rates["hand"]),
                    "rows/s",
                    target=">= 0.9x" if side == "ours" else "",
                )
            )
    report("W3 (rows for run_all.py)", out, {}, path)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def print_table(table: list[tuple[str, dict[str, list[float]]]], repeats: int) -> None:
    """Best rate of each side, and the median of the ratios within a round
    (the two sides ran back to back there, so under a shifting load the
    median ratio is the steadier figure)."""
    names = {
        "linear": "LinearClassifier, 10 numeric + 5 vocabulary",
        "dnn": "DNNClassifier [128, 64], 5 embedding(8)",
    }
    print(
        f"\n{'rows/s, best of ' + str(repeats):46s}{'hand':>11s}{'ours':>10s}"
        f"{'per block':>11s}   ratio to hand: ours | per block (median per round)"
    )
    for kind, rates in table:
        best = {k: max(v) for k, v in rates.items()}
        ratios = [
            f"{np.median(np.array(rates[k]) / np.array(rates['hand'])):.2f}"
            for k in ("ours", "block")
        ]
        print(
            f"{names[kind]:46s}{best['hand']:11,.0f}{best['ours']:10,.0f}"
            f"{best['block']:11,.0f}   {ratios[0]} | {ratios[1]}"
        )
    print(
        "ours: the canned estimator as a ported program runs it (default RunConfig); "
        "per block: fc.transform once per Parquet record batch (map_blocks). "
        f"Target: ours >= 0.9x hand. Load average at the end {_load()}."
    )


if __name__ == "__main__":
    main()
