"""The per-batch fast paths (distinct values, per-process caches) change no result.

Each fast path is compared with a direct, uncached computation on the same
values: `pc.index_in` over the whole batch for vocabularies, `fingerprint64`
of every value for hashes, with nulls, empty strings, unicode and
out-of-vocabulary values; and the caches are checked not to leak between
columns, vocabularies or features.
"""

import gc

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators import feature_column as fc
from estimators.feature_column import (
    encoded_strings,
    hashing,
    raw_values,
    vocabulary,
)
from estimators.feature_column.crossed import DEFAULT_HASH_KEY
from estimators.feature_column.host_context import HostContext

SETTINGS = settings(max_examples=80, deadline=None)
POOL = ["a", "b", "é", "日本", "😀", "a b", "x" * 40, "oov", "\x00", "ß", "Ab"]
texts = st.one_of(
    st.none(), st.just(""), st.sampled_from(POOL), st.text(max_size=6)
)  # st.text may produce "" and any unicode (no surrogates: Arrow needs UTF-8)
vocabularies = st.lists(
    st.one_of(st.sampled_from(POOL), st.text(min_size=1, max_size=4)),
    min_size=1,
    max_size=12,
    unique=True,
)


PATHS = [  # (vocabulary lookup slack, vectorised-hashing threshold)
    (10**9, 10**9),  # dict lookups, cached Python-string fingerprints
    (-(10**9), 0),  # pc.index_in on the distinct values, numpy hashing
]


def _set_paths(slack, vectorised):
    vocabulary._ARROW_LOOKUP_SLACK = slack
    encoded_strings._VECTORISED_HASHING = vectorised


@pytest.fixture(autouse=True)
def _restore_paths():
    saved = vocabulary._ARROW_LOOKUP_SLACK, encoded_strings._VECTORISED_HASHING
    yield
    _set_paths(*saved)


def _clear_caches():
    hashing.text_fingerprints.clear()
    vocabulary._LOOKUPS.clear()
    vocabulary._shared_lookup.cache_clear()


def _reference_vocabulary_ids(column, values):
    """The uncached computation: `pc.index_in` and hashing over every value."""
    strings, _ = raw_values.string_values(values, column.key, allow_numbers=False)
    vocab = pa.array(column.vocabulary_list, pa.large_string())
    ids = pc.index_in(strings, value_set=vocab).fill_null(-1).to_numpy()
    ids = ids.astype(np.int64)
    missing = pc.is_null(strings).to_numpy(zero_copy_only=False)
    unknown = (ids < 0) & ~missing
    if column.num_oov_buckets:
        hashes = hashing.fingerprint64(strings) % np.uint64(column.num_oov_buckets)
        oov = len(column.vocabulary_list) + hashes.astype(np.int64)
        ids = np.where(unknown, oov, ids)
    else:
        ids = np.where(unknown, column.default_value, ids)
    return np.where(missing, -1, ids)


def _reference_fingerprints(values):
    strings, _ = raw_values.string_values(values, "v", allow_numbers=True)
    return hashing.fingerprint64(strings), pc.is_valid(strings).to_numpy(
        zero_copy_only=False
    )


@SETTINGS
@given(
    st.lists(texts, max_size=40),
    vocabularies,
    st.integers(0, 3),
    st.booleans(),
    st.sampled_from(["string", "large_string", "numpy"]),
)
def test_vocabulary_ids_match_uncached_lookup(values, vocab, oov, default, kind):
    default_value = 0 if default and not oov else -1
    column = fc.categorical_column_with_vocabulary_list(
        "v", vocab, num_oov_buckets=oov, default_value=default_value
    )
    if kind == "numpy":
        batch = np.array(values + [None], dtype=object)[:-1]
    else:
        batch = pa.array(values, getattr(pa, kind)())
    expected = _reference_vocabulary_ids(column, batch).tolist()
    for paths in PATHS:
        _set_paths(*paths)
        _clear_caches()
        cold = fc.transform({"v": batch}, [column])["v"].ravel()
        warm = fc.transform({"v": batch}, [column])["v"].ravel()
        assert cold.tolist() == expected
        assert warm.tolist() == expected


