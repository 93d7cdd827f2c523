"""Rows/s of vocabulary lookups per batch vs once per block with `map_blocks`.

On the census-like Parquet table (5 string columns, vocabularies of 10 to
10,000 values), three producers of 1,024-row batches, timed in interleaved
rounds in one process: read + batch alone; read + batch + `pc.index_in` on
each batch's decoded strings (what a per-batch transform does); and
`map_blocks` with the lookup on each record batch's Arrow dictionary (the
distinct values looked up once, then a gather).

    python bench/bench_blocks.py --rows 200000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.append(str(Path(__file__).resolve().parents[1]))  # run from anywhere

from census_data import CATEGORICAL, LABEL  # noqa: E402

from estimators.data import Dataset  # noqa: E402

BATCH = 1024


def ensure_table(rows: int, out: Path) -> Path:
    files = sorted(out.glob("*.parquet"))
    if sum(pq.read_metadata(f).num_rows for f in files) != rows:
        script = Path(__file__).with_name("census_data.py")
        cmd = [sys.executable, str(script), "--rows", str(rows), "--out", str(out)]
        subprocess.run(cmd, check=True)
    return out


def vocabularies(folder: Path) -> dict[str, pa.Array]:
    table = pq.read_table(folder, columns=list(CATEGORICAL))
    return {k: pc.unique(table.column(k))[:500] for k in CATEGORICAL}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    folder = ensure_table(args.rows, args.out / f"census-{args.rows}")
    vocab = vocabularies(folder)

    def source() -> Dataset:
        return Dataset.from_parquet(folder, label=LABEL).batch(BATCH)

    def read_only() -> int:
        return sum(len(y) for _, y in source())

    def per_batch() -> int:
        rows = 0
        for features, labels in source():
            for key, values in vocab.items():
                pc.index_in(features[key], value_set=values)
            rows += len(labels)
        return rows

    def lookup(features: dict[str, Any]) -> dict[str, Any]:
        out = dict(features)
        for key, values in vocab.items():
            column = features[key]
            ids = pc.index_in(column.dictionary, value_set=values).take(column.indices)
            out[key] = ids.fill_null(-1).to_numpy(zero_copy_only=False)
        return out

    def blocks() -> int:
        return sum(len(y) for _, y in source().map_blocks(lookup))

    producers = {
        "read + batch": read_only,
        "read + batch + lookup per batch": per_batch,
        "read + map_blocks(lookup on dictionaries) + batch": blocks,
    }
    times: dict[str, list[float]] = {name: [] for name in producers}
    for _ in range(args.rounds):
        for name, run in producers.items():
            start = time.perf_counter()
            rows = run()
            times[name].append(time.perf_counter() - start)
    per = statistics.median(times["read + batch + lookup per batch"])
    print(f"{'producer':52} {'rows/s':>12} {'vs per batch':>12}")
    for name, spent in times.items():
        median = statistics.median(spent)
        print(f"{name:52} {rows / median:12,.0f} {per / median:12.2f}")


if __name__ == "__main__":
    main()
