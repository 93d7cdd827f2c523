import numpy as np
import pyarrow as pa
import pytest

from estimators import feature_column as fc
from estimators.feature_column import FeatureInputError, hashing

COLORS = ["red", "blue", "green"]


def ids(features, column):
    return fc.transform(features, [column])[column.name]


def test_vocabulary_ids_and_missing_values():
    col = fc.categorical_column_with_vocabulary_list("color", COLORS)
    got = ids({"color": pa.array(["green", None, "", "red"])}, col)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [[2], [-1], [-1], [0]])


def test_unknown_value_without_oov_is_no_value_as_in_tf():
    col = fc.categorical_column_with_vocabulary_list("color", COLORS)
    assert ids({"color": np.array(["purple"])}, col).tolist() == [[-1]]


def test_unknown_value_gets_default_value():
    col = fc.categorical_column_with_vocabulary_list("color", COLORS, default_value=1)
    assert ids({"color": np.array(["purple", "red"])}, col).tolist() == [[1], [0]]


def test_unknown_values_hash_into_oov_buckets_stably():
    col = fc.categorical_column_with_vocabulary_list("color", COLORS, num_oov_buckets=4)
    values = ["purple", "cyan", "purple", "blue"]
    got = ids({"color": pa.array(values)}, col).ravel()
    # OOV id = vocabulary size + fingerprint % oov buckets.
    expected = 3 + hashing.fingerprint64(pa.array(["purple", "cyan"])) % 4
    assert got.tolist() == [expected[0], expected[1], expected[0], 1]
    assert col.num_buckets == 7


def test_integer_vocabulary():
    col = fc.categorical_column_with_vocabulary_list("zip", [94110, 10001])
    assert col.dtype == "int64"
    got = ids({"zip": np.array([10001, 5, -1, 94110])}, col)
    assert got.ravel().tolist() == [1, -1, -1, 0]


def test_string_feature_in_integer_vocabulary_names_row():
    col = fc.categorical_column_with_vocabulary_list("zip", [94110])
    with pytest.raises(FeatureInputError, match=r"feature 'zip'.*row 0: 'abc'"):
        ids({"zip": pa.array(["abc"])}, col)


def test_numbers_in_string_vocabulary_are_an_error():
    col = fc.categorical_column_with_vocabulary_list("color", COLORS)
    with pytest.raises(
        FeatureInputError, match=r"expected strings, got int64 \(row 0: 3\)"
    ):
        ids({"color": np.array([3, 4])}, col)


def test_list_values_are_padded_with_minus_one():
    col = fc.categorical_column_with_vocabulary_list("tags", COLORS)
    values = pa.array([["red", "blue"], [], None, ["green", "mauve", "red"]])
    got = ids({"tags": values}, col)
    np.testing.assert_array_equal(
        got, [[0, 1, -1], [-1, -1, -1], [-1, -1, -1], [2, -1, 0]]
    )


def test_two_dimensional_numpy_strings_and_arrow_flavours():
    col = fc.categorical_column_with_vocabulary_list("c", COLORS)
    matrix = np.array([["red", "blue"], ["green", "red"]])
    assert ids({"c": matrix}, col).tolist() == [[0, 1], [2, 0]]
    chunked = pa.chunked_array([["red"], ["blue", None]])
    assert ids({"c": chunked}, col).ravel().tolist() == [0, 1, -1]
    encoded = pa.array(["green", "red", "green"]).dictionary_encode()
    assert ids({"c": encoded}, col).ravel().tolist() == [2, 0, 2]
    large = pa.array(["blue"], pa.large_string())
    assert ids({"c": large}, col).ravel().tolist() == [1]
    binary = pa.array([b"green"], pa.binary())
    assert ids({"c": binary}, col).ravel().tolist() == [2]


def test_invalid_utf8_names_row():
    col = fc.categorical_column_with_vocabulary_list("c", COLORS)
    with pytest.raises(FeatureInputError, match=r"not valid UTF-8 text \(row 1"):
        ids({"c": pa.array([b"red", b"\xff"], pa.binary())}, col)