@SETTINGS
@given(st.lists(texts, max_size=40), st.lists(texts, max_size=40))
def test_hash_and_cross_ids_match_uncached_hashing(left, right):
    n = min(len(left), len(right))
    a, b = pa.array(left[:n], pa.string()), pa.array(right[:n], pa.string())
    hashed = fc.categorical_column_with_hash_bucket("a", 97)
    crossed = fc.crossed_column(["a", "b"], 1009)
    fa, va = _reference_fingerprints(a)
    fb, vb = _reference_fingerprints(b)
    start = hashing.fmix64(np.full(n, DEFAULT_HASH_KEY, np.uint64))
    cross = hashing.combine(hashing.combine(start, fa), fb) % np.uint64(1009)
    cross = cross.astype(np.int64)
    for paths in PATHS * 2:  # each path cold, then warm
        _set_paths(*paths)
        if paths == PATHS[0]:
            _clear_caches()
        out = fc.transform({"a": a, "b": b}, [hashed, crossed])
        got_hash, got_cross = out["a"].ravel(), out["a_X_b"].ravel()
        assert (
            got_hash.tolist()
            == np.where(va, (fa % np.uint64(97)).astype(np.int64), -1).tolist()
        )
        assert got_cross.tolist() == np.where(va & vb, cross, -1).tolist()


@SETTINGS
@given(
    st.lists(st.one_of(st.none(), st.lists(texts, max_size=4)), max_size=12),
    st.sampled_from([pa.string(), pa.large_string(), pa.binary()]),
)
def test_string_codes_equal_string_values(rows, kind):
    if kind == pa.binary():
        rows = [
            None if r is None else [None if v is None else v.encode() for v in r]
            for r in rows
        ]
    firsts = [r[0] if r else None for r in rows]
    for batch in (pa.array(rows, pa.list_(kind)), pa.array(firsts, kind)):
        values, layout = raw_values.string_values(batch, "v", allow_numbers=False)
        codes = encoded_strings.string_codes(batch, "v", allow_numbers=False)
        rebuilt = [None if c < 0 else codes.texts()[c] for c in codes.codes]
        assert rebuilt == values.to_pylist()
        assert (codes.layout.batch, codes.layout.width) == (layout.batch, layout.width)
        assert np.array_equal(codes.layout.rows, layout.rows)
        assert np.array_equal(codes.layout.cols, layout.cols)
        expected = hashing.fingerprint64(codes.dictionary).tolist()
        assert codes.fingerprints().tolist() == expected


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.binary(max_size=70)), min_size=1, max_size=30))
def test_fingerprint_paths_agree(values):
    array = pa.array(values, pa.binary())
    matrix = hashing.fingerprint64(array)
    assert hashing.fingerprint64(array.slice(1)).tolist() == matrix[1:].tolist()
    starts, lengths, data = hashing._offsets_and_data(array)
    prefix = hashing.fmix64(hashing._fnv_prefix(starts, lengths, data))
    assert prefix.tolist() == matrix.tolist()


def test_fingerprint_long_strings_use_the_prefix_path():
    texts_ = ["x" * 5000, "y", "", None, "é" * 3000]
    array = pa.array(texts_ * 300)  # over _MATRIX_LIMIT padded bytes
    got = hashing.fingerprint64(array)
    assert got.tolist() == hashing.fingerprint64(pa.array(texts_)).tolist() * 300


def test_fingerprint_cache_is_bounded_and_exact():
    cache = hashing.FingerprintCache(max_entries=8)
    rng = np.random.default_rng(0)
    for _ in range(50):
        batch = [f"v{i}" for i in rng.integers(0, 30, rng.integers(0, 12))]
        expected = hashing.fingerprint64(pa.array(batch, pa.string()))
        assert cache(batch).tolist() == expected.tolist()
        assert len(cache) <= 8
    assert cache(["v1"] * 20).tolist() == [cache(["v1"]).tolist()[0]] * 20
    assert hashing.FingerprintCache(max_entries=2)(["a", "b", "c"]).shape == (3,)


