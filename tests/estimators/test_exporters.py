"""The exporters of train_and_evaluate: Latest, Final and Best."""

from __future__ import annotations

import os

import pytest
from support import classifier_model_fn

import estimators as est
from estimators.exporters import loss_smaller


def stamps(path):
    return sorted(os.listdir(path))


class FakeExports:
    """Stands in for `export_saved_model`: numbered empty export directories."""

    def __init__(self):
        self.count = 0

    def __call__(self, export_dir_base, serving_input_receiver_fn, checkpoint_path):
        self.count += 1
        path = os.path.join(export_dir_base, str(1000 + self.count))
        os.makedirs(path)
        return path


@pytest.fixture
def untrained(tmp_path, monkeypatch):
    classifier = est.Estimator(classifier_model_fn, model_dir=str(tmp_path))
    monkeypatch.setattr(classifier, "export_saved_model", FakeExports())
    return classifier


def export_best(exporter, classifier, loss, step=10):
    path = os.path.join(classifier.model_dir, "export", exporter.name)
    result = {"loss": loss, "global_step": step}
    return exporter.export(classifier, path, "ckpt-10", result, False)


def test_best_exporter_exports_only_improvements_and_keeps_the_newest(untrained):
    exporter = est.BestExporter("best", exports_to_keep=2)
    # losses 1.0 (first), 0.5 (< 1.0), 0.7 (not < 0.5), 0.4 (< 0.5)
    paths = [export_best(exporter, untrained, loss) for loss in (1.0, 0.5, 0.7, 0.4)]
    base = os.path.join(untrained.model_dir, "export", "best")
    assert paths == [os.path.join(base, "1001"), os.path.join(base, "1002"), None,
                     os.path.join(base, "1003")]  # fmt: skip
    assert stamps(base) == ["1002", "1003"]


def test_best_exporter_starts_from_the_best_recorded_evaluation(untrained):
    with est.JsonlWriter(os.path.join(untrained.model_dir, "metrics.jsonl")) as w:
        w.write_scalars(3, {"eval/loss": 0.45, "eval_other/loss": 0.1})
        w.write_scalars(6, {"eval/loss": 0.6})
        w.write_scalars(9, {"eval/loss": 0.2})  # the evaluation being exported
    # best recorded: 0.45 at step 3 (step 9 is the current one; other names ignored)
    assert export_best(est.BestExporter(), untrained, 0.5, step=9) is None
    assert export_best(est.BestExporter(), untrained, 0.4, step=9) is not None
    other = est.BestExporter("other", eval_name="other")  # best recorded: 0.1
    assert export_best(other, untrained, 0.4, step=9) is None


def test_best_exporter_takes_a_compare_fn(untrained):
    def accuracy_higher(best_eval_result, current_eval_result):
        return current_eval_result["accuracy"] > best_eval_result["accuracy"]

    exporter = est.BestExporter("accuracy", compare_fn=accuracy_higher)
    path = os.path.join(untrained.model_dir, "export", "accuracy")
    exports = [
        exporter.export(
            untrained, path, "ckpt", {"accuracy": a, "global_step": 1}, False
        )
        for a in (0.5, 0.5, 0.75)
    ]
    assert [e is not None for e in exports] == [True, False, True]


def test_loss_smaller():
    assert loss_smaller({"loss": 2.0}, {"loss": 1.0})  # 2 > 1
    assert not loss_smaller({"loss": 1.0}, {"loss": 1.0})
    with pytest.raises(ValueError, match="current_eval_result"):
        loss_smaller({"loss": 1.0}, {"accuracy": 1.0})
