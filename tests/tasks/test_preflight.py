"""Everything checkable is checked before any work: one line, naming the field."""

import pytest

from estimators_pipeline.tasks.config import EstimatorConfig
from estimators_pipeline.tasks.preflight import ConfigError, check, head_metric_keys


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"estimator.type": "DNNClasifier"},
            "estimator.type 'DNNClasifier' is not a canned estimator (did you mean "
            "'DNNClassifier'?).",
        ),
        (
            {"estimator.args.n_clases": 3},
            "estimator.args: DNNClassifier has no argument 'n_clases'; did you mean "
            "'n_classes'?",
        ),
        (
            {"estimator.args.optimizer": {"Adagard": {"learning_rate": 0.1}}},
            "`estimator.args.optimizer` must be one of ['Adagrad', 'Adam', 'Ftrl', "
            "'RMSProp', 'SGD']",
        ),
        ({"estimator.args.optimizer": "Adamm"}, "got 'Adamm'"),
        (
            {"estimator.args.activation_fn": "rellu"},
            "estimator.args.activation_fn: flax.linen has no activation 'rellu'",
        ),
        (
            {"gate.metric": "auc"},
            "gate.metric: DNNClassifier has no evaluation metric 'auc'; it has "
            "['accuracy', 'average_loss', 'loss'].",
        ),
        ({"features": []}, "features: no feature columns"),
        (
            {"features": [{"numeric_column": {"key": "Sepal"}}]},
            "no column 'Sepal', which the feature columns read (as float32)",
        ),
        ({"estimator.args.hidden_units": [0]}, "estimator.args: DNNClassifier: "),
        (
            {"eval.every_n_steps": 10, "eval.early_stopping.metric": "auc"},
            "eval.early_stopping.metric: DNNClassifier has no evaluation metric 'auc'",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_the_field(iris, change, message):
    with pytest.raises(ConfigError) as error:
        check(iris.override(**change))
    text = str(error.value)
    assert message in text and "\n" not in text


def test_a_good_config_passes_and_creates_nothing(iris, tmp_path):
    check(iris)
    assert not (tmp_path / "runs").exists()


def test_head_metric_keys_are_the_heads_own():
    binary = head_metric_keys(EstimatorConfig(type="LinearClassifier"))
    assert {"auc", "accuracy", "precision", "recall", "loss"} <= binary
    assert head_metric_keys(EstimatorConfig(model_fn="m:f")) is None
