import optax
import pytest

from estimators import canned
from estimators_pipeline.tasks import columns, model


def test_resolve_names_module_and_file_attributes(tmp_path):
    assert (
        model.resolve("estimators.canned:LinearClassifier") is canned.LinearClassifier
    )
    (tmp_path / "my_model.py").write_text("def model_fn():\n    return 42\n")
    assert model.resolve(f"{tmp_path}/my_model.py:model_fn")() == 42
    with pytest.raises(ValueError, match="has no 'nope'"):
        model.resolve("estimators.canned:nope")
    with pytest.raises(ValueError, match="expected 'module:attribute'"):
        model.resolve("estimators.canned")


def test_yaml_spellings_of_callables():
    assert model.estimator_argument("dnn_activation_fn", "tanh").__name__ == "tanh"
    optimizer = model.estimator_argument("optimizer", {"Adam": {"learning_rate": 0.01}})
    assert isinstance(optimizer, optax.GradientTransformation)
    assert (
        model.estimator_argument("optimizer", "Adagrad") == "Adagrad"
    )  # canned take names


def _frozen(tmp_path):
    groups = columns.build_groups([{"numeric_column": {"key": "x"}}])
    return columns.write_groups(groups, str(tmp_path / "columns.json"))


def test_unknown_canned_estimator_lists_the_known_ones(iris, tmp_path):
    config = iris.override(**{"estimator.type": "DNNClasifier"})
    with pytest.raises(
        ValueError,
        match=r"'DNNClasifier' is not a canned estimator "
        r"\(did you mean 'DNNClassifier'\?\)",
    ):
        model.build_estimator(config.estimator, _frozen(tmp_path), str(tmp_path / "m"))


def test_feature_columns_come_from_features_not_args(iris, tmp_path):
    config = iris.override(
        **{"estimator.args": {"hidden_units": [3], "feature_columns": []}}
    )
    with pytest.raises(ValueError, match=r"must not set \['feature_columns'\]"):
        model.build_estimator(config.estimator, _frozen(tmp_path), str(tmp_path / "m"))


def test_wrong_canned_arguments_name_the_estimator(iris, tmp_path):
    config = iris.override(**{"estimator.args": {"hidden_units": [3], "n_clases": 3}})
    with pytest.raises(ValueError, match="estimator DNNClassifier: .*n_clases"):
        model.build_estimator(config.estimator, _frozen(tmp_path), str(tmp_path / "m"))
