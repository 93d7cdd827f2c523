import math

import pytest

from estimators_pipeline.tasks.config import GateConfig
from estimators_pipeline.tasks.evaluate import Evaluation
from estimators_pipeline.tasks.register import decide, register


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


# -- a server lost in the middle of `register` ---------------------------------


class _Lost(ConnectionError):
    pass


@pytest.fixture
def registry(iris):
    """A run with a READY logged model per call: (client, model_name, make)."""
    from mlflow.tracking import MlflowClient

    from estimators_pipeline.tasks.export import ModelRef
    from estimators_pipeline.tasks.runs import experiment_id

    client = MlflowClient()
    experiment = experiment_id(client, iris)

    def make(accuracy, run_id=None):
        run_id = run_id or client.create_run(experiment).info.run_id
        logged = client.create_logged_model(
            experiment, name="model", source_run_id=run_id
        )
        client.finalize_logged_model(logged.model_id, "READY")
        evaluation = Evaluation(metrics={"accuracy": accuracy}, global_step=10)
        return ModelRef(run_id, "", f"models:/{logged.model_id}", evaluation)

    return client, iris.model_name, make


def _lose_server_at(monkeypatch, method):
    """The first call of MlflowClient.`method` raises, as a lost server would."""
    from mlflow.tracking import MlflowClient

    real = getattr(MlflowClient, method)
    calls = []

    def lost(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise _Lost("connection refused")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, method, lost)


def _versions(client, name):
    return sorted(
        client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)
    )


def test_a_rerun_after_losing_the_server_before_the_alias_finishes_it(
    registry, monkeypatch
):
    client, name, make = registry
    model = make(0.9)
    _lose_server_at(monkeypatch, "set_registered_model_alias")
    with pytest.raises(_Lost):
        register.fn(name, GateConfig(), model, None)
    [version] = _versions(client, name)
    assert version.tags["gate.state"] == "pending"  # findable, not decided
    assert version.tags["pipeline.run_id"] == model.run_id
    assert "gate.decision" not in version.tags
    decision = register.fn(name, GateConfig(), model, None)  # the re-run
    [version] = _versions(client, name)  # no second version
    assert decision.promoted and decision.version == "1"
    assert version.tags["gate.decision"] == "promoted"
    assert version.tags["gate.state"] == "done"
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert client.get_run(model.run_id).data.tags["gate.decision"] == "promoted"


def test_a_rerun_after_the_alias_moved_keeps_the_decision(registry, monkeypatch):
    client, name, make = registry
    old = make(0.8)
    register.fn(name, GateConfig(), old, None)  # v1, champion
    model = make(0.9)
    v1 = _eval(version="1", accuracy=0.8)
    _lose_server_at(monkeypatch, "set_tag")  # after the alias, before the run tags
    with pytest.raises(_Lost):
        register.fn(name, GateConfig(), model, v1)
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"
    # On resume the champion evaluated is v2 itself: a tie must not reject it.
    itself = _eval(version="2", accuracy=0.9)
    decision = register.fn(name, GateConfig(), model, itself)
    assert decision.promoted and decision.champion_version == "1"
    assert decision.reason == (
        "accuracy 0.9000 beats champion v1 (0.8000) by more than 0"
    )
    assert [v.version for v in _versions(client, name)] == [1, 2]
    assert _versions(client, name)[1].tags["gate.decision"] == "promoted"


def test_a_response_lost_after_the_version_was_created_makes_no_duplicate(
    registry, monkeypatch
):
    from estimators_pipeline.tasks import register as register_lib

    client, name, make = registry
    model = make(0.9)
    real = register_lib._register

    def created_then_lost(*args):
        real(*args)
        raise _Lost("read timed out")

    monkeypatch.setattr(register_lib, "_register", created_then_lost)
    with pytest.raises(_Lost):
        register.fn(name, GateConfig(), model, None)
    monkeypatch.setattr(register_lib, "_register", real)
    assert register.fn(name, GateConfig(), model, None).version == "1"
    assert len(_versions(client, name)) == 1


def test_a_version_left_pending_by_an_ended_run_is_marked_abandoned(
    registry, monkeypatch
):
    client, name, make = registry
    lost = make(0.9)
    with monkeypatch.context() as patch:
        _lose_server_at(patch, "set_registered_model_alias")
        with pytest.raises(_Lost):
            register.fn(name, GateConfig(), lost, None)
    client.set_terminated(lost.run_id, "FAILED")  # the failure hook ended it
    decision = register.fn(name, GateConfig(), make(0.85), None)  # a new run
    first, second = _versions(client, name)
    assert first.tags["gate.decision"] == "abandoned"
    assert first.tags["gate.reason"] == (
        f"its run {lost.run_id} ended FAILED before the gate decided; "
        f"`estimators-pipeline run --resume {lost.run_id}` completes it"
    )
    assert decision.version == "2" and decision.promoted
    # Resuming the abandoned run completes it after all, still without a duplicate.
    client.update_run(lost.run_id, "RUNNING")
    again = register.fn(name, GateConfig(), lost, _eval(version="2", accuracy=0.85))
    assert again.version == "1" and again.promoted
    assert _versions(client, name)[0].tags["gate.decision"] == "promoted"
    assert len(_versions(client, name)) == 2
