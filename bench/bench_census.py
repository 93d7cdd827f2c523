"""Census-like Parquet: read + transform + batch, and training epochs, against hand-written loops.

One process, one table (generated under bench/out/ when missing), batches of
1,024 rows; each measurement alternates our pipeline with a minimal hand-written
pyarrow + numpy (+ JAX) loop doing the same work, `--repeats` times, and prints
the best rate of each side and the spread (the machine is shared).

Columns (frozen before timing): the 10 numeric columns with `normalizer="zscore"`
(mean/std learnt by `fc.analyze` over the first file); vocabulary lists with OOV
buckets for workclass, occupation, city and employer (90% of each vocabulary is
kept, so the OOV hashing path runs too); zipcode hashed into 1,000 buckets (a
hashed and a vocabulary column on one key would both be named `zipcode`); the
cross workclass x occupation (1,000 buckets); age bucketized at 9 boundaries.

1. read + transform + batch: `Dataset.from_parquet(...).batch(1024)` then
   `fc.transform` on each batch (what the Estimator does), against
   `ParquetFile.iter_batches(1024)` + `pc.index_in` + numpy on each batch; and
   (*) both sides transforming whole 65,536-row groups before cutting batches
   (ours: `.map(fc.transform)` before `.batch()`, valid since it is row-wise).
2. one epoch of `LinearClassifier` (all columns; categorical ones as sparse
   weights, FTRL) and of `DNNClassifier([64, 32])` (embedding_column(dimension=8)
   over the 7 categorical columns + the numeric ones, Adagrad), through
   `Estimator.train`, against a jitted `lax.scan` over stacked batches with the
   same model, loss and optimizer fed by the hand-written transform; and (**)
   both with the transform on row groups (ours: the canned model_fn in a plain
   Estimator fed `Dataset.map(fc.transform).batch()`, since a canned estimator
   transforms each batch itself). Compilation is excluded on both sides the same
   way: each model first trains on a prefix of the table with the epoch's group
   shapes (one group of `steps_per_execution` batches plus the epoch's tail),
   untimed; then whole epochs are timed, reading included, until the last
   step's result is ready (ours: `train()` returned, final checkpoint written).
   Before each of our epochs one untimed step on a list input clears the saved
   input position (else `train()` resumes the finished Dataset and reads nothing).
3. `--memory`: peak RSS (`getrusage` in a child process) of a read + transform
   epoch and of a LinearClassifier epoch at 1M and at 10M rows.

    python bench/bench_census.py [--rows 1000000] [--repeats 3]
    python bench/bench_census.py --memory
"""

from __future__ import annotations

import argparse
import dataclasses
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
from census_data import CATEGORICAL, LABEL, NUMERIC  # noqa: E402

import estimators as est  # noqa: E402
from estimators import canned  # noqa: E402
from estimators import feature_column as fc  # noqa: E402
from estimators.canned.dnn import dnn_model_fn  # noqa: E402
from estimators.canned.linear import linear_model_fn  # noqa: E402
from estimators.canned.optimizers import get_optimizer  # noqa: E402
from estimators.data import Dataset  # noqa: E402

BATCH = 1024
VOCAB_KEEP = 0.9
VOCAB_KEYS = ["workclass", "occupation", "city", "employer"]
HASH_KEY, HASH_BUCKETS = "zipcode", 1_000
CROSS_KEYS, CROSS_BUCKETS = ("workclass", "occupation"), 1_000
AGE_BOUNDARIES = (25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0)
HIDDEN = (64, 32)
EMBEDDING_DIM = 8
DNN_LEARNING_RATE = 0.05


# -- columns -----------------------------------------------------------------------


def vocabulary(key: str) -> list[str]:
    """The first 90% of the generator's values (the most frequent ones)."""
    size = CATEGORICAL[key]
    return [f"{key}_{i:05d}" for i in range(math.ceil(size * VOCAB_KEEP))]


