import json

import numpy as np

from estimators_pipeline.tasks import plots


def test_confusion_matrix_counts_true_by_predicted():
    matrix = plots.confusion_matrix(
        np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3
    )
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_images_are_png(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(
        "".join(
            json.dumps({"step": s, "name": n, "value": v, "wall_time": 0.0}) + "\n"
            for s, n, v in [
                (10, "loss", 1.0),
                (20, "loss", 0.5),
                (20, "eval/loss", 0.6),
                (20, "global_step/sec", 9.0),
            ]
        )
    )
    curve = plots.plot_training_curve(str(metrics), str(tmp_path / "curve.png"))
    matrix = plots.plot_confusion_matrix(
        np.eye(2, dtype=int), ["a", "b"], str(tmp_path / "cm.png")
    )
    for path in (curve, matrix):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_no_metrics_no_curve(tmp_path):
    assert (
        plots.plot_training_curve(str(tmp_path / "none.jsonl"), str(tmp_path / "c.png"))
        is None
    )
