"""Large blocks take fast paths that change no id and no error message.

A dictionary-encoded string array (a `pa.DictionaryArray`, or a ChunkedArray
of them, as Parquet row groups decode) is looked up through its dictionary; a
slice of one keeps only the dictionary entries it uses; a long plain string
array is looked up row by row with `pc.index_in`. Each is compared with the
same values given as a plain Arrow string array on the distinct-values path,
for vocabulary, hash-bucket and crossed columns, and a block transformed at
once is compared with its batches transformed one by one.
"""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators import feature_column as fc
from estimators.feature_column import vocabulary

SETTINGS = settings(max_examples=60, deadline=None)
POOL = ["a", "b", "é", "日本", "😀", "a b", "x" * 40, "oov", "\x00", "ß", "Ab", ""]
texts = st.one_of(st.none(), st.sampled_from(POOL), st.text(max_size=5))
vocabularies = st.lists(
    st.one_of(st.sampled_from(POOL), st.text(max_size=4)),
    min_size=1,
    max_size=12,
    unique=True,
)  # "" may be in a vocabulary: it still means "no value"


@pytest.fixture(autouse=True)
def _restore_row_lookup():
    saved = vocabulary._ROW_LOOKUP_SLACK
    yield
    vocabulary._ROW_LOOKUP_SLACK = saved


def _columns(vocab, oov, default):
    default_value = 0 if default and not oov else -1
    return [
        fc.categorical_column_with_vocabulary_list(
            "v", vocab, num_oov_buckets=oov, default_value=default_value
        ),
        fc.categorical_column_with_hash_bucket("h", 97),
        fc.crossed_column(["h", "w"], 1009),
    ]


def _reference(columns, values, other):
    """The distinct-values path on plain string arrays (no row lookup)."""
    vocabulary._ROW_LOOKUP_SLACK = 10**9
    plain = pa.array(values, pa.string())
    features = {"v": plain, "h": plain, "w": pa.array(other, pa.string())}
    out = fc.transform(features, columns)
    return {c.name: out[c.name].tolist() for c in columns}


def _as_dictionary(values, extra):
    """A DictionaryArray whose dictionary has unused, duplicated and null entries."""
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    dictionary = [*extra, None, *distinct, *distinct[:1]]
    position = {v: len(extra) + 1 + i for i, v in enumerate(distinct)}
    indices = pa.array([None if v is None else position[v] for v in values], pa.int16())
    return pa.DictionaryArray.from_arrays(indices, pa.array(dictionary, pa.string()))


def _check(columns, features, expected):
    out = fc.transform(features, columns)
    got = {name: out[name].tolist() for name in expected}
    assert got == expected


@SETTINGS
@given(
    st.lists(texts, min_size=1, max_size=40),
    vocabularies,
    st.integers(0, 3),
    st.booleans(),
    st.data(),
)
def test_dictionary_arrays_give_the_ids_of_plain_arrays(
    values, vocab, oov, default, data
):
    columns = _columns(vocab, oov, default)
    other = data.draw(st.lists(texts, min_size=len(values), max_size=len(values)))
    expected = _reference(columns, values, other)
    extra = data.draw(st.lists(st.sampled_from(POOL), max_size=60))
    encoded = _as_dictionary(values, extra)
    _check(columns, {"v": encoded, "h": encoded, "w": pa.array(other)}, expected)
    # Chunks with different dictionaries (unified), and a sliced dictionary array.
    cut = data.draw(st.integers(0, len(values)))
    chunked = pa.chunked_array(
        [_as_dictionary(values[:cut], extra[::-1]), _as_dictionary(values[cut:], [])],
        pa.dictionary(pa.int16(), pa.string()),
    )
    _check(
        columns, {"v": chunked, "h": chunked, "w": pa.chunked_array([other])}, expected
    )
    padded = _as_dictionary([*extra[:3], *values, *extra[:2]], extra)
    sliced = padded.slice(len(extra[:3]), len(values))
    _check(columns, {"v": sliced, "h": sliced, "w": pa.array(other)}, expected)


@SETTINGS
@given(
    st.lists(texts, min_size=1, max_size=40),
    vocabularies,
    st.integers(0, 3),
    st.booleans(),
    st.sampled_from([pa.string(), pa.large_string()]),
)
def test_row_lookup_gives_the_ids_of_distinct_values(values, vocab, oov, default, kind):
    column = _columns(vocab, oov, default)[0]
    expected = _reference([column], values, values)["v"]
    vocabulary._ROW_LOOKUP_SLACK = -(10**9)  # every plain string array
    batch = pa.array(values, kind)
    assert vocabulary._lookup(column).looks_up_rows(batch)
    assert fc.transform({"v": batch}, [column])["v"].tolist() == expected
    sliced = pa.array(["pad", *values, "pad"], kind).slice(1, len(values))
    assert fc.transform({"v": sliced}, [column])["v"].tolist() == expected


def test_a_block_transformed_at_once_equals_its_batches():
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(3000)] + ["", None], dtype=object)
    rows = 20_000
    raw = {
        key: pa.array(words[rng.integers(0, len(words), rows)].tolist())
        for key in ("v", "h")
    }
    raw["x"] = rng.normal(size=rows)
    columns = [
        fc.categorical_column_with_vocabulary_list(
            "v", [f"w{i}" for i in range(0, 3000, 2)], num_oov_buckets=5
        ),
        fc.categorical_column_with_hash_bucket("h", 1000),
        fc.crossed_column(["v", "h"], 1009),
        fc.numeric_column("x"),
    ]
    for block in (raw, {**raw, "v": raw["v"].dictionary_encode()}):
        whole = fc.transform(block, columns)
        assert vocabulary._lookup(columns[0]).looks_up_rows(block["v"]) == (
            block is raw
        )
        for start in range(0, rows, 1024):
            batch = {k: v[start : start + 1024] for k, v in block.items()}
            part = fc.transform(batch, columns)
            for name in ("v", "h", "h_X_v", "x"):
                np.testing.assert_array_equal(
                    part[name], whole[name][start : start + 1024]
                )
                assert part[name].dtype == whole[name].dtype


def test_dictionary_arrays_keep_the_error_messages():
    numbers = pa.array([1, 2, 1]).dictionary_encode()
    column = fc.categorical_column_with_vocabulary_list("v", ["1"])
    with pytest.raises(fc.FeatureInputError) as plain:
        fc.transform({"v": numbers.dictionary_decode()}, [column])
    with pytest.raises(fc.FeatureInputError) as encoded:
        fc.transform({"v": numbers}, [column])
    assert str(encoded.value) == str(plain.value)
    assert "expected strings, got int64 (row 0: 1)" in str(plain.value)
    with pytest.raises(fc.FeatureInputError, match="has 2 rows but feature 'v'"):
        fc.transform(
            {"v": pa.array(["a"] * 3).dictionary_encode(), "w": pa.array(["a"] * 2)},
            [column, fc.categorical_column_with_hash_bucket("w", 3)],
        )
