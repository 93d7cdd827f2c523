import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimators import feature_column as fc

DIGIT = fc.categorical_column_with_identity("digit", 4)
WORD = fc.categorical_column_with_identity("word", 4)


def _table(params, *path):
    for key in path:
        params = params[key]
    return np.asarray(params)


def test_input_layer_concatenates_in_sorted_name_order():
    cols = [
        fc.numeric_column("z"),
        fc.indicator_column(DIGIT),  # "digit_indicator"
        fc.numeric_column("a", shape=2),
    ]
    feats = {
        "z": np.array([9.0]),
        "digit": np.array([[2]]),
        "a": np.array([[1.0, 2.0]]),
    }
    out = fc.input_layer(feats, cols)
    # a (2) | digit_indicator (4) | z (1)
    np.testing.assert_array_equal(out, [[1.0, 2.0, 0, 0, 1, 0, 9.0]])


def test_indicator_counts_ids_and_ignores_minus_one():
    out = fc.input_layer(
        {"digit": np.array([[1, 1, -1], [-1, -1, -1]])}, [fc.indicator_column(DIGIT)]
    )
    np.testing.assert_array_equal(out, [[0, 2, 0, 0], [0, 0, 0, 0]])


def test_bucketized_column_is_one_hot_per_element():
    col = fc.bucketized_column(fc.numeric_column("x", shape=2), [0.0])
    out = fc.input_layer(fc.transform({"x": np.array([[-1.0, 5.0]])}, [col]), [col])
    # element 0 -> bucket 0, element 1 -> bucket 1 + 2 = 3
    np.testing.assert_array_equal(out, [[1, 0, 0, 1]])


def test_bare_categorical_column_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"column 'digit' is categorical.*indicator_column"
    ):
        fc.input_layer({"digit": np.array([1])}, [DIGIT])


def test_raw_strings_in_model_point_to_transform():
    col = fc.indicator_column(fc.categorical_column_with_vocabulary_list("c", ["a"]))
    with pytest.raises(ValueError, match=r"raw text/Arrow values.*fc.transform"):
        fc.input_layer({"c": np.array(["a"])}, [col])


