"""A seeded, census-like table written to Parquet, for benchmarks and examples.

10 numeric columns (ages, hours, money amounts, scores), 5 string categorical
columns with vocabularies of 10, 100, 1,000, 5,000 and 10,000 values drawn with
zipf-like frequencies, and a binary `label` from a noisy logistic model of some
of them (so a linear model and a DNN can both learn something). Generation is
vectorised numpy, one file at a time, so 10M rows never sit in memory at once.

    python bench/census_data.py --rows 1000000 --out bench/out/census-1000000
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "CATEGORICAL",
    "LABEL",
    "NUMERIC",
    "ROW_GROUP_ROWS",
    "generate_table",
    "vocabulary",
    "write_census",
    "write_small_census",
]

NUMERIC = [
    "age",
    "hours_per_week",
    "education_num",
    "capital_gain",
    "capital_loss",
    "fnlwgt",
    "tenure_years",
    "commute_minutes",
    "credit_score",
    "savings",
]
CATEGORICAL = {  # name -> vocabulary size
    "workclass": 10,
    "occupation": 100,
    "city": 1_000,
    "employer": 5_000,
    "zipcode": 10_000,
}
LABEL = "label"
ROW_GROUP_ROWS = 65_536
ROWS_PER_FILE = 262_144


def vocabulary(name: str) -> list[str]:
    """Every value of a categorical column, most frequent first.

    Example:
        >>> vocabulary("workclass")[:2], len(vocabulary("zipcode"))
        (['workclass_00000', 'workclass_00001'], 10000)
    """
    return [f"{name}_{i:05d}" for i in range(CATEGORICAL[name])]


def _zipf_ids(
    rng: np.random.Generator, size: int, rows: int, exponent: float = 1.1
) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    cdf = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(rows)), size - 1)


def generate_table(rows: int, seed: int = 0) -> pa.Table:
    """`rows` rows of the census-like table (all columns, label last).

    Example:
        >>> table = generate_table(5, seed=1)
        >>> table.num_rows, table.num_columns
        (5, 16)
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(17, 91, rows)
    education = rng.integers(1, 17, rows)
    hours = np.clip(rng.normal(40, 12, rows), 1, 99).round().astype(np.int64)
    gain = np.where(rng.random(rows) < 0.08, rng.lognormal(8, 1.2, rows), 0.0)
    columns: dict[str, np.ndarray | pa.Array] = {
        "age": age,
        "hours_per_week": hours,
        "education_num": education,
        "capital_gain": gain.round(2),
        "capital_loss": np.where(
            rng.random(rows) < 0.05, rng.lognormal(7, 0.5, rows), 0.0
        ),
        "fnlwgt": rng.lognormal(12, 0.6, rows).round(),
        "tenure_years": np.clip(rng.exponential(6, rows), 0, 50),
        "commute_minutes": np.abs(rng.normal(25, 15, rows)),
        "credit_score": np.clip(rng.normal(680, 70, rows), 300, 850).round(),
        "savings": rng.lognormal(9, 1.5, rows),
    }
    ids = {}
    for name, size in CATEGORICAL.items():
        ids[name] = _zipf_ids(rng, size, rows)
        columns[name] = pa.array(vocabulary(name)).take(pa.array(ids[name]))
    # A logistic score of a few columns, including categorical effects that a
    # hashed or embedded column can pick up.
    score = (
        0.04 * (age - 40)
        + 0.25 * (education - 10)
        + 0.03 * (hours - 40)
        + 0.6 * (gain > 0)
        + 0.5 * (ids["workclass"] % 3 == 0)
        - 0.4 * (ids["occupation"] % 5 == 1)
        + 0.3 * np.sin(ids["zipcode"])
        - 1.0
    )
    probability = 1.0 / (1.0 + np.exp(-score))
    columns[LABEL] = (rng.random(rows) < probability).astype(np.int64)
    return pa.table(columns)


def write_census(
    path: str | os.PathLike[str],
    rows: int,
    *,
    seed: int = 0,
    rows_per_file: int = ROWS_PER_FILE,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> Path:
    """Writes `rows` rows as `part-00000.parquet`, ... under the folder `path`.

    Each file is generated from its own seed (`seed`, file number), so the data
    does not depend on memory limits and files can be made one at a time.

    Example:
        >>> import tempfile
        >>> folder = write_census(tempfile.mkdtemp(), 3000, rows_per_file=1000)
        >>> sorted(p.name for p in folder.iterdir())
        ['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    files = max(1, math.ceil(rows / rows_per_file))
    for index in range(files):
        count = min(rows_per_file, rows - index * rows_per_file)
        table = generate_table(count, seed=seed * 100_003 + index)
        target = folder / f"part-{index:05d}.parquet"
        temporary = target.with_suffix(".tmp")
        pq.write_table(table, temporary, row_group_size=row_group_rows)
        os.replace(temporary, target)
    return folder


def write_small_census(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """The 2,000-row version for examples and tests: 2 files, row groups of 500.

    Example:
        >>> import tempfile, pyarrow.parquet as pq
        >>> folder = write_small_census(tempfile.mkdtemp())
        >>> pq.read_table(folder).num_rows
        2000
    """
    return write_census(path, 2_000, seed=seed, rows_per_file=1_000, row_group_rows=500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=None, help="folder (default bench/out/census-ROWS)"
    )
    args = parser.parse_args()
    out = args.out or str(Path(__file__).parent / "out" / f"census-{args.rows}")
    start = time.perf_counter()
    write_census(out, args.rows, seed=args.seed)
    print(f"wrote {args.rows:,} rows to {out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
