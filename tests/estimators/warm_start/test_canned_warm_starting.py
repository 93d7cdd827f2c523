"""tf.estimator's canned warm-starting tests (dnn_testing_utils.py
BaseDNNWarmStartingTest, linear_testing_utils.py BaseLinearWarmStartingTest),
ported as written: tf's variable names in the settings,
a zero learning rate so that the warm-started values can be read back."""

from __future__ import annotations

import numpy as np
import optax
import pytest

import estimators as est
from estimators import feature_column as fc

# tf's names (dnn_testing_utils.py) and ours
OCCUPATION_EMBEDDING_NAME = (
    "dnn/input_from_feature_columns/input_layer/occupation_embedding/embedding_weights"
)
CITY_EMBEDDING_NAME = (
    "dnn/input_from_feature_columns/input_layer/city_embedding/embedding_weights"
)
OURS = "params/dnn/input_layer/{}_embedding/embedding_weights"


def _input_fn():
    features = {
        "city": np.array([["Palo Alto"], ["Mountain View"]]),
        "locality": np.array([["Palo Alto"], ["Mountain View"]]),
        "occupation": np.array([["doctor"], ["consultant"]]),
    }
    return features, np.array([0, 1])


def _city(key="city"):
    column = fc.categorical_column_with_vocabulary_list(
        key, vocabulary_list=["Mountain View", "Palo Alto"]
    )
    return fc.embedding_column(column, dimension=5)


def _trained(make, model_dir, columns, **kwargs):
    estimator = make(
        hidden_units=[256, 128],
        feature_columns=columns,
        model_dir=str(model_dir),
        optimizer="SGD",
        **kwargs,
    )
    return estimator.train(input_fn=_input_fn, max_steps=1)


def _value(estimator, name):
    return estimator.get_variable_value(name)


@pytest.mark.parametrize(
    "make, kwargs",
    [(est.DNNClassifier, {"n_classes": 4}), (est.DNNRegressor, {})],
    ids=["classifier", "regressor"],
)
def test_basic_warm_starting(tmp_path, make, kwargs):
    # test_classifier_basic_warm_starting, test_regressor_basic_warm_starting
    source = _trained(make, tmp_path / "a", [_city()], **kwargs)
    warm = make(
        hidden_units=[256, 128],
        feature_columns=[_city()],
        model_dir=str(tmp_path / "b"),
        optimizer=optax.sgd(learning_rate=0.0),
        warm_start_from=source.model_dir,
        **kwargs,
    )
    warm.train(input_fn=_input_fn, max_steps=1)
    for name in warm.get_variable_names():
        if name != "global_step":
            np.testing.assert_allclose(_value(source, name), _value(warm, name))


def test_warm_starting_selective_variables(tmp_path):
    source = _trained(est.DNNClassifier, tmp_path / "a", [_city()], n_classes=4)
    warm = est.DNNClassifier(
        hidden_units=[256, 128],
        feature_columns=[_city()],
        model_dir=str(tmp_path / "b"),
        n_classes=4,
        optimizer=optax.sgd(learning_rate=0.0),
        # The provided regular expression will only warm-start the city
        # embedding, not the kernels and biases of the hidden weights.
        warm_start_from=est.WarmStartSettings(
            ckpt_to_initialize_from=source.model_dir,
            vars_to_warm_start=".*(city).*",
        ),
    )
    warm.train(input_fn=_input_fn, max_steps=1)
    for name in warm.get_variable_names():
        if "city" in name:
            np.testing.assert_allclose(_value(source, name), _value(warm, name))
        elif "bias" in name:  # hidden layer biases are zero-initialized
            np.testing.assert_allclose(_value(warm, name), 0.0)
        elif "kernel" in name:  # a fresh glorot-uniform draw
            assert not np.allclose(_value(source, name), _value(warm, name))