def test_vocabulary_caches_do_not_leak_between_vocabularies():
    batch = {"v": pa.array(["a", "b", "c", None])}
    first = fc.categorical_column_with_vocabulary_list("v", ["a", "b"])
    second = fc.categorical_column_with_vocabulary_list("v", ["b", "a", "c"])
    oov = fc.categorical_column_with_vocabulary_list("v", ["c"], num_oov_buckets=5)
    for _ in range(2):
        assert fc.transform(batch, [first])["v"].ravel().tolist() == [0, 1, -1, -1]
        assert fc.transform(batch, [second])["v"].ravel().tolist() == [1, 0, 2, -1]
        got = fc.transform(batch, [oov])["v"].ravel().tolist()
        assert got[2:] == [0, -1] and all(1 <= i < 6 for i in got[:2])
    # Equal vocabularies share one table; different ones never do.
    copy = fc.categorical_column_with_vocabulary_list("w", ["a", "b"])
    assert vocabulary._lookup(first) is vocabulary._lookup(copy)
    assert vocabulary._lookup(first) is not vocabulary._lookup(second)
    # A dead column's entry goes with it, so a new column (maybe at the same
    # address) gets its own vocabulary.
    for i in range(20):
        column = fc.categorical_column_with_vocabulary_list("v", [f"z{i}", "a"])
        assert fc.transform(batch, [column])["v"].ravel().tolist() == [1, -1, -1, -1]
        del column
        gc.collect()
    assert len(vocabulary._LOOKUPS) < 20


def test_columns_stay_equal_hashable_and_picklable_after_transform():
    import pickle

    column = fc.categorical_column_with_vocabulary_list("v", ["a", "b"])
    before = (hash(column), pickle.dumps(column), vars(column).copy())
    fc.transform({"v": pa.array(["a"])}, [column])
    assert (hash(column), pickle.dumps(column), vars(column)) == before


def test_integer_vocabulary_ids_match_index_in():
    rng = np.random.default_rng(1)
    vocab = [int(v) for v in rng.choice(np.arange(-50, 50), 30, replace=False)]
    column = fc.categorical_column_with_vocabulary_list("v", vocab, num_oov_buckets=3)
    values = rng.integers(-60, 60, 200)
    got = fc.transform({"v": values}, [column])["v"].ravel()
    found = pc.index_in(pa.array(values), value_set=pa.array(vocab)).fill_null(-1)
    found = found.to_numpy()
    oov = 30 + (hashing.fingerprint64(pa.array(values.astype(str))) % np.uint64(3))
    expected = np.where(found >= 0, found, oov.astype(np.int64))
    assert got.tolist() == np.where(values == -1, -1, expected).tolist()


@pytest.mark.parametrize("hash_first", [True, False])
def test_shared_encoding_keeps_the_string_check(hash_first):
    """A hash column may read integers as text; a vocabulary column on the same
    feature still rejects them, whichever reads the batch first."""
    hashed = fc.categorical_column_with_hash_bucket("v", 10)
    vocab = fc.categorical_column_with_vocabulary_list("w", ["1"])
    crossed = fc.crossed_column(["v", vocab], 10)
    columns = [crossed, fc.categorical_column_with_vocabulary_list("v", ["1"])]
    features = {"v": np.array([1, 2]), "w": pa.array(["1", "x"])}
    with pytest.raises(fc.FeatureInputError, match="expected strings, got int64"):
        fc.transform(features, columns if hash_first else columns[::-1])
    ctx = HostContext(features)
    assert (
        ctx.ids(hashed).ravel().tolist()
        == fc.transform({"v": pa.array(["1", "2"])}, [hashed])["v"].ravel().tolist()
    )


def test_large_batches_take_the_vectorised_paths():
    """Thousands of distinct values: `pc.index_in` and numpy hashing, same ids."""
    rng = np.random.default_rng(2)
    words = np.array([f"w{i}é" for i in range(6000)] + ["", None], dtype=object)
    batch = pa.array(words[rng.integers(0, len(words), 20_000)].tolist())
    vocab = fc.categorical_column_with_vocabulary_list(
        "v", [f"w{i}é" for i in range(0, 6000, 3)], num_oov_buckets=7
    )
    hashed = fc.categorical_column_with_hash_bucket("v", 1000)
    strings = encoded_strings.string_codes(batch, "v", allow_numbers=False)
    assert 4 * len(strings.dictionary) > 2000 + vocabulary._ARROW_LOOKUP_SLACK
    assert len(strings.dictionary) >= encoded_strings._VECTORISED_HASHING
    out = fc.transform({"v": batch}, [vocab])
    assert out["v"].ravel().tolist() == _reference_vocabulary_ids(vocab, batch).tolist()
    fingerprints, valid = _reference_fingerprints(batch)
    got = fc.transform({"v": batch}, [hashed])["v"].ravel()
    expected = (fingerprints % np.uint64(1000)).astype(np.int64)
    assert got.tolist() == np.where(valid, expected, -1).tolist()
