"""Arbitrary values thrown at the host transforms: valid output or our error."""

import contextlib

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators import feature_column as fc
from estimators.feature_column import FeatureInputError

SETTINGS = settings(max_examples=60, deadline=None)

scalars = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(codec=None), max_size=8),  # surrogates included
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.binary(max_size=4),
)
texts = st.one_of(st.none(), st.text(max_size=6))
numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))


def _containers(values):
    """The values as a numpy object array and, if Arrow takes them, an Arrow array."""
    containers = [np.array(values + [None], dtype=object)[:-1]]  # 1-D even if nested
    with contextlib.suppress(pa.ArrowException, ValueError, TypeError, OverflowError):
        containers.append(pa.array(values, from_pandas=True))
    return containers


COLUMNS = [
    fc.numeric_column("v"),
    fc.numeric_column("v", default_value=0.0),
    fc.categorical_column_with_vocabulary_list("v", ["a", "b"], num_oov_buckets=2),
    fc.categorical_column_with_vocabulary_list("v", [1, 2]),
    fc.categorical_column_with_hash_bucket("v", 7),
    fc.categorical_column_with_identity("v", 5),
    fc.categorical_column_with_identity("v", 5, default_value=0),
    fc.bucketized_column(fc.numeric_column("v", default_value=1.0), [0.0, 10.0]),
    fc.crossed_column(["v", "v2"], 13),
]


def _check(out, column, batch):
    value = out[column.name]
    assert value.shape[0] == batch
    if isinstance(column, fc.NumericColumn):
        assert value.dtype == np.float32
        assert not np.isnan(value).any()
    else:
        assert value.dtype == np.int32
        assert ((value >= -1) & (value < column.num_buckets)).all()


@SETTINGS
@given(st.lists(scalars, max_size=6))
def test_any_values_give_valid_output_or_our_error(values):
    for container in _containers(values):
        for column in COLUMNS:
            features = {"v": container, "v2": np.array(["x"] * len(values))}
            try:
                out = fc.transform(features, [column])
            except FeatureInputError:
                continue
            _check(out, column, len(values))


@SETTINGS
@given(st.lists(texts, max_size=8), st.integers(0, 3))
def test_text_columns_accept_any_text(values, oov):
    column = fc.categorical_column_with_vocabulary_list(
        "v", ["a", ""], num_oov_buckets=oov
    )
    for container in _containers(values):
        out = fc.transform({"v": container}, [column])
        _check(out, column, len(values))
        missing = np.array([v is None or v == "" for v in values], bool)
        assert (out["v"].ravel()[missing] == -1).all()


@SETTINGS
@given(st.lists(numbers, max_size=8))
def test_numbers_fill_defaults_or_name_the_row(values):
    # Infinity (or beyond float32) is refused naming the row; missing values
    # take the default, or are refused naming the row without one.
    with np.errstate(over="ignore"):
        infinite = any(v is not None and np.isinf(np.float32(v)) for v in values)
    for container in _containers(values):
        for default in (-1.0, None):
            column = fc.numeric_column("v", default_value=default)
            try:
                out = fc.transform({"v": container}, [column])
            except FeatureInputError as e:
                assert (
                    "value beyond float32 (row" in str(e)
                    or ("infinite value (row" in str(e))
                    or (default is None and "missing value (row" in str(e))
                )
                continue
            assert not infinite
            _check(out, column, len(values))
            assert np.isfinite(out["v"]).all()


@SETTINGS
@given(st.lists(st.lists(texts, max_size=3) | st.none(), max_size=5))
def test_list_values_pad_and_hash(values):
    column = fc.categorical_column_with_hash_bucket("v", 11)
    out = fc.transform({"v": pa.array(values, pa.list_(pa.string()))}, [column])
    _check(out, column, len(values))
    for row, items in enumerate(values):
        present = [v for v in items or [] if v]
        assert (out["v"][row] >= 0).sum() == len(present)
