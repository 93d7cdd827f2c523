"""bench/run_all.py's table and its reading of bench_census.py (no timing here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import run_all  # noqa: E402
from _harness import Row  # noqa: E402

CENSUS_OUTPUT = """\
                                                    ours rows/s  hand rows/s  ratio   spread
read+batch+transform: .batch(), fc.transform            106,544      131,333   0.81   107-107k | 131-131k
epoch: LinearClassifier                                 130,288      432,880   0.30   130-130k | 433-433k
  same, fc.transform before .batch() **                 264,020      222,359   1.19   264-264k | 222-222k
epoch: DNNClassifier 64-32 emb8                          58,205      110,015   0.53   58-58k | 110-110k
"""


def test_census_rows_are_the_epoch_lines():
    rows = run_all.census_rows(CENSUS_OUTPUT)
    assert [r.workload for r in rows] == [
        "W3 census Parquet, LinearClassifier, one epoch",
        "W3 census Parquet, DNNClassifier 64-32 emb8, one epoch",
    ]
    assert (rows[0].ours, rows[0].hand) == (130_288, 432_880)
    assert abs(rows[0].ratio - 130_288 / 432_880) < 1e-12


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
