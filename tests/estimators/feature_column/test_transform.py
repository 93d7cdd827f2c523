import numpy as np
import pyarrow as pa
import pytest

from estimators import feature_column as fc
from estimators.feature_column import FeatureInputError

COLOR = fc.categorical_column_with_vocabulary_list("color", ["red", "blue"])


def test_unconsumed_features_pass_through_and_consumed_are_replaced():
    extra = pa.array(["keep", "me"])
    out = fc.transform(
        {"color": pa.array(["blue", "red"]), "note": extra, "w": np.ones(2)},
        [fc.indicator_column(COLOR)],
    )
    assert set(out) == {"color", "note", "w"}
    assert out["note"] is extra
    assert out["color"].ravel().tolist() == [1, 0]


def test_missing_feature_names_it_and_lists_available():
    with pytest.raises(
        FeatureInputError,
        match=r"feature 'color' \(read by column 'color'\) is missing; available "
        r"features: \['age', 'zip'\]",
    ):
        fc.transform({"age": np.ones(2), "zip": np.ones(2)}, [COLOR])


def test_batch_size_mismatch_is_an_error():
    cols = [fc.numeric_column("a"), fc.numeric_column("b")]
    with pytest.raises(FeatureInputError, match="'b' has 3 rows but feature 'a' has 2"):
        fc.transform({"a": np.ones(2), "b": np.ones(3)}, cols)


def test_open_vocabulary_needs_analyze():
    col = fc.categorical_column_with_vocabulary_list("color", top_k=5)
    with pytest.raises(
        FeatureInputError,
        match=r"column 'color' needs analyze\(\) first: its vocabulary",
    ):
        fc.transform({"color": np.array(["a"])}, [fc.embedding_column(col, 2)])


def test_two_columns_writing_one_key_is_an_error():
    hashed = fc.categorical_column_with_hash_bucket("color", 5)
    with pytest.raises(
        FeatureInputError, match="both produce the transformed feature 'color'"
    ):
        fc.transform({"color": np.array(["a"])}, [COLOR, hashed])


def test_same_column_through_two_wrappers_is_fine():
    cols = [fc.indicator_column(COLOR), fc.embedding_column(COLOR, 3)]
    out = fc.transform({"color": np.array(["blue"])}, cols)
    assert out["color"].tolist() == [[1]]


def test_weighted_column_emits_ids_and_weights():
    ids = fc.categorical_column_with_identity("word", 10)
    col = fc.weighted_categorical_column(ids, "tfidf")
    feats = {
        "word": pa.array([[1, 2], [3], []]),
        "tfidf": pa.array([[0.5, 2.0], [1.5], []]),
    }
    out = fc.transform(feats, [col])
    assert out["word_weighted_by_tfidf"].tolist() == [[1, 2], [3, -1], [-1, -1]]
    assert out["word_weighted_by_tfidf/weights"].tolist() == [
        [0.5, 2.0],
        [1.5, 0],
        [0, 0],
    ]
    assert out["word_weighted_by_tfidf/weights"].dtype == np.float32


def test_weighted_column_shape_mismatch_and_missing_weight():
    col = fc.weighted_categorical_column(
        fc.categorical_column_with_identity("w", 5), "x"
    )
    with pytest.raises(FeatureInputError, match="do not match"):
        fc.transform({"w": np.array([[1, 2]]), "x": np.array([1.0])}, [col])
    with pytest.raises(FeatureInputError, match=r"missing weight \(row 1"):
        fc.transform({"w": np.array([1, 2]), "x": np.array([1.0, np.nan])}, [col])


EVERY_COLUMN = [
    fc.numeric_column("n", shape=2, default_value=0.0),
    fc.bucketized_column(fc.numeric_column("m"), [0.0, 1.0]),
    fc.indicator_column(COLOR),
    fc.categorical_column_with_hash_bucket("h", 7),
    fc.categorical_column_with_identity("i", 3),
    fc.crossed_column(["h", "color"], 11),
    fc.weighted_categorical_column(fc.categorical_column_with_identity("j", 3), "jw"),
]


def test_empty_batch_works_for_every_column():
    feats = {
        "n": np.zeros((0, 2)),
        "m": np.zeros(0),
        "color": pa.array([], pa.string()),
        "h": np.array([], dtype=str),
        "i": np.array([], np.int64),
        "j": np.array([], np.int64),
        "jw": np.array([], np.float32),
    }
    out = fc.transform(feats, EVERY_COLUMN)
    assert out["n"].shape == (0, 2)
    for name in (
        "m_bucketized",
        "color",
        "h",
        "i",
        "h_X_color" if False else "color_X_h",
        "j_weighted_by_jw",
    ):
        assert out[name].shape[0] == 0 and out[name].dtype == np.int32


def test_features_must_be_a_dict():
    with pytest.raises(FeatureInputError, match="features must be a dict"):
        fc.transform([1, 2], [COLOR])


def test_columns_argument_is_checked():
    with pytest.raises(TypeError, match="must contain feature columns"):
        fc.transform({}, ["color"])


def test_make_parse_example_spec():
    spec = fc.make_parse_example_spec(EVERY_COLUMN)
    assert spec["n"] == fc.FixedLenFeature((2,), "float32", (0.0, 0.0))
    assert spec["m"] == fc.FixedLenFeature((1,), "float32", None)
    assert spec["color"] == fc.VarLenFeature("string")
    assert spec["i"] == fc.VarLenFeature("int64")
    assert spec["jw"] == fc.VarLenFeature("float32")
    assert set(spec) == {"n", "m", "color", "h", "i", "j", "jw"}
    with pytest.raises(ValueError, match="two different specs"):
        fc.make_parse_example_spec(
            [fc.numeric_column("n"), fc.numeric_column("n", shape=2)]
        )
