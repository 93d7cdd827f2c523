"""Runs the benchmarks of the table, one process each, and prints ONE markdown table.

`make bench` runs this; `make bench QUICK=1` (or `--quick`) runs each with fewer
steps and one round. Each script measures our side against a hand-written JAX
loop on the same batches in the same process, interleaved (see its docstring);
the table gives the best (W1, W2, CNN, W3) or median (first step) figures, the
ratio (our speed / the hand-written loop's: above 1 is faster), the issue's
target and the machine load (`/proc/loadavg`) around each script.

Run: python bench/run_all.py [--quick] [--only iris,mlp,cnn,first_step,census]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Row, loadavg  # noqa: E402

SCRIPTS = ("iris", "mlp", "cnn", "first_step", "census")


def run_script(name: str, quick: bool) -> tuple[list[Row], str, str]:
    """Runs one script; returns its rows and the load before and after."""
    before = loadavg()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    env.setdefault("JAX_PLATFORMS", "cpu")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.json"
        command = [sys.executable, str(HERE / f"bench_{name}.py"), "--json", str(path)]
        if name == "census":  # its own CLI: rows and rounds
            command += ["--rows", "100000", "--repeats", "1"] if quick else []
        else:
            command += ["--quick"] if quick else []
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        print(out.stdout, file=sys.stderr)
        if out.returncode != 0:
            raise SystemExit(f"bench_{name}.py failed:\n{out.stderr[-3000:]}")
        rows = json.loads(path.read_text())["rows"]
    fields = {"workload", "ours", "hand", "unit", "higher_is_better", "target", "note"}
    return (
        [Row(**{k: v for k, v in r.items() if k in fields}) for r in rows],
        before,
        loadavg(),
    )


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def markdown(results: list[tuple[list[Row], str, str]]) -> str:
    lines = [
        "| workload | ours | hand-written | ratio | target | load before → after |",
        "|---|---|---|---|---|---|",
    ]
    for rows, before, after in results:
        for row in rows:
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "—"
            lines.append(
                f"| {row.workload} | {_number(row.ours, row.unit)} | "
                f"{_number(row.hand, row.unit)} | {ratio} | {row.target or '—'} | "
                f"{before} → {after} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, 1 round")
    parser.add_argument("--only", default=",".join(SCRIPTS), help="comma-separated")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        parser.error(f"--only: unknown {unknown}; choose from {', '.join(SCRIPTS)}")
    results = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.append(run_script(name, args.quick))
    print(f"\n{os.cpu_count()} cores; ratio = our speed / the hand-written loop's\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
