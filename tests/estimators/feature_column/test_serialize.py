import json

import numpy as np
import pytest

from estimators import feature_column as fc


def _all_columns():
    age = fc.numeric_column("age", default_value=30)
    color = fc.categorical_column_with_vocabulary_list(
        "color", ["red", "blue"], num_oov_buckets=2
    )
    zips = fc.categorical_column_with_vocabulary_list(
        "zip", [94110, 10001], default_value=0
    )
    city = fc.categorical_column_with_hash_bucket("city", 100)
    digit = fc.categorical_column_with_identity("digit", 10, default_value=0)
    bucket = fc.bucketized_column(age, [18.0, 65.5])
    learnt = fc.analyze(
        [
            {
                "w": np.array(["a", "b", "a"]),
                "x": np.array([[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]]),
            }
        ],
        [
            fc.categorical_column_with_vocabulary_list("w", top_k=5),
            fc.numeric_column("x", shape=2, normalizer="zscore"),
            fc.bucketized_column(fc.numeric_column("x", shape=2), num_buckets=3),
        ],
    )
    return [
        age,
        bucket,
        fc.indicator_column(color),
        fc.embedding_column(zips, 4, combiner="sqrtn", max_norm=2.0, trainable=False),
        fc.crossed_column([bucket, "city"], 1000, hash_key=3),
        fc.weighted_categorical_column(digit, "digit_weight"),
        *fc.shared_embeddings(
            [city, fc.categorical_column_with_hash_bucket("town", 100)], 3
        ),
        fc.indicator_column(learnt[0]),
        learnt[1],
        learnt[2],
    ]


def test_round_trip_gives_equal_columns():
    columns = _all_columns()
    text = fc.serialize(columns)
    assert json.loads(text)["format"] == "estimators.feature_column"
    restored = fc.deserialize(text)
    assert restored == columns
    assert [type(c) for c in restored] == [type(c) for c in columns]
    assert fc.serialize(restored) == text


def test_round_trip_of_vocabulary_file_column(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("x\ny\n")
    col = fc.categorical_column_with_vocabulary_file("c", path)
    path.unlink()  # the vocabulary travels in the JSON, not the file
    assert fc.deserialize(fc.serialize([col])) == [col]


def test_callables_cannot_be_serialised():
    col = fc.numeric_column("x", normalizer_fn=lambda v: v)
    with pytest.raises(
        ValueError, match=r"column 'x': `normalizer_fn` is a Python callable"
    ):
        fc.serialize([col])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"format": "other"}', "not a serialised feature-column list"),
        ('{"format": "estimators.feature_column", "version": 99}', "version 99"),
        (
            '{"format": "estimators.feature_column", "version": 1, '
            '"columns": [{"type": "Nope"}]}',
            "unknown column type 'Nope'",
        ),
    ],
)
def test_bad_text_is_a_clear_error(text, message):
    with pytest.raises(ValueError, match=message):
        fc.deserialize(text)
