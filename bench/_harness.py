"""What every benchmark of the table shares: rounds, step rates, results.

A benchmark script measures our side and a hand-written JAX loop on the same
batches in one process, interleaved (`rounds` rounds, each running every side
once), keeps the best round of each side (the machine is shared: the best round
is the least disturbed one) and reports `Row`s. With `--json PATH` it also
writes them for `bench/run_all.py`, which prints the one table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as `cat /proc/loadavg` shows them."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


@dataclasses.dataclass
class Row:
    """One line of the table: our figure, the hand-written one, the target.

    `higher_is_better` says how to read the unit (steps/s: yes; ms/step, s: no);
    `ratio` is always our speed over the hand-written loop's (above 1: faster).
    """

    workload: str
    ours: float
    hand: float | None
    unit: str
    higher_is_better: bool = True
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.hand or not self.ours:
            return None
        return self.ours / self.hand if self.higher_is_better else self.hand / self.ours


def arguments(description: str, **defaults: int) -> argparse.Namespace:
    """`--quick`, `--rounds`, `--json` and one `--NAME` per default (an int)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="steps / 10 (>= 100), 1 round"
    )
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (1 quick)")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    for name in defaults:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(
                args, name, min(value, max(100, value // 10)) if args.quick else value
            )
    return args


def interleave(
    sides: dict[str, Callable[[], float]], rounds: int
) -> dict[str, list[float]]:
    """Runs every side once per round, in turn; returns each side's results."""
    results: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            results[name].append(run())
    return results


def timed_steps(run: Callable[[], object], steps: int) -> float:
    """Steps per second of `run()` (which must block until its work is done)."""
    start = time.perf_counter()
    run()
    return steps / (time.perf_counter() - start)


class StepRateLog(logging.Handler):
    """Collects the `global_step/sec` figures the Estimator logs (tf's measure).

    The Estimator logs one every `RunConfig.log_step_count_steps` steps (100 by
    default), over the steps since the previous one; their median is the steady
    state, without the restore, the first call and the final checkpoint.
    """

    _PATTERN = re.compile(r"global_step/sec: ([0-9.eE+-]+)")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.rates: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = self._PATTERN.search(record.getMessage())
        if match:
            self.rates.append(float(match.group(1)))

    def __enter__(self) -> StepRateLog:
        logger = logging.getLogger("estimators")
        self._level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        self.rates = []
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("estimators")
        logger.removeHandler(self)
        logger.setLevel(self._level)


def steady_rate(rates: list[float], fallback: float) -> float:
    """The median logged rate, or `fallback` when too few steps were logged."""
    if not rates:
        return fallback
    ordered = sorted(rates)
    return ordered[len(ordered) // 2]


def report(title: str, rows: list[Row], runs: dict[str, list[float]], path) -> None:
    """Prints the rows (and every round) and writes them as JSON to `path`."""
    print(f"\n{title}   (load {loadavg()})")
    for name, values in runs.items():
        print(f"  {name:64s}" + "  ".join(f"{v:10.4g}" for v in values))
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        hand = f"{row.hand:,.4g}" if row.hand is not None else "-"
        print(
            f"  => {row.workload}: ours {row.ours:,.4g} {row.unit}, "
            f"hand {hand}, ratio {ratio}, target {row.target or '-'}"
        )
    if path:
        rows_json = [dataclasses.asdict(r) | {"ratio": r.ratio} for r in rows]
        Path(path).write_text(json.dumps({"load": loadavg(), "rows": rows_json}))
