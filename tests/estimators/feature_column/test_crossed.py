import numpy as np
import pyarrow as pa
import pytest

from estimators import feature_column as fc
from estimators.feature_column import hashing


def _expected(parts, size, seed=0xDECAFCAFFE):
    """The documented cross: fold `combine` over part fingerprints from fmix64(seed)."""
    h = hashing.fmix64(np.array([seed], np.uint64))
    for part in parts:
        h = hashing.combine(h, np.array([part], np.uint64))
    return int(h[0] % np.uint64(size))


def test_name_is_sorted_keys_joined_by_X():
    age = fc.bucketized_column(fc.numeric_column("age"), [30])
    assert fc.crossed_column(["state", age], 10).name == "age_bucketized_X_state"


def test_cross_of_string_and_bucketized_matches_definition():
    age = fc.bucketized_column(fc.numeric_column("age"), [30])
    col = fc.crossed_column(["city", age], 1000)
    out = fc.transform(
        {"city": pa.array(["sf", "ny"]), "age": np.array([20.0, 40.0])}, [col]
    )
    sf = hashing.fingerprint64(pa.array(["sf", "ny"]))
    bucket = hashing.mix_ids(np.array([0, 1]))
    expected = [
        _expected([sf[0], bucket[0]], 1000),
        _expected([sf[1], bucket[1]], 1000),
    ]
    assert out[col.name].ravel().tolist() == expected
    assert col.name not in ("city", "age")
    assert "age_bucketized" not in out  # only the cross is emitted


def test_multivalent_cross_is_cartesian_and_missing_propagates():
    col = fc.crossed_column(["a", "b"], 50)
    feats = {
        "a": pa.array([["x", "y"], ["x"], None]),
        "b": pa.array([["p", "q", "r"], [None], ["p"]]),
    }
    got = fc.transform(feats, [col])["a_X_b"]
    assert got.shape == (3, 6)  # 2 values x 3 values
    assert (got[0] >= 0).all()
    assert len(set(got[0].tolist())) > 1
    assert got[1].tolist() == [-1] * 6  # b is null
    assert got[2].tolist() == [-1] * 6  # a is null


def test_order_of_keys_and_hash_key_matter_and_ids_are_stable():
    feats = {"a": np.array(["x", "y"]), "b": np.array(["p", "q"])}
    ab = fc.transform(feats, [fc.crossed_column(["a", "b"], 10**6)])["a_X_b"]
    again = fc.transform(feats, [fc.crossed_column(["a", "b"], 10**6)])["a_X_b"]
    seeded = fc.transform(feats, [fc.crossed_column(["a", "b"], 10**6, hash_key=7)])[
        "a_X_b"
    ]
    np.testing.assert_array_equal(ab, again)
    assert ab.tolist() != seeded.tolist()


def test_integer_key_is_hashed_as_text():
    col = fc.crossed_column(["n", "s"], 97)
    got = fc.transform({"n": np.array([5]), "s": np.array(["z"])}, [col])["n_X_s"]
    parts = hashing.fingerprint64(pa.array(["5", "z"]))
    assert got.tolist() == [[_expected(parts, 97)]]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["a"], "at least 2"),
        ("ab", "list of keys"),
        (["a", 3], "feature name or a categorical column"),
        (["a", fc.categorical_column_with_hash_bucket("h", 5)], "cannot be crossed"),
    ],
)
def test_constructor_validates(keys, message):
    with pytest.raises(ValueError, match=message):
        fc.crossed_column(keys, 10)
