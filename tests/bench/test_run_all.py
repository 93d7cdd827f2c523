"""bench/run_all.py's table and bench_census.py's rows for it (no timing here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import run_all  # noqa: E402
from _harness import Row  # noqa: E402


def test_census_writes_its_best_rates_as_rows(tmp_path):
    import json

    import bench_census

    table = [("linear", {"hand": [400.0, 500.0], "ours": [450.0, 300.0],
                         "block": [480.0, 490.0]})]  # fmt: skip
    bench_census.write_rows(table, 1000, str(tmp_path / "rows.json"))
    rows = json.loads((tmp_path / "rows.json").read_text())["rows"]
    assert [r["workload"] for r in rows] == [
        "W3 1,000 Parquet rows, LinearClassifier, canned, as ported, one epoch",
        "W3 1,000 Parquet rows, LinearClassifier, map_blocks, one epoch",
    ]
    # best of each side: 450 / 500 and 490 / 500.
    assert [(r["ours"], r["hand"], r["ratio"]) for r in rows] == [
        (450.0, 500.0, 0.9),
        (490.0, 500.0, 0.98),
    ]
    assert [r["target"] for r in rows] == [">= 0.9x", ""]


def test_ratio_is_our_speed_over_the_hand_loops_whatever_the_unit():
    assert Row("w", 200.0, 100.0, "steps/s").ratio == 2.0
    # 5 ms per step against 10 ms: twice as fast.
    assert Row("w", 5.0, 10.0, "ms/step", higher_is_better=False).ratio == 2.0
    assert Row("w", 5.0, None, "s").ratio is None


def test_markdown_is_one_table_with_the_load():
    rows = [Row("W2 MLP", 334.0, 345.0, "steps/s", target=">= 0.95x")]
    table = run_all.markdown([(rows, "0.5 0.4 0.3", "0.6 0.4 0.3")])
    lines = table.splitlines()
    assert lines[0].startswith("| workload | ours | hand-written | ratio | target")
    # 334 / 345 = 0.968
    assert lines[2] == (
        "| W2 MLP | 334 steps/s | 345 steps/s | 0.97x | >= 0.95x | "
        "0.5 0.4 0.3 → 0.6 0.4 0.3 |"
    )
