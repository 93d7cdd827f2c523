import inspect

from estimators import feature_column as fc

PUBLIC = [
    "BucketizedColumn",
    "CategoricalColumn",
    "CrossedColumn",
    "DenseColumn",
    "EmbeddingColumn",
    "FeatureColumn",
    "FeatureInputError",
    "FixedLenFeature",
    "HashedCategoricalColumn",
    "IdentityCategoricalColumn",
    "IndicatorColumn",
    "NumericColumn",
    "SharedEmbeddingColumn",
    "VarLenFeature",
    "VocabularyListColumn",
    "WeightedCategoricalColumn",
    "analyze",
    "bucketized_column",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "crossed_column",
    "deserialize",
    "embedding_column",
    "indicator_column",
    "input_layer",
    "is_feature_column",
    "is_frozen",
    "linear_model",
    "make_parse_example_spec",
    "numeric_column",
    "serialize",
    "shared_embeddings",
    "transform",
    "weighted_categorical_column",
]


def test_public_names_are_pinned():
    assert fc.__all__ == PUBLIC
    assert all(hasattr(fc, name) for name in PUBLIC)


def test_every_public_function_has_an_example():
    for name in PUBLIC:
        obj = getattr(fc, name)
        assert obj.__doc__, name
        if inspect.isfunction(obj):
            assert "Example:" in obj.__doc__, name


def test_tf_argument_names_and_defaults():
    def defaults(fn):
        return {
            p.name: p.default
            for p in inspect.signature(fn).parameters.values()
            if p.default is not inspect.Parameter.empty
        }

    assert defaults(fc.numeric_column) == {
        "shape": (1,),
        "default_value": None,
        "dtype": "float32",
        "normalizer_fn": None,
        "normalizer": None,
    }
    assert defaults(fc.embedding_column) == {
        "combiner": "mean",
        "initializer": None,
        "ckpt_to_load_from": None,
        "tensor_name_in_ckpt": None,
        "max_norm": None,
        "trainable": True,
    }
    assert defaults(fc.linear_model) == {
        "units": 1,
        "sparse_combiner": "sum",
        "name": "linear_model",
    }
    assert list(
        inspect.signature(fc.categorical_column_with_vocabulary_list).parameters
    ) == [
        "key",
        "vocabulary_list",
        "dtype",
        "default_value",
        "num_oov_buckets",
        "top_k",
        "min_frequency",
    ]