def test_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("red\nblue\ngreen\n")
    col = fc.categorical_column_with_vocabulary_file("c", path, vocabulary_size=2)
    assert col.vocabulary_list == ("red", "blue")
    assert col.vocabulary_file == str(path)
    assert ids({"c": np.array(["blue", "green"])}, col).ravel().tolist() == [1, -1]
    with pytest.raises(ValueError, match="`vocabulary_size` is 5 but"):
        fc.categorical_column_with_vocabulary_file("c", path, vocabulary_size=5)
    with pytest.raises(ValueError, match="cannot read `vocabulary_file`"):
        fc.categorical_column_with_vocabulary_file("c", tmp_path / "missing.txt")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocabulary_list": ["a", "a"]}, "duplicate value 'a'"),
        ({"vocabulary_list": ["a", 1]}, "only strings or only"),
        ({"vocabulary_list": "abc"}, "must be a list"),
        ({"vocabulary_list": ["a"], "top_k": 3}, "need `vocabulary_list=None`"),
        (
            {"vocabulary_list": ["a"], "num_oov_buckets": 2, "default_value": 0},
            "not both",
        ),
        ({"vocabulary_list": ["a"], "default_value": 3}, r"in \[0, 1\)"),
        ({"vocabulary_list": None, "top_k": 0}, "`top_k` must be >= 1"),
    ],
)
def test_vocabulary_constructor_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fc.categorical_column_with_vocabulary_list("c", **kwargs)


def _reference_fingerprint(text: str) -> int:
    """Pure-Python FNV-1a 64 + fmix64, the documented definition."""
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) % 2**64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) % 2**64
    return h ^ (h >> 33)


def test_fingerprint_matches_definition_and_pinned_values():
    texts = ["", "a", "hello", "héllo wörld", "x" * 100, "日本"]
    got = hashing.fingerprint64(pa.array(texts)).tolist()
    assert got == [_reference_fingerprint(t) for t in texts]
    # Pinned so that a changed hash (which would silently remap every hashed
    # id in saved models) fails loudly.
    assert got[1] == 9413272369427828315
    assert got[2] == 16844978562278765124


def test_hash_bucket_ids():
    col = fc.categorical_column_with_hash_bucket("city", 10)
    got = ids({"city": pa.array(["a", "hello", None, ""])}, col).ravel()
    # 9413272369427828315 % 10 = 5; 16844978562278765124 % 10 = 4.
    assert got.tolist() == [5, 4, -1, -1]


def test_hash_bucket_hashes_integers_as_text():
    col = fc.categorical_column_with_hash_bucket("code", 1000, dtype="int64")
    got = ids({"code": np.array([7, -1])}, col).ravel()
    assert got.tolist() == [_reference_fingerprint("7") % 1000, -1]


def test_identity_ids_and_missing():
    col = fc.categorical_column_with_identity("d", 5)
    got = ids({"d": pa.array([0, 4, None, -1])}, col).ravel()
    assert got.tolist() == [0, 4, -1, -1]
    assert ids({"d": np.array([1.0, np.nan])}, col).ravel().tolist() == [1, -1]


def test_identity_out_of_range_names_column_row_value_range():
    col = fc.categorical_column_with_identity("digit", 10)
    with pytest.raises(
        FeatureInputError,
        match=r"feature 'digit': id 12 is out of range \[0, 10\) \(row 1\)",
    ):
        ids({"digit": np.array([3, 12])}, col)


def test_identity_default_value_maps_out_of_range():
    col = fc.categorical_column_with_identity("digit", 10, default_value=0)
    assert ids({"digit": np.array([3, 12, -7])}, col).ravel().tolist() == [3, 0, 0]


def test_identity_rejects_fractions_and_text():
    col = fc.categorical_column_with_identity("d", 10)
    with pytest.raises(
        FeatureInputError, match=r"expected integer ids, got 1.5 \(row 0\)"
    ):
        ids({"d": np.array([1.5])}, col)
    with pytest.raises(FeatureInputError, match=r"row 1: 'x'"):
        ids({"d": pa.array(["1", "x"])}, col)


@pytest.mark.parametrize(
    ("factory", "args", "message"),
    [
        (
            fc.categorical_column_with_hash_bucket,
            ("c", 0),
            "`hash_bucket_size` must be >= 1",
        ),
        (
            fc.categorical_column_with_hash_bucket,
            ("c", 3, "float32"),
            "string or integer",
        ),
        (fc.categorical_column_with_identity, ("c", 3, 3), r"in \[0, 3\)"),
        (fc.categorical_column_with_identity, ("c", 2**31), "< 2\\*\\*31"),
    ],
)
def test_constructors_validate(factory, args, message):
    with pytest.raises(ValueError, match=message):
        factory(*args)
