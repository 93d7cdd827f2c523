"""Reading recorded evaluation results: read_eval_metrics, read_eval_records."""

from __future__ import annotations

import os

import estimators as est
from estimators.eval_records import read_eval_records


def record(model_dir, evaluations, prefix="eval"):
    """Appends `{step: {key: value}}` as `evaluate` records its results."""
    with est.JsonlWriter(os.path.join(model_dir, "metrics.jsonl")) as writer:
        for step, metrics in evaluations.items():
            writer.write_scalars(step, {f"{prefix}/{k}": v for k, v in metrics.items()})


def test_read_eval_metrics_groups_by_step_and_evaluation_name(tmp_path):
    record(tmp_path, {20: {"loss": 0.5}, 10: {"loss": 0.75, "accuracy": 0.5}})
    record(tmp_path, {10: {"loss": 0.25}}, prefix="eval_val")
    with est.JsonlWriter(tmp_path / "metrics.jsonl") as writer:
        writer.write_scalars(10, {"loss": 9.0})  # a training summary
        writer.write_scalars(20, {"eval/loss": 0.4})  # step 20 evaluated again
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 30, "name": "eval/lo')  # a line being written
    assert est.read_eval_metrics(tmp_path) == {
        10: {"loss": 0.75, "accuracy": 0.5},
        20: {"loss": 0.4},
    }
    assert list(est.read_eval_metrics(tmp_path)) == [10, 20]
    assert est.read_eval_metrics(tmp_path, name="val") == {10: {"loss": 0.25}}
    assert est.read_eval_metrics(tmp_path / "missing") == {}


def test_read_eval_records_follows_the_file_from_an_offset(tmp_path):
    record(tmp_path, {10: {"loss": 1.0}}, prefix="eval_val")
    records, offset = read_eval_records(tmp_path, "val")
    assert records == [(10, "loss", 1.0)]
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 20, "name": "eval_val/loss", "value": 0.5')  # half a line
    assert read_eval_records(tmp_path, "val", offset) == ([], offset)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(', "wall_time": 0}\n')
    records, offset = read_eval_records(tmp_path, "val", offset)
    assert records == [(20, "loss", 0.5)]
    # A file rewritten shorter (a resumed run purges later points) is re-read.
    (tmp_path / "metrics.jsonl").write_text("")
    record(tmp_path, {5: {"loss": 2.0}}, prefix="eval_val")
    assert read_eval_records(tmp_path, "val", offset)[0] == [(5, "loss", 2.0)]
