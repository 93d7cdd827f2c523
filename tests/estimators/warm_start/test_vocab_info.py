"""`VocabInfo`: rows (or columns) remapped by token, with tf's own test numbers
(tensorflow/python/training/warm_starting_util_test.py), from our checkpoints
and from TensorFlow's."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import estimators as est
from estimators.warm_start import warm_start

OLD_FRUITS = ["apple", "banana", "guava", "orange"]
# reversed, plus new entries
NEW_FRUITS = ["orange", "guava", "banana", "apple", "raspberry", "blueberry"]


def _vocab_file(tmp_path, tokens, name):
    path = tmp_path / name
    path.write_text("\n".join(tokens))
    return str(path)


@pytest.fixture
def fresh(nested):
    """Fresh variables (zeros) of the given names and shapes."""
    return lambda shapes: nested({k: np.zeros(s) for k, s in shapes.items()})


def _value(variables, name):
    node = variables
    for part in name.split("/"):
        node = node[part]
    return np.asarray(node)


def test_rows_follow_their_tokens(tmp_path, write_checkpoint, fresh):
    # testWarmStartVarWithVocab
    path = write_checkpoint({"params/fruit_weights": [[0.5], [1.0], [1.5], [2.0]]})
    info = est.VocabInfo(
        new_vocab=_vocab_file(tmp_path, NEW_FRUITS[:5], "new_vocab"),
        new_vocab_size=5,
        num_oov_buckets=0,
        old_vocab=_vocab_file(tmp_path, OLD_FRUITS, "old_vocab"),
    )
    settings = est.WarmStartSettings(
        path, var_name_to_vocab_info={"fruit_weights": info}
    )
    variables, report = warm_start(fresh({"params/fruit_weights": (5, 1)}), settings)
    # orange, guava, banana, apple take their old rows; raspberry is new: zeros
    np.testing.assert_allclose(
        _value(variables, "params/fruit_weights"), [[2.0], [1.5], [1.0], [0.5], [0.0]]
    )
    assert report.remapped == ["params/fruit_weights"] == report.loaded


def test_columns_follow_their_tokens_with_axis_1(write_checkpoint, fresh):
    # testWarmStartVarWithColumnVocab: an output layer over class names
    old = [[0.5, 0.3], [1.0, 0.8], [1.5, 1.2], [2.0, 2.3]]
    path = write_checkpoint({"params/fruit_output_layer": old})
    info = est.VocabInfo(
        ["orange", "apple", "banana"], 3, 0, ["apple", "orange"], axis=1
    )
    settings = est.WarmStartSettings(
        path, var_name_to_vocab_info={"fruit_output_layer": info}
    )
    variables, _ = warm_start(fresh({"params/fruit_output_layer": (4, 3)}), settings)
    np.testing.assert_allclose(
        _value(variables, "params/fruit_output_layer"),
        [[0.3, 0.5, 0.0], [0.8, 1.0, 0.0], [1.2, 1.5, 0.0], [2.3, 2.0, 0.0]],
    )


def test_old_vocab_size_limits_the_old_vocabulary(write_checkpoint, fresh):
    # testWarmStartVarWithVocabConstrainedOldVocabSize: old vocabulary limited
    # to ['apple', 'banana']
    path = write_checkpoint({"params/fruit_weights": [[0.5], [1.0], [1.5], [2.0]]})
    info = est.VocabInfo(NEW_FRUITS[:5], 5, 0, OLD_FRUITS, old_vocab_size=2)
    settings = est.WarmStartSettings(
        path, var_name_to_vocab_info={"fruit_weights": info}
    )
    variables, _ = warm_start(fresh({"params/fruit_weights": (5, 1)}), settings)
    np.testing.assert_allclose(
        _value(variables, "params/fruit_weights"), [[0.0], [0.0], [1.0], [0.5], [0.0]]
    )


def test_oov_rows_are_initialised_not_loaded(write_checkpoint, fresh):
    # testWarmStartVarWithVocabCurrentVarPartitioned: 5 tokens + 1 OOV bucket
    path = write_checkpoint({"params/fruit_weights": [[0.5], [1.0], [1.5], [2.0]]})
    info = est.VocabInfo(NEW_FRUITS[:5], 5, 1, OLD_FRUITS)
    settings = est.WarmStartSettings(
        path, var_name_to_vocab_info={"fruit_weights": info}
    )
    variables, _ = warm_start(fresh({"params/fruit_weights": (6, 1)}), settings)
    np.testing.assert_allclose(
        _value(variables, "params/fruit_weights"),
        [[2.0], [1.5], [1.0], [0.5], [0.0], [0.0]],
    )


def test_both_vocabulary_sizes_are_constrained(tmp_path, write_checkpoint, fresh):
    # testWarmStart_SparseColumnVocabularyConstrainedVocabSizes: new
    # ['apple', 'banana'] of 4, old ['apple', 'guava'] of 3; 'banana' isn't in
    # the first two entries of the old vocabulary, so it's newly initialized.
    path = write_checkpoint({"params/linear_model/sc_vocab/weights": np.ones((2, 1))})
    info = est.VocabInfo(
        new_vocab=_vocab_file(tmp_path, ["apple", "banana", "guava", "orange"], "new"),
        new_vocab_size=2,
        num_oov_buckets=0,
        old_vocab=_vocab_file(tmp_path, ["apple", "guava", "banana"], "old"),
        old_vocab_size=2,
    )
    settings = est.WarmStartSettings(
        path,
        vars_to_warm_start=".*sc_vocab.*",
        var_name_to_vocab_info={"linear_model/sc_vocab/weights": info},
    )
    shapes = {"params/linear_model/sc_vocab/weights": (2, 1)}
    variables, _ = warm_start(fresh(shapes), settings)
    np.testing.assert_allclose(
        _value(variables, "params/linear_model/sc_vocab/weights"), [[1.0], [0.0]]
    )


def _more_settings_checkpoint(write_checkpoint, fresh):
    rng = np.random.default_rng(0)
    keys = rng.uniform(size=(4, 1))
    path = write_checkpoint(
        {
            "params/linear_model/sc_hash/weights": rng.normal(size=(15, 1)),
            "params/some_other_name": keys,
            "params/linear_model/sc_vocab/weights": [[0.5], [1.0], [2.0], [3.0]],
        }
    )
    shapes = {
        "params/linear_model/sc_hash/weights": (15, 1),
        "params/linear_model/sc_keys/weights": (4, 1),
        "params/linear_model/sc_vocab/weights": (6, 1),
    }
    return path, fresh(shapes), keys


@pytest.mark.parametrize("selection", [".*(sc_keys|sc_vocab).*", None])
def test_more_settings(write_checkpoint, selection, fresh):
    # testWarmStartMoreSettingsNoPartitioning and testWarmStartVarsToWarmstartIsNone
    path, variables, keys = _more_settings_checkpoint(write_checkpoint, fresh)
    settings = est.WarmStartSettings(
        path,
        vars_to_warm_start=selection,
        var_name_to_vocab_info={
            "linear_model/sc_vocab/weights": est.VocabInfo(NEW_FRUITS, 6, 0, OLD_FRUITS)
        },
        var_name_to_prev_var_name={"linear_model/sc_keys/weights": "some_other_name"},
    )
    variables, report = warm_start(variables, settings)
    # sc_hash is not selected; sc_vocab is remapped; sc_keys comes from its old
    # name, unless vars_to_warm_start=None (then only VocabInfo variables load)
    value = lambda name: _value(variables, f"params/linear_model/{name}/weights")  # noqa: E731
    np.testing.assert_allclose(value("sc_hash"), np.zeros((15, 1)))
    np.testing.assert_allclose(
        value("sc_keys"), keys if selection else np.zeros((4, 1)), rtol=1e-6
    )
    np.testing.assert_allclose(
        value("sc_vocab"), [[3.0], [2.0], [1.0], [0.5], [0.0], [0.0]]
    )
    assert report.remapped == ["params/linear_model/sc_vocab/weights"]


def test_backup_initializer_fills_new_rows(write_checkpoint, fresh):
    # testWarmStartEmbeddingColumn: missing rows take the backup initializer
    old = [[0.5, 0.4], [1.0, 1.1], [2.0, 2.2], [3.0, 3.3]]
    name = "params/input_layer/sc_vocab_embedding/embedding_weights"
    path = write_checkpoint({name: old})
    info = est.VocabInfo(
        NEW_FRUITS,
        6,
        0,
        OLD_FRUITS,
        backup_initializer=jax.nn.initializers.constant(0.42),
    )
    settings = est.WarmStartSettings(
        path,
        var_name_to_vocab_info={
            "input_layer/sc_vocab_embedding/embedding_weights": info
        },
    )
    variables, _ = warm_start(fresh({name: (6, 2)}), settings)
    np.testing.assert_allclose(
        _value(variables, name),
        [[3.0, 3.3], [2.0, 2.2], [1.0, 1.1], [0.5, 0.4], [0.42, 0.42], [0.42, 0.42]],
        rtol=1e-6,
    )


def test_vocab_info_is_validated_where_built():
    with pytest.raises(ValueError, match="supported values of `axis` are 0 and 1"):
        est.VocabInfo(["a"], 1, 0, ["a"], axis=2)
    with pytest.raises(
        ValueError, match="`old_vocab_size` must be a positive int or -1"
    ):
        est.VocabInfo(["a"], 1, 0, ["a"], old_vocab_size=0)
    with pytest.raises(ValueError, match="`new_vocab` is required"):
        est.VocabInfo([], 1, 0, ["a"])


def test_a_vocab_info_that_does_not_fit_its_variable_names_both(
    write_checkpoint, fresh
):
    path = write_checkpoint({"params/w": np.ones((4, 1))})
    info = est.VocabInfo(NEW_FRUITS, 6, 1, OLD_FRUITS)  # 7 rows, the variable has 6
    settings = est.WarmStartSettings(path, var_name_to_vocab_info={"w": info})
    with pytest.raises(ValueError, match=r"'params/w'.*6 entries.*6 \+ 1 = 7"):
        warm_start(fresh({"params/w": (6, 1)}), settings)
    duplicated = est.VocabInfo(NEW_FRUITS, 6, 0, ["apple", "apple"])
    settings = est.WarmStartSettings(path, var_name_to_vocab_info={"w": duplicated})
    with pytest.raises(ValueError, match="holds 'apple' twice"):
        warm_start(fresh({"params/w": (6, 1)}), settings)
