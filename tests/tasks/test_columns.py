import pytest

from estimators import feature_column as fc
from estimators_pipeline.tasks import columns


def test_nested_specs_build_the_columns_they_name():
    groups = columns.build_groups(
        {
            "linear_feature_columns": [
                {"crossed_column": {"keys": ["a", "b"], "hash_bucket_size": 10}},
                {
                    "bucketized_column": {
                        "source_column": {"numeric_column": {"key": "x"}},
                        "boundaries": [0.0, 1.0],
                    }
                },
            ],
            "dnn_feature_columns": [
                {
                    "indicator_column": {
                        "categorical_column": {
                            "categorical_column_with_vocabulary_list": {
                                "key": "a",
                                "vocabulary_list": ["u", "v"],
                            }
                        }
                    }
                },
            ],
        }
    )
    assert [c.name for c in groups["linear_feature_columns"]] == [
        "a_X_b",
        "x_bucketized",
    ]
    assert groups["dnn_feature_columns"] == [
        fc.indicator_column(fc.categorical_column_with_vocabulary_list("a", ["u", "v"]))
    ]
    assert columns.raw_keys(groups) == {"a": "string", "b": "string", "x": "float32"}


def test_a_list_is_the_feature_columns_group():
    groups = columns.build_groups([{"numeric_column": {"key": "x"}}])
    assert list(groups) == ["feature_columns"]


def test_unknown_factory_is_named_with_its_place_and_the_known_ones():
    with pytest.raises(
        ValueError,
        match=r"features.feature_columns\[1\]: unknown feature "
        r"column 'numeric_colum'; known: \[.*'numeric_column'",
    ):
        columns.build_groups(
            [{"numeric_column": {"key": "x"}}, {"numeric_colum": {"key": "y"}}]
        )


def test_bad_arguments_name_the_factory():
    with pytest.raises(
        ValueError, match=r"features.feature_columns\[0\] \(numeric_column\):"
    ):
        columns.build_groups([{"numeric_column": {"key": "x", "shape": -1}}])


def test_spec_must_be_one_factory():
    with pytest.raises(ValueError, match="written {factory: {argument: value}}"):
        columns.build_groups([{"key": "x", "dtype": "float32"}])


def test_frozen_groups_round_trip(tmp_path):
    groups = {"feature_columns": [fc.numeric_column("x", normalizer="zscore")]}
    [frozen] = fc.analyze([{"x": [1.0, 3.0]}], groups["feature_columns"])
    path = columns.write_groups({"feature_columns": [frozen]}, str(tmp_path / "c.json"))
    assert columns.read_groups(path) == {"feature_columns": [frozen]}
