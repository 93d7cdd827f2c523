"""Read + batch throughput of `Dataset.from_parquet` against a hand-written loop.

Both produce the same batches of 1,024 rows in the batch format (numeric
columns as numpy, strings as Arrow, labels as numpy) from the census-like
table; the baseline is the minimal pyarrow loop a user would write
(`pq.ParquetFile.iter_batches`). The table is generated first if missing, in a
child process, so the peak RSS printed is that of reading alone.

    python bench/bench_data.py --rows 1000000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.append(str(Path(__file__).resolve().parents[1]))  # run from anywhere

from estimators.data import Dataset  # noqa: E402

LABEL = "label"


def ensure_table(rows: int, out: Path) -> Path:
    """Generates the census-like table under `out` unless it is already there."""
    files = sorted(out.glob("*.parquet"))
    if sum(pq.read_metadata(f).num_rows for f in files) != rows:
        script = Path(__file__).with_name("census_data.py")
        subprocess.run(
            [sys.executable, str(script), "--rows", str(rows), "--out", str(out)],
            check=True,
        )
    return out


def dataset_batches(folder: Path, batch_size: int, shuffle: int = 0) -> Iterator[Any]:
    dataset = Dataset.from_parquet(folder, label=LABEL)
    if shuffle:
        dataset = dataset.shuffle(shuffle, seed=0)
    return iter(dataset.batch(batch_size))


def handwritten_batches(folder: Path, batch_size: int) -> Iterator[Any]:
    for path in sorted(folder.glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            features = {}
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                if name == LABEL:
                    continue
                if pa.types.is_string(column.type):
                    features[name] = column
                else:
                    features[name] = column.to_numpy()
            yield features, batch.column(LABEL).to_numpy()


def rows_per_second(
    make: Callable[[], Iterator[Any]], repeats: int
) -> tuple[float, int]:
    """Best of `repeats` full passes: (rows/s, rows)."""
    best, rows = 0.0, 0
    for _ in range(repeats):
        start = time.perf_counter()
        rows = sum(len(labels) for _, labels in make())
        best = max(best, rows / (time.perf_counter() - start))
    return best, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--data", default=None, help="folder (default bench/out/census-ROWS)"
    )
    args = parser.parse_args()
    folder = Path(args.data or Path(__file__).parent / "out" / f"census-{args.rows}")
    ensure_table(args.rows, folder)

    ours, rows = rows_per_second(
        lambda: dataset_batches(folder, args.batch_size), args.repeats
    )
    base, base_rows = rows_per_second(
        lambda: handwritten_batches(folder, args.batch_size), args.repeats
    )
    shuffled, _ = rows_per_second(
        lambda: dataset_batches(folder, args.batch_size, shuffle=10_000), args.repeats
    )
    if rows != base_rows:
        raise SystemExit(f"row counts differ: Dataset {rows}, hand-written {base_rows}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {rows:,}  batch_size: {args.batch_size}  (best of {args.repeats})")
    print(f"Dataset.from_parquet().batch():     {ours:>12,.0f} rows/s")
    print(f"hand-written iter_batches loop:     {base:>12,.0f} rows/s")
    print(f"ratio Dataset / hand-written:       {ours / base:>12.2f}")
    print(f"with .shuffle(10_000) before batch: {shuffled:>12,.0f} rows/s")
    print(f"peak RSS (whole run):               {peak_mib:>12,.0f} MiB")


if __name__ == "__main__":
    main()