def test_warm_starting_with_vocab_remapping(tmp_path):
    vocab_file = tmp_path / "occupation_vocab"
    vocab_file.write_text("\n".join(["doctor", "lawyer", "consultant"]))
    occupation = fc.embedding_column(
        fc.categorical_column_with_vocabulary_file(
            "occupation", vocabulary_file=str(vocab_file), vocabulary_size=3
        ),
        dimension=2,
    )
    source = _trained(est.DNNClassifier, tmp_path / "a", [occupation], n_classes=4)
    new_vocab_file = tmp_path / "new_occupation_vocab"
    new_vocab_file.write_text("\n".join(["doctor", "consultant", "engineer"]))
    new_occupation = fc.embedding_column(
        fc.categorical_column_with_vocabulary_file(
            "occupation", vocabulary_file=str(new_vocab_file), vocabulary_size=3
        ),
        dimension=2,
    )
    occupation_vocab_info = est.VocabInfo(
        new_vocab=new_occupation.categorical_column.vocabulary_file,
        new_vocab_size=3,
        num_oov_buckets=new_occupation.categorical_column.num_oov_buckets,
        old_vocab=occupation.categorical_column.vocabulary_file,
        old_vocab_size=3,
        backup_initializer=lambda key, shape, dtype: np.full(shape, 0.39, dtype),
    )
    warm = est.DNNClassifier(
        hidden_units=[256, 128],
        feature_columns=[new_occupation],
        model_dir=str(tmp_path / "b"),
        n_classes=4,
        optimizer=optax.sgd(learning_rate=0.0),
        warm_start_from=est.WarmStartSettings(
            ckpt_to_initialize_from=source.model_dir,
            var_name_to_vocab_info={OCCUPATION_EMBEDDING_NAME: occupation_vocab_info},
            # None: only the variables of var_name_to_vocab_info warm-start
            vars_to_warm_start=None,
        ),
    )
    warm.train(input_fn=_input_fn, max_steps=1)
    old, new = (_value(e, OURS.format("occupation")) for e in (source, warm))
    np.testing.assert_allclose(old[0], new[0])  # 'doctor' was ID-0 and still ID-0
    np.testing.assert_allclose(old[2], new[1])  # 'consultant' was ID-2, now ID-1
    np.testing.assert_allclose(new[2], [0.39] * 2)  # 'engineer': backup initializer
    for name in warm.get_variable_names():
        if "bias" in name:
            np.testing.assert_allclose(_value(warm, name), 0.0)
        elif "kernel" in name:
            assert not np.allclose(_value(source, name), _value(warm, name))


def test_warm_starting_with_naming_change(tmp_path):
    source = _trained(
        est.DNNClassifier, tmp_path / "a", [_city("locality")], n_classes=4
    )
    warm = est.DNNClassifier(
        hidden_units=[256, 128],
        feature_columns=[_city()],
        model_dir=str(tmp_path / "b"),
        n_classes=4,
        optimizer=optax.sgd(learning_rate=0.0),
        # The 'city' variable correspond to the 'locality' variable in the
        # previous model.
        warm_start_from=est.WarmStartSettings(
            ckpt_to_initialize_from=source.model_dir,
            var_name_to_prev_var_name={
                CITY_EMBEDDING_NAME: CITY_EMBEDDING_NAME.replace("city", "locality")
            },
        ),
    )
    warm.train(input_fn=_input_fn, max_steps=1)
    for name in warm.get_variable_names():
        if "city" in name:
            np.testing.assert_allclose(
                _value(source, name.replace("city", "locality")), _value(warm, name)
            )
        elif name != "global_step":
            np.testing.assert_allclose(_value(source, name), _value(warm, name))


# linear_testing_utils.py, BaseLinearWarmStartingTest
AGE_WEIGHT_NAME = "linear/linear_model/age/weights"
BIAS_NAME = "linear/linear_model/bias_weights"
OCCUPATION_WEIGHT_NAME = "linear/linear_model/occupation/weights"


def _linear_input_fn():
    features = {
        "age": np.array([[23.0], [31.0]], np.float32),
        "age_in_years": np.array([[23.0], [31.0]], np.float32),
        "occupation": np.array([["doctor"], ["consultant"]]),
    }
    return features, np.array([0, 1])


def _trained_linear(model_dir, columns):
    estimator = est.LinearClassifier(
        feature_columns=columns, model_dir=str(model_dir), n_classes=4, optimizer="SGD"
    )
    return estimator.train(input_fn=_linear_input_fn, max_steps=1)


