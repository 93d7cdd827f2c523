import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest

from estimators import feature_column as fc
from estimators.feature_column import FeatureInputError


def test_transform_gives_float32_batch_by_shape():
    col = fc.numeric_column("x", shape=(2,))
    out = fc.transform({"x": np.arange(6).reshape(3, 2)}, [col])
    assert out["x"].dtype == np.float32
    np.testing.assert_array_equal(out["x"], [[0, 1], [2, 3], [4, 5]])


def test_rank1_feature_becomes_column_vector():
    out = fc.transform({"age": np.array([1, 2, 3])}, [fc.numeric_column("age")])
    assert out["age"].shape == (3, 1)


def test_matrix_shape_and_fixed_size_lists():
    col = fc.numeric_column("p", shape=(2, 2))
    lists = pa.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    out = fc.transform({"p": lists}, [col])
    assert out["p"].shape == (2, 2, 2)
    assert out["p"][1, 1, 0] == 7.0


def test_default_value_fills_nulls_and_nans_silently():
    col = fc.numeric_column("age", default_value=-1.0)
    out = fc.transform({"age": pa.array([1.0, None, float("nan")])}, [col])
    np.testing.assert_array_equal(out["age"].ravel(), [1.0, -1.0, -1.0])


def test_null_without_default_names_row():
    col = fc.numeric_column("age")
    with pytest.raises(
        FeatureInputError, match=r"feature 'age': missing value \(row 2"
    ):
        fc.transform({"age": pa.array([1.0, 2.0, None])}, [col])


def test_nan_without_default_names_row():
    with pytest.raises(FeatureInputError, match=r"row 1: null or NaN"):
        fc.transform({"a": np.array([0.5, np.nan])}, [fc.numeric_column("a")])


def test_string_in_numeric_column_names_row_and_value():
    values = pa.array(["3", "4.5", "n/a", "7"])
    with pytest.raises(
        FeatureInputError,
        match=r"feature 'age': expected a numeric column, got string \(row 2: 'n/a'\)",
    ):
        fc.transform({"age": values}, [fc.numeric_column("age")])


def test_numeric_text_is_parsed():
    out = fc.transform(
        {"age": np.array([" 3", "4.5e1", "-2"])}, [fc.numeric_column("age")]
    )
    np.testing.assert_array_equal(out["age"].ravel(), [3.0, 45.0, -2.0])
    # Parsed infinity is refused like any other (issue 14: NaN outputs, no error).
    with pytest.raises(FeatureInputError, match=r"row 2: -inf"):
        fc.transform({"age": np.array(["3", "4", "-inf"])}, [fc.numeric_column("age")])


def test_object_array_mixing_numbers_and_text_names_row():
    values = np.array([1.0, None, "abc"], dtype=object)
    col = fc.numeric_column("a", default_value=0.0)
    with pytest.raises(FeatureInputError, match=r"row 2: 'abc'"):
        fc.transform({"a": values}, [col])


def test_wrong_width_names_expected_shape():
    with pytest.raises(FeatureInputError, match=r"expected 3 value\(s\) per row"):
        fc.transform({"x": np.zeros((2, 2))}, [fc.numeric_column("x", shape=3)])


def test_model_accepts_raw_or_transformed_features_under_jit():
    # (x - mean) / std with mean 2, std 4 after filling NaN with 6.
    col = fc.numeric_column("x", shape=2, default_value=6.0)
    col = col.__class__(
        **{
            **col.__dict__,
            "normalizer": "zscore",
            "mean": (2.0, 2.0),
            "std": (4.0, 0.0),
        }
    )
    raw = {"x": np.array([[2.0, np.nan], [10.0, 3.0]])}
    host = fc.transform(raw, [col])
    jitted = jax.jit(lambda f: fc.input_layer(f, [col]))
    expected = [[0.0, 4.0], [2.0, 1.0]]  # (2-2)/4, 6-2 (std 0), (10-2)/4, 3-2
    np.testing.assert_allclose(jitted(raw), expected)
    np.testing.assert_allclose(jitted(host), expected)


def test_normalizer_fn_runs_in_model():
    col = fc.numeric_column("x", normalizer_fn=lambda v: v * 2 + 1)
    out = fc.input_layer({"x": jnp.array([1.0, 2.0])}, [col])
    np.testing.assert_allclose(out, [[3.0], [5.0]])


def test_open_zscore_column_needs_analyze():
    col = fc.numeric_column("x", normalizer="zscore")
    with pytest.raises(FeatureInputError, match=r"column 'x' needs analyze\(\) first"):
        fc.transform({"x": np.ones(2)}, [col])
    with pytest.raises(FeatureInputError, match="needs analyze"):
        fc.input_layer({"x": np.ones(2)}, [col])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": 0}, "positive ints"),
        ({"shape": (2,), "default_value": [1.0, 2.0, 3.0]}, "default_value"),
        ({"normalizer": "minmax"}, "normalizer"),
        ({"normalizer": "zscore", "normalizer_fn": abs}, "not both"),
        ({"dtype": "string"}, "dtype"),
    ],
)
def test_constructor_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fc.numeric_column("x", **kwargs)


def test_empty_key_rejected():
    with pytest.raises(ValueError, match="`key` must be a non-empty string"):
        fc.numeric_column("")


@pytest.mark.parametrize(
    "values, shape, message",
    [
        (np.array([1.0, np.inf]), (1,), r"an infinite value \(row 1: inf\)"),
        # 1e39 fits float64 but becomes inf in float32.
        (np.array([1.0, 2.0, 1e39]), (1,), r"a value beyond float32 \(row 2: 1e\+39\)"),
        (
            np.array([[1.0, 2.0], [3.0, -np.inf]]),
            (2,),
            r"an infinite value \(row 1, element 1: -inf\)",
        ),
    ],
)
def test_infinite_values_are_refused_naming_the_row(values, shape, message):
    # A default_value replaces missing values, not infinity: refused either way.
    for default in (None, 0.0):
        column = fc.numeric_column("x", shape=shape, default_value=default)
        with pytest.raises(ValueError, match=r"feature 'x': " + message):
            fc.transform({"x": values}, [column])
