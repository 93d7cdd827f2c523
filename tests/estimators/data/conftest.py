"""Small seeded tables on disk for the data tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def make_table(rows: int, seed: int = 0) -> pa.Table:
    """`id` (0..rows-1, to check order and coverage), numbers, strings, label."""
    rng = np.random.default_rng(seed)
    ids = np.arange(rows)
    city = pa.array(rng.choice(["paris", "oslo", "lima"], rows)).to_pylist()
    for i in range(0, rows, 7):  # every 7th city missing
        city[i] = None
    return pa.table(
        {
            "id": ids,
            "x": rng.normal(size=rows),
            "city": pa.array(city, pa.string()),
            "label": (ids % 3 == 0).astype(np.int64),
        }
    )


@pytest.fixture(scope="session")
def table() -> pa.Table:
    return make_table(1000)


@pytest.fixture(scope="session")
def parquet_dir(tmp_path_factory: pytest.TempPathFactory, table: pa.Table):
    """1000 rows in 3 files (400, 400, 200 rows) with row groups of 128 rows."""
    folder = tmp_path_factory.mktemp("parquet")
    for index, start in enumerate(range(0, 1000, 400)):
        pq.write_table(
            table.slice(start, 400),
            folder / f"part-{index}.parquet",
            row_group_size=128,
        )
    return folder