def _warm_linear(model_dir, columns, settings):
    estimator = est.LinearClassifier(
        feature_columns=columns,
        model_dir=str(model_dir),
        n_classes=4,
        optimizer=optax.sgd(learning_rate=0.0),
        warm_start_from=settings,
    )
    return estimator.train(input_fn=_linear_input_fn, max_steps=1)


def _ours(tf_name):
    return f"params/{tf_name}"


def test_linear_warm_starting_selective_variables(tmp_path):
    age = fc.numeric_column("age")
    source = _trained_linear(tmp_path / "a", [age])
    # The provided regular expression will only warm-start the age variable
    # and not the bias.
    warm = _warm_linear(
        tmp_path / "b",
        [age],
        est.WarmStartSettings(source.model_dir, vars_to_warm_start=".*(age).*"),
    )
    np.testing.assert_allclose(
        _value(source, _ours(AGE_WEIGHT_NAME)), _value(warm, _ours(AGE_WEIGHT_NAME))
    )
    # Bias should still be zero from initialization.
    np.testing.assert_allclose(_value(warm, _ours(BIAS_NAME)), [0.0] * 4)


def test_linear_warm_starting_with_vocab_remapping(tmp_path):
    vocab_file = tmp_path / "occupation_vocab"
    vocab_file.write_text("\n".join(["doctor", "lawyer", "consultant"]))
    occupation = fc.categorical_column_with_vocabulary_file(
        "occupation", vocabulary_file=str(vocab_file), vocabulary_size=3
    )
    source = _trained_linear(tmp_path / "a", [occupation])
    new_vocab_file = tmp_path / "new_occupation_vocab"
    new_vocab_file.write_text("\n".join(["doctor", "consultant", "engineer"]))
    occupation_vocab_info = est.VocabInfo(
        new_vocab=str(new_vocab_file),
        new_vocab_size=3,
        num_oov_buckets=occupation.num_oov_buckets,
        old_vocab=occupation.vocabulary_file,
        old_vocab_size=3,
        backup_initializer=lambda key, shape, dtype: np.full(shape, 0.39, dtype),
    )
    warm = _warm_linear(
        tmp_path / "b",
        [occupation],
        est.WarmStartSettings(
            ckpt_to_initialize_from=source.model_dir,
            var_name_to_vocab_info={OCCUPATION_WEIGHT_NAME: occupation_vocab_info},
            # None: only var_name_to_vocab_info's variables (not the bias)
            vars_to_warm_start=None,
        ),
    )
    old, new = (_value(e, _ours(OCCUPATION_WEIGHT_NAME)) for e in (source, warm))
    np.testing.assert_allclose(old[0], new[0])  # 'doctor' was ID-0 and still ID-0
    np.testing.assert_allclose(old[2], new[1])  # 'consultant' was ID-2, now ID-1
    np.testing.assert_allclose(new[2], [0.39] * 4)  # 'engineer': backup initializer
    # Bias should still be zero (from initialization logic).
    np.testing.assert_allclose(_value(warm, _ours(BIAS_NAME)), [0.0] * 4)


def test_linear_warm_starting_with_naming_change(tmp_path):
    source = _trained_linear(tmp_path / "a", [fc.numeric_column("age_in_years")])
    # The 'age' variable correspond to the 'age_in_years' variable in the
    # previous model.
    warm = _warm_linear(
        tmp_path / "b",
        [fc.numeric_column("age")],
        est.WarmStartSettings(
            ckpt_to_initialize_from=source.model_dir,
            var_name_to_prev_var_name={
                AGE_WEIGHT_NAME: AGE_WEIGHT_NAME.replace("age", "age_in_years")
            },
        ),
    )
    np.testing.assert_allclose(
        _value(source, _ours(AGE_WEIGHT_NAME.replace("age", "age_in_years"))),
        _value(warm, _ours(AGE_WEIGHT_NAME)),
    )
    # The bias is also warm-started (with no name remapping).
    np.testing.assert_allclose(
        _value(source, _ours(BIAS_NAME)), _value(warm, _ours(BIAS_NAME))
    )
