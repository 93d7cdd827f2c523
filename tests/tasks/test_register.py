import math

import pytest

from estimators_pipeline.tasks.config import GateConfig
from estimators_pipeline.tasks.evaluate import Evaluation
from estimators_pipeline.tasks.register import decide


def _eval(version=None, **metrics):
    return Evaluation(metrics=metrics, global_step=100, version=version)


@pytest.mark.parametrize(
    ("new", "old", "gate", "promoted"),
    [
        ({"accuracy": 0.9}, None, GateConfig(), True),  # no champion yet
        ({"accuracy": 0.91}, {"accuracy": 0.90}, GateConfig(), True),
        (
            {"accuracy": 0.90},
            {"accuracy": 0.90},
            GateConfig(),
            False,
        ),  # a tie keeps the champion
        (
            {"accuracy": 0.905},
            {"accuracy": 0.90},
            GateConfig(margin=0.01),
            False,
        ),  # 0.005 <= 0.01
        (
            {"accuracy": 0.92},
            {"accuracy": 0.90},
            GateConfig(margin=0.01),
            True,
        ),  # 0.02 > 0.01
        (
            {"average_loss": 0.3},
            {"average_loss": 0.4},
            GateConfig(metric="average_loss", higher_is_better=False),
            True,
        ),
        (
            {"average_loss": 0.5},
            {"average_loss": 0.4},
            GateConfig(metric="average_loss", higher_is_better=False),
            False,
        ),
        ({"accuracy": math.nan}, None, GateConfig(), False),  # a NaN never serves
        (
            {"accuracy": 0.99},
            {"auc": 0.9},
            GateConfig(),
            False,
        ),  # nothing to compare with
    ],
)
def test_gate(new, old, gate, promoted):
    champion = None if old is None else _eval(version="3", **old)
    assert decide(_eval(**new), champion, gate)[0] is promoted


def test_the_reason_gives_both_values():
    _, reason = decide(
        _eval(accuracy=0.5), _eval(version="7", accuracy=0.75), GateConfig()
    )
    assert reason == "accuracy 0.5000 does not beat champion v7 (0.7500) by more than 0"


def test_an_unknown_gate_metric_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"gate.metric 'auc' is not .* \['accuracy', 'loss'\]"
    ):
        decide(_eval(accuracy=0.5, loss=1.0), None, GateConfig(metric="auc"))


def test_a_champion_scored_elsewhere_is_said_so():
    old = Evaluation(
        metrics={"accuracy": 0.8}, global_step=-1, version="2", source="recorded"
    )
    promoted, reason = decide(_eval(accuracy=0.9), old, GateConfig())
    assert promoted and "as recorded on its own split" in reason