def test_embedding_param_name_shape_and_mean_combiner(run_in_model):
    col = fc.embedding_column(DIGIT, dimension=3)
    feats = {"digit": np.array([[0, 2], [3, -1], [-1, -1]], np.int32)}
    out, params = run_in_model(lambda f: fc.input_layer(f, [col]), feats)
    table = _table(params, "input_layer", "digit_embedding", "embedding_weights")
    assert table.shape == (4, 3)
    np.testing.assert_allclose(out[0], (table[0] + table[2]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[1], table[3], rtol=1e-6)
    np.testing.assert_array_equal(out[2], 0.0)  # a row with no ids is zeros, not NaN


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_weighted_embedding_combiners(run_in_model, combiner):
    weighted = fc.weighted_categorical_column(WORD, "tfidf")
    col = fc.embedding_column(weighted, dimension=2, combiner=combiner)
    feats = fc.transform(
        {"word": np.array([[1, 3]]), "tfidf": np.array([[2.0, 0.5]])}, [col]
    )
    out, params = run_in_model(lambda f: fc.input_layer(f, [col]), feats)
    table = _table(
        params, "input_layer", "word_weighted_by_tfidf_embedding", "embedding_weights"
    )
    total = 2.0 * table[1] + 0.5 * table[3]
    norm = {"sum": 1.0, "mean": 2.5, "sqrtn": np.sqrt(2.0**2 + 0.5**2)}[combiner]
    np.testing.assert_allclose(out[0], total / norm, rtol=1e-5)


def test_max_norm_clips_rows(run_in_model):
    col = fc.embedding_column(
        DIGIT,
        2,
        initializer=lambda key, shape, dtype=jnp.float32: jnp.full(shape, 3.0, dtype),
        max_norm=1.0,
    )
    out, _ = run_in_model(
        lambda f: fc.input_layer(f, [col]), {"digit": np.array([[1]])}
    )
    np.testing.assert_allclose(out, [[1 / np.sqrt(2), 1 / np.sqrt(2)]], rtol=1e-6)


def test_shared_embeddings_share_one_table(run_in_model):
    a, b = fc.shared_embeddings([DIGIT, WORD], dimension=2)
    feats = {"digit": np.array([[1]]), "word": np.array([[1]])}
    out, params = run_in_model(lambda f: fc.input_layer(f, [a, b]), feats)
    assert list(params["input_layer"]) == ["digit_word_shared_embedding"]
    np.testing.assert_allclose(out[0, :2], out[0, 2:])


def test_shared_embeddings_need_equal_sizes():
    with pytest.raises(ValueError, match="same num_buckets"):
        fc.shared_embeddings([DIGIT, fc.categorical_column_with_identity("x", 9)], 2)


def test_trainable_false_stops_gradients(run_in_model):
    col = fc.embedding_column(DIGIT, 2, trainable=False)
    feats = {"digit": np.array([[1]])}
    _, params = run_in_model(lambda f: fc.input_layer(f, [col]), feats)

    def loss(p):
        out, _ = run_in_model(lambda f: fc.input_layer(f, [col]), feats, params=p)
        return out.sum()

    grads = jax.grad(loss)(params)
    assert not np.asarray(
        grads["input_layer"]["digit_embedding"]["embedding_weights"]
    ).any()


def test_checkpoint_initializer(tmp_path, run_in_model):
    from safetensors.numpy import save_file

    table = np.arange(8, dtype=np.float32).reshape(4, 2)
    save_file({"emb": table}, str(tmp_path / "state.safetensors"))
    col = fc.embedding_column(
        DIGIT, 2, ckpt_to_load_from=str(tmp_path), tensor_name_in_ckpt="emb"
    )
    out, _ = run_in_model(
        lambda f: fc.input_layer(f, [col]), {"digit": np.array([[3]])}
    )
    np.testing.assert_array_equal(out, [[6.0, 7.0]])
    with pytest.raises(ValueError, match="both"):
        fc.embedding_column(DIGIT, 2, ckpt_to_load_from=str(tmp_path))


def test_linear_model_equals_one_hot_matmul(run_in_model):
    """Sparse gathers must equal multi-hot features times the weight matrices."""
    bucket = fc.bucketized_column(fc.numeric_column("x"), [0.0, 1.0])
    weighted = fc.weighted_categorical_column(WORD, "w")
    cross = fc.crossed_column(["s", bucket], 5)
    cols = [
        fc.numeric_column("n", shape=2),
        DIGIT,
        bucket,
        weighted,
        cross,
        fc.indicator_column(WORD),
    ]
    raw = {
        "n": np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 0.0]]),
        "digit": np.array([[0, 3], [2, -1], [-1, -1]]),
        "x": np.array([-1.0, 0.5, 7.0]),
        "word": np.array([[1, 2], [3, 3], [0, -1]]),
        "w": np.array([[0.5, 2.0], [1.0, 1.0], [4.0, 0.0]]),
        "s": np.array(["p", "q", "p"]),
    }
    feats = fc.transform(raw, cols)
    _, params = run_in_model(lambda f: fc.linear_model(f, cols, units=2), feats)
    rng = np.random.default_rng(0)
    params = jax.tree_util.tree_map(
        lambda p: rng.normal(size=p.shape).astype(np.float32), params
    )
    out, _ = run_in_model(
        lambda f: fc.linear_model(f, cols, units=2), feats, params=params, jit=True
    )

    lm = params["linear_model"]

    def multi_hot(ids, n, weights=None):
        weights = np.ones(ids.shape) if weights is None else weights
        hot = np.zeros((ids.shape[0], n))
        for r, c in zip(*np.nonzero(ids >= 0), strict=True):
            hot[r, ids[r, c]] += weights[r, c]
        return hot

    expected = np.asarray(lm["bias_weights"]) + feats["n"] @ lm["n"]["weights"]
    expected += multi_hot(feats["digit"], 4) @ lm["digit"]["weights"]
    expected += multi_hot(feats["x_bucketized"], 3) @ lm["x_bucketized"]["weights"]
    expected += (
        multi_hot(feats["word_weighted_by_w"], 4, feats["word_weighted_by_w/weights"])
        @ lm["word_weighted_by_w"]["weights"]
    )
    expected += (
        multi_hot(feats["s_X_x_bucketized"], 5) @ lm["s_X_x_bucketized"]["weights"]
    )
    expected += multi_hot(feats["word"], 4) @ lm["word_indicator"]["weights"]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_linear_model_mean_combiner_and_zero_init(run_in_model):
    feats = {"digit": np.array([[0, 1], [-1, -1]])}
    out, params = run_in_model(
        lambda f: fc.linear_model(f, [DIGIT], sparse_combiner="mean"), feats
    )
    np.testing.assert_array_equal(out, 0.0)  # tf initialises linear weights to zero
    params = jax.tree_util.tree_map(
        lambda p: p + jnp.arange(p.size, dtype=p.dtype).reshape(p.shape), params
    )
    out, _ = run_in_model(
        lambda f: fc.linear_model(f, [DIGIT], sparse_combiner="mean"),
        feats,
        params=params,
    )
    # weights rows 0 and 1 are 0 and 1, bias 0: mean = 0.5; empty row gives bias.
    np.testing.assert_allclose(out, [[0.5], [0.0]])


def test_linear_model_embedding_column_param_names(run_in_model):
    col = fc.embedding_column(DIGIT, 3)
    _, params = run_in_model(
        lambda f: fc.linear_model(f, [col]), {"digit": np.array([[1]])}
    )
    scope = params["linear_model"]["digit_embedding"]
    assert set(scope) == {"embedding_weights", "weights"}
    assert scope["weights"].shape == (3, 1)


def test_linear_model_outside_a_module_is_a_clear_error():
    with pytest.raises(ValueError, match="inside a model_fn"):
        fc.linear_model({"digit": np.array([1])}, [DIGIT])


def test_padded_batch_under_jit_gives_finite_values(run_in_model):
    cols = [fc.embedding_column(DIGIT, 2, combiner="sqrtn"), fc.numeric_column("n")]
    feats = {"digit": np.array([[1], [-1], [-1]]), "n": np.array([1.0, 0.0, 0.0])}
    out, _ = run_in_model(lambda f: fc.input_layer(f, cols), feats, jit=True)
    assert np.isfinite(np.asarray(out)).all()
    assert out.shape == (3, 3)


def test_two_calls_need_their_own_names(run_in_model):
    col = fc.embedding_column(DIGIT, 2)

    def model(f):
        return fc.input_layer(f, [col]) + fc.input_layer(f, [col], name="tower_b")

    _, params = run_in_model(model, {"digit": np.array([[1]])})
    assert set(params) == {"input_layer", "tower_b"}