def oov_buckets(key: str) -> int:
    return max(1, CATEGORICAL[key] // 100)


@dataclasses.dataclass
class Columns:
    numeric: list[Any]
    categorical: list[Any]

    @property
    def linear(self) -> list[Any]:
        return self.numeric + self.categorical

    @property
    def dnn(self) -> list[Any]:
        return self.numeric + [
            fc.embedding_column(c, dimension=EMBEDDING_DIM) for c in self.categorical
        ]

    @property
    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        mean = np.array([c.mean[0] for c in self.numeric], np.float32)
        std = np.array([c.std[0] for c in self.numeric], np.float32)
        return mean, std


def build_columns(folder: Path) -> Columns:
    """Frozen columns; z-score statistics from `fc.analyze` over the first file."""
    first = sorted(folder.glob("*.parquet"))[0]
    open_numeric = [fc.numeric_column(k, normalizer="zscore") for k in NUMERIC]
    numeric = fc.analyze(
        Dataset.from_parquet(first, columns=NUMERIC).batch(65_536), open_numeric
    )
    categorical = [
        *(
            fc.categorical_column_with_vocabulary_list(
                k, vocabulary(k), num_oov_buckets=oov_buckets(k)
            )
            for k in VOCAB_KEYS
        ),
        fc.categorical_column_with_hash_bucket(HASH_KEY, HASH_BUCKETS),
        fc.crossed_column(list(CROSS_KEYS), CROSS_BUCKETS),
        fc.bucketized_column(fc.numeric_column("age"), list(AGE_BOUNDARIES)),
    ]
    return Columns(list(numeric), categorical)


# -- the hand-written host side ----------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_POWERS = np.cumprod(np.full(256, 0x100000001B3, np.uint64), dtype=np.uint64)


def _fmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _poly_hash(array: pa.Array) -> np.ndarray:
    """uint64 hash of each string: a polynomial over its bytes (one [n, longest]
    matrix), mixed. Short strings only (<= 256 bytes), which is all this table has."""
    if pa.types.is_string(array.type):
        offset_type: Any = np.int32
    else:
        array, offset_type = array.cast(pa.large_string()), np.int64
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, offset_type)[
        array.offset : array.offset + len(array) + 1
    ]
    data = np.frombuffer(data_buf, np.uint8) if data_buf else np.zeros(1, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    width = int(lengths.max()) if len(lengths) else 0
    position = np.arange(width)
    inside = position < lengths[:, None]
    index = np.minimum(starts[:, None] + position, len(data) - 1)
    matrix = np.where(inside, data[index], 0).astype(np.uint64)
    h = (matrix * _POWERS[:width]).sum(axis=1, dtype=np.uint64)
    return _fmix(h ^ lengths.astype(np.uint64))


def hand_hash(array: pa.Array) -> np.ndarray:
    """`_poly_hash` of each distinct value, spread back over the rows."""
    encoded = pc.dictionary_encode(array)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    return _poly_hash(encoded.dictionary)[indices]


class HandTransform:
    """What `fc.transform` does for these columns, written directly.

    Returns `(ids int32 [B, 7], numeric float32 [B, 10])`: the ids of each
    categorical column are offset into one concatenated table (a hand-written
    model needs only one gather), numerics z-scored.
    """

    def __init__(self, columns: Columns) -> None:
        self.mean, self.std = columns.stats
        self.value_sets = {k: pa.array(vocabulary(k), pa.string()) for k in VOCAB_KEYS}
        sizes = [len(vocabulary(k)) + oov_buckets(k) for k in VOCAB_KEYS]
        sizes += [HASH_BUCKETS, CROSS_BUCKETS, len(AGE_BOUNDARIES) + 1]
        self.sizes = sizes
        self.offsets = np.cumsum([0, *sizes[:-1]]).astype(np.int32)
        self.total = int(sum(sizes))
        self.boundaries = np.array(AGE_BOUNDARIES)

    def __call__(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        ids, hashes = [], {}
        for key in VOCAB_KEYS:
            values = batch.column(key)
            hashes[key] = hand_hash(values)
            found = pc.index_in(values, value_set=self.value_sets[key])
            found = found.fill_null(-1).to_numpy(zero_copy_only=False)
            size = len(self.value_sets[key])
            oov = size + (hashes[key] % np.uint64(oov_buckets(key))).astype(np.int64)
            ids.append(np.where(found >= 0, found, oov))
        ids.append(hand_hash(batch.column(HASH_KEY)) % np.uint64(HASH_BUCKETS))
        a, b = (hashes[k] for k in CROSS_KEYS)
        ids.append(_fmix((a * _GOLDEN) ^ b) % np.uint64(CROSS_BUCKETS))
        age = batch.column("age").to_numpy()
        ids.append(np.searchsorted(self.boundaries, age, side="right"))
        matrix = np.stack(ids, axis=1).astype(np.int32) + self.offsets
        numeric = np.stack(
            [batch.column(k).to_numpy().astype(np.float32) for k in NUMERIC], axis=1
        )
        return matrix, (numeric - self.mean) / self.std


def check_hand_transform(folder: Path, columns: Columns, hand: HandTransform) -> None:
    """The hand-written transform gives the same ids as `fc.transform` where both
    define them (vocabulary and bucket ids; OOV, hash and cross ids use another
    hash, so only their ranges and which rows are OOV are compared)."""
    first = sorted(folder.glob("*.parquet"))[0]
    batch = next(pq.ParquetFile(first).iter_batches(BATCH))
    ids = hand(batch)[0] - hand.offsets
    features = {name: batch.column(name) for name in batch.schema.names}
    ours = fc.transform(features, columns.categorical)
    for i, column in enumerate(columns.categorical):
        theirs, mine = ours[column.name][:, 0], ids[:, i]
        ok = bool((mine >= 0).all() and (mine < hand.sizes[i]).all())
        if isinstance(column, fc.BucketizedColumn):
            ok &= np.array_equal(theirs, mine)
        elif isinstance(column, fc.VocabularyListColumn):
            known = theirs < len(column.vocabulary_list)
            ok &= np.array_equal(known, mine < len(column.vocabulary_list))
            ok &= np.array_equal(theirs[known], mine[known]) and bool(known.any())
        if not ok:
            raise SystemExit(f"the hand-written transform differs on '{column.name}'")


def hand_batches(
    folder: Path,
    transform: HandTransform,
    limit: int | None = None,
    block: int = BATCH,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`(ids, numeric, labels)` of each 1,024-row batch, from `iter_batches`.

    With `block` > 1,024, reads and transforms `block` rows at a time and then
    cuts 1,024-row batches (the files hold multiples of `block` rows, so the
    batches are the same).
    """
    wanted = [*NUMERIC, *CATEGORICAL, LABEL]
    left = math.inf if limit is None else limit
    for path in sorted(folder.glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(block, columns=wanted):
            if batch.num_rows > left:
                batch = batch.slice(0, int(left))
            if not batch.num_rows:
                return
            left -= batch.num_rows
            ids, numeric = transform(batch)
            labels = batch.column(LABEL).to_numpy().astype(np.float32)
            for i in range(0, batch.num_rows, BATCH):
                cut = slice(i, i + BATCH)
                yield ids[cut], numeric[cut], labels[cut]


# -- 1. read + transform + batch ---------------------------------------------------


def ours_batch_then_transform(folder: Path, columns: list[Any]) -> int:
    rows = 0
    for features, labels in Dataset.from_parquet(folder, label=LABEL).batch(BATCH):
        fc.transform(features, columns)
        rows += len(labels)
    return rows


def ours_transform_then_batch(folder: Path, columns: list[Any]) -> int:
    dataset = Dataset.from_parquet(folder, label=LABEL).map(
        lambda features, labels: (fc.transform(features, columns), labels)
    )
    return sum(len(labels) for _, labels in dataset.batch(BATCH))


def hand_read_transform(
    folder: Path, transform: HandTransform, block: int = BATCH
) -> int:
    return sum(len(y) for _, _, y in hand_batches(folder, transform, block=block))


# -- 2. training epochs: the hand-written side --------------------------------------


def _bce(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
    losses = optax.sigmoid_binary_cross_entropy(logits, labels)
    return (losses * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def ftrl(learning_rate: float) -> optax.GradientTransformation:
    """tf's FTRL (l1 = l2 = 0, accumulators from 0.1), the canned linear default."""

    def init(params: Any) -> Any:
        return (
            jax.tree.map(lambda p: jnp.full_like(p, 0.1), params),
            jax.tree.map(jnp.zeros_like, params),
        )

    def update(grads: Any, state: Any, params: Any) -> Any:
        def leaf(g: Any, n: Any, z: Any, w: Any) -> Any:
            n_new = n + g * g
            z_new = z + g - (jnp.sqrt(n_new) - jnp.sqrt(n)) / learning_rate * w
            return -z_new * learning_rate / jnp.sqrt(n_new) - w, n_new, z_new

        out = jax.tree.map(leaf, grads, state[0], state[1], params)
        pick = lambda i: jax.tree.map(  # noqa: E731
            lambda t: t[i], out, is_leaf=lambda t: isinstance(t, tuple)
        )
        return pick(0), (pick(1), pick(2))

    return optax.GradientTransformation(init, update)


def linear_model(total: int) -> tuple[Any, Callable[..., Any], Any]:
    params = {
        "table": jnp.zeros((total, 1)),
        "kernel": jnp.zeros((len(NUMERIC), 1)),
        "bias": jnp.zeros((1,)),
    }

    def logits(p: Any, ids: Any, numeric: Any) -> Any:
        return p["table"][ids].sum(axis=1) + numeric @ p["kernel"] + p["bias"]

    optimizer = ftrl(min(0.2, 1 / math.sqrt(len(NUMERIC) + 7)))  # the canned default
    return params, logits, optimizer


def dnn_model(total: int) -> tuple[Any, Callable[..., Any], Any]:
    keys = jax.random.split(jax.random.key(0), 4)
    glorot = jax.nn.initializers.glorot_uniform()
    width = 7 * EMBEDDING_DIM + len(NUMERIC)
    params = {
        "table": jax.nn.initializers.truncated_normal(1 / math.sqrt(EMBEDDING_DIM))(
            keys[0], (total, EMBEDDING_DIM)
        ),
        "dense": [
            (glorot(k, (a, b)), jnp.zeros(b))
            for k, a, b in zip(keys[1:], (width, *HIDDEN), (*HIDDEN, 1), strict=True)
        ],
    }

    def logits(p: Any, ids: Any, numeric: Any) -> Any:
        embedded = p["table"][ids].reshape(ids.shape[0], -1)
        net = jnp.concatenate([embedded, numeric], axis=1)
        for i, (kernel, bias) in enumerate(p["dense"]):
            net = net @ kernel + bias
            if i < len(HIDDEN):
                net = jax.nn.relu(net)
        return net

    optimizer = optax.adagrad(
        DNN_LEARNING_RATE, initial_accumulator_value=0.1, eps=1e-7
    )
    return params, logits, optimizer


class HandTrainer:
    """Groups of `steps_per_execution` stacked batches, one jitted `lax.scan` each."""

    def __init__(
        self,
        make_model: Callable[[int], Any],
        transform: HandTransform,
        steps_per_execution: int,
    ) -> None:
        params, logits, optimizer = make_model(transform.total)
        self.transform = transform
        self.per_call = steps_per_execution
        self.state = (params, optimizer.init(params))

        def step(state: Any, batch: Any) -> Any:
            params, opt_state = state
            ids, numeric, labels, mask = batch

            def loss_fn(p: Any) -> Any:
                return _bce(logits(p, ids, numeric)[:, 0], labels, mask)

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        self.run = jax.jit(lambda state, batches: jax.lax.scan(step, state, batches))

    def epoch(self, folder: Path, limit: int | None = None, block: int = BATCH) -> int:
        rows, group, loss = 0, [], None
        batches = hand_batches(folder, self.transform, limit, block)
        for ids, numeric, labels in batches:
            n = len(labels)
            rows += n
            mask = np.ones(BATCH, np.float32)
            if n < BATCH:  # pad the last batch; the mask keeps the loss exact
                ids, numeric, labels = (
                    _pad(a, BATCH - n) for a in (ids, numeric, labels)
                )
                mask[n:] = 0
            group.append((ids, numeric, labels, mask))
            if len(group) == self.per_call:
                self.state, loss = self.run(self.state, _stack(group))
                group = []
        if group:
            self.state, loss = self.run(self.state, _stack(group))
        jax.block_until_ready((self.state, loss))
        return rows


def _pad(array: np.ndarray, rows: int) -> np.ndarray:
    return np.pad(array, [(0, rows)] + [(0, 0)] * (array.ndim - 1))


def _stack(group: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    return tuple(np.stack(parts) for parts in zip(*group, strict=True))


# -- 2. training epochs: ours ------------------------------------------------------


def run_config(steps_per_execution: int) -> est.RunConfig:
    return est.RunConfig(
        steps_per_execution=steps_per_execution,
        save_checkpoints_secs=None,
        save_summary_steps=0,
        log_step_count_steps=None,
    )


def make_estimator(kind: str, columns: Columns, steps_per_execution: int) -> Any:
    model_dir = tempfile.mkdtemp(prefix=f"bench-census-{kind}-")
    config = run_config(steps_per_execution)
    if kind == "linear":
        return canned.LinearClassifier(columns.linear, model_dir, config=config)
    return canned.DNNClassifier(list(HIDDEN), columns.dnn, model_dir, config=config)


def make_pretransformed_estimator(
    kind: str, columns: Columns, steps_per_execution: int
) -> Any:
    """The canned model_fn in a plain Estimator without feature_columns: the
    input is transformed before batching (see `pretransformed_dataset`)."""
    head = est.heads.BinaryClassHead()
    if kind == "linear":
        optimizer = get_optimizer(
            "Ftrl", learning_rate=min(0.2, 1 / math.sqrt(len(columns.linear)))
        )

        def model_fn(features: Any, labels: Any, mode: Any) -> Any:
            return linear_model_fn(
                features,
                labels,
                mode,
                head=head,
                feature_columns=columns.linear,
                optimizer=optimizer,
            )
    else:
        optimizer = get_optimizer("Adagrad", learning_rate=DNN_LEARNING_RATE)

        def model_fn(features: Any, labels: Any, mode: Any) -> Any:
            return dnn_model_fn(
                features,
                labels,
                mode,
                head=head,
                hidden_units=HIDDEN,
                feature_columns=columns.dnn,
                optimizer=optimizer,
            )

    return est.Estimator(
        model_fn,
        tempfile.mkdtemp(prefix=f"bench-census-{kind}-pre-"),
        run_config(steps_per_execution),
        label_transform=head.transform_labels,
    )


def pretransformed_dataset(folder: Path, columns: list[Any]) -> Dataset:
    """`fc.transform` on whole decoded row groups (it is row-wise), then batches."""
    return (
        Dataset.from_parquet(folder, label=LABEL)
        .map(lambda features, labels: (fc.transform(features, columns), labels))
        .batch(BATCH)
    )


def warmup_rows(rows: int, steps_per_execution: int) -> int:
    """One full group plus the epoch's tail: the prefix compiles every shape."""
    group = steps_per_execution * BATCH
    return min(rows, group + rows % group)


def warm_estimator(
    estimator: Any, folder: Path, rows: int, columns: list[Any] | None = None
) -> list[Any]:
    """Trains on a prefix given as a list of raw batches; returns the list.

    A list has no input position, so the checkpoint it leaves makes the next
    `train(dataset)` start from the first row (a `train` after one over the same
    Dataset resumes where that one ended: at the end, with nothing to read).
    """
    dataset = Dataset.from_parquet(folder, label=LABEL).take(rows)
    if columns is not None:  # transformed before batching
        dataset = dataset.map(lambda f, labels: (fc.transform(f, columns), labels))
    prefix = list(dataset.batch(BATCH))
    estimator.train(lambda: prefix)
    return prefix


def rewind(estimator: Any, prefix: list[Any]) -> None:
    """One step on a list input: clears the saved input position (untimed)."""
    estimator.train(lambda: prefix[:1])


def ours_epoch(estimator: Any, folder: Path, columns: list[Any] | None = None) -> int:
    """One epoch; with `columns`, over `pretransformed_dataset`. Returns steps."""
    before = _global_step(estimator)
    if columns is None:
        estimator.train(lambda: Dataset.from_parquet(folder, label=LABEL).batch(BATCH))
    else:
        estimator.train(lambda: pretransformed_dataset(folder, columns))
    return _global_step(estimator) - before


def _global_step(estimator: Any) -> int:
    latest = estimator.latest_checkpoint()
    return int(latest.rstrip("/").rsplit("-", 1)[1]) if latest else 0


# -- measuring ---------------------------------------------------------------------


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


Pair = tuple[str, Callable[[], int], Callable[[], int], Callable[[], Any] | None]


def compare(
    pairs: list[Pair], rows: int, repeats: int, expect: int | None = None
) -> list[dict[str, Any]]:
    """Runs each `(name, hand, ours, setup)` pair in turn, `repeats` rounds.

    `setup` (or None) runs untimed before `ours`. `hand` returns the rows it
    saw, `ours` the rows (or, with `expect`, the training steps). Rates in rows/s.
    """
    results = [{"name": name, "ours": [], "hand": []} for name, *_ in pairs]
    for _ in range(repeats):
        for result, (name, hand, ours, setup) in zip(results, pairs, strict=True):
            seconds, count = timed(hand)
            if count != rows:
                raise SystemExit(f"{name}: hand-written loop saw {count}, not {rows}")
            result["hand"].append(rows / seconds)
            if setup is not None:
                setup()
            seconds, count = timed(ours)
            if count != (rows if expect is None else expect):
                raise SystemExit(f"{name}: saw {count}, expected {expect or rows}")
            result["ours"].append(rows / seconds)
    return results


def _spread(rates: list[float]) -> str:
    return f"{min(rates) / 1e3:,.0f}-{max(rates) / 1e3:,.0f}k"


def print_table(results: list[dict[str, Any]], repeats: int) -> None:
    print(
        f"\n{'':50s}{'ours rows/s':>13s}{'hand rows/s':>13s}{'ratio':>7s}"
        f"   spread ours | hand (best of {repeats})"
    )
    for r in results:
        ours = max(r["ours"])
        hand = max(r["hand"]) if r["hand"] else None
        ratio = f"{ours / hand:7.2f}" if hand else f"{'':7s}"
        hand_text = f"{hand:13,.0f}" if hand else f"{'-':>13s}"
        spread = _spread(r["ours"]) + (f" | {_spread(r['hand'])}" if hand else "")
        print(f"{r['name']:50s}{ours:13,.0f}{hand_text}{ratio}   {spread}")


def main_speed(args: argparse.Namespace) -> None:
    folder = data_folder(args.rows, args.data)
    ensure_table(args.rows, folder)
    print(
        f"jax {jax.__version__} ({jax.devices()[0].platform}), {os.cpu_count()} cores,"
        f" {args.rows:,} rows, batch {BATCH}, steps_per_execution "
        f"{args.steps_per_execution}"
    )
    columns = build_columns(folder)
    hand = HandTransform(columns)
    check_hand_transform(folder, columns, hand)
    all_columns = columns.linear
    rows = args.rows
    results = []
    ours_transform_then_batch(folder, all_columns)  # warm the OS page cache
    group = 65_536  # the files' row groups, what Dataset.from_parquet decodes
    results += compare(
        [
            (
                "read+batch+transform: .batch(), fc.transform",
                lambda: hand_read_transform(folder, hand),
                lambda: ours_batch_then_transform(folder, all_columns),
                None,
            ),
            (
                "  same, .map(fc.transform) before .batch() *",
                lambda: hand_read_transform(folder, hand, group),
                lambda: ours_transform_then_batch(folder, all_columns),
                None,
            ),
        ],
        rows,
        args.repeats,
    )
    spe = args.steps_per_execution
    steps = math.ceil(rows / BATCH)
    warm = warmup_rows(rows, spe)
    for kind, make_model in (("linear", linear_model), ("dnn", dnn_model)):
        model_columns = columns.linear if kind == "linear" else columns.dnn
        estimator = make_estimator(kind, columns, spe)
        pre = make_pretransformed_estimator(kind, columns, spe)
        trainer = HandTrainer(make_model, hand, spe)
        start = time.perf_counter()
        prefix = warm_estimator(estimator, folder, warm)
        pre_prefix = warm_estimator(pre, folder, warm, model_columns)
        trainer.epoch(folder, warm)
        print(
            f"  {kind}: warm-up (compiles) on {warm:,} rows, untimed: "
            f"{time.perf_counter() - start:.1f} s for the three"
        )
        label = "LinearClassifier" if kind == "linear" else "DNNClassifier 64-32 emb8"
        results += compare(
            [
                (
                    f"epoch: {label}",
                    lambda t=trainer: t.epoch(folder),
                    lambda e=estimator: ours_epoch(e, folder),
                    lambda e=estimator, p=prefix: rewind(e, p),
                ),
                (
                    "  same, fc.transform before .batch() **",
                    lambda t=trainer: t.epoch(folder, block=group),
                    lambda e=pre, c=model_columns: ours_epoch(e, folder, c),
                    lambda e=pre, p=pre_prefix: rewind(e, p),
                ),
            ],
            rows,
            args.repeats,
            expect=steps,
        )
    print_table(results, args.repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("*  both sides transform whole 65,536-row groups, then cut batches")
    print(
        "** the same, ours through a plain Estimator running the canned model_fn "
        "(the canned one transforms each batch itself)"
    )
    print(
        f"targets: read+transform >= 2,000,000 rows/s; epoch ratio >= 0.8.  "
        f"peak RSS {peak:,.0f} MiB"
    )


# -- 3. memory ---------------------------------------------------------------------


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main_child(args: argparse.Namespace) -> None:
    """One epoch in this (child) process; prints a JSON line with its peak RSS."""
    folder = data_folder(args.rows, args.data)
    columns = build_columns(folder)
    if args.child == "transform":
        before = _rss_mib()
        seconds, rows = timed(lambda: ours_batch_then_transform(folder, columns.linear))
    else:
        estimator = make_estimator("linear", columns, args.steps_per_execution)
        warm_estimator(
            estimator, folder, warmup_rows(args.rows, args.steps_per_execution)
        )
        before = _rss_mib()
        seconds, steps = timed(lambda: ours_epoch(estimator, folder))
        rows = args.rows
        if steps != math.ceil(rows / BATCH):
            raise SystemExit(f"the epoch ran {steps} steps for {rows} rows")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "kind": args.child,
                "rows": rows,
                "seconds": seconds,
                "rss_before_mib": before,
                "peak_rss_mib": peak,
            }
        )
    )


def main_memory(args: argparse.Namespace) -> None:
    sizes = (1_000_000, 10_000_000)
    for rows in sizes:
        ensure_table(rows, data_folder(rows, None))
    print(
        f"{'epoch':22s}{'rows':>12s}{'rows/s':>11s}{'RSS before':>12s}"
        f"{'peak RSS':>10s}   (MiB; each in its own process)"
    )
    for kind in ("transform", "linear"):
        peaks = []
        for rows in sizes:
            command = [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--rows",
                str(rows),
                "--steps-per-execution",
                str(args.steps_per_execution),
            ]
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            peaks.append(r["peak_rss_mib"])
            name = "read+transform+batch" if kind == "transform" else "LinearClassifier"
            print(
                f"{name:22s}{rows:12,d}{rows / r['seconds']:11,.0f}"
                f"{r['rss_before_mib']:12,.0f}{r['peak_rss_mib']:10,.0f}"
            )
        print(f"  peak 10M / 1M: {peaks[1] / peaks[0]:.2f}x (target <= 1.5x)")


def data_folder(rows: int, data: str | None) -> Path:
    return Path(data) if data else HERE / "out" / f"census-{rows}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps-per-execution", type=int, default=10)
    parser.add_argument(
        "--data", default=None, help="folder (default bench/out/census-ROWS)"
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="peak RSS of 1M- and 10M-row epochs, in child processes",
    )
    parser.add_argument(
        "--child", choices=("transform", "linear"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    logging.getLogger("estimators").setLevel(logging.WARNING)
    if args.child:
        main_child(args)
    elif args.memory:
        main_memory(args)
    else:
        main_speed(args)


if __name__ == "__main__":
    main()
