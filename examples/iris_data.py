"""The Iris data and its input functions, as in tf.estimator's `iris_data.py`."""

from __future__ import annotations

import pathlib

import pandas as pd

import estimators as est

CSV_COLUMN_NAMES = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth", "Species"]
SPECIES = ["Setosa", "Versicolor", "Virginica"]
DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"


def load_data(y_name: str = "Species"):
    """Returns the Iris data set as (train_x, train_y), (test_x, test_y)."""
    train = pd.read_csv(
        DATA_DIR / "iris_training.csv", names=CSV_COLUMN_NAMES, header=0
    )
    train_x, train_y = train, train.pop(y_name)
    test = pd.read_csv(DATA_DIR / "iris_test.csv", names=CSV_COLUMN_NAMES, header=0)
    test_x, test_y = test, test.pop(y_name)
    return (train_x, train_y), (test_x, test_y)


def train_input_fn(features, labels, batch_size):
    """An input function for training: shuffled, repeated batches."""
    dataset = est.data.Dataset.from_tensor_slices((dict(features), labels))
    return dataset.shuffle(1000, seed=0).repeat().batch(batch_size)


def eval_input_fn(features, labels, batch_size):
    """An input function for evaluation or prediction (labels may be None)."""
    inputs = dict(features) if labels is None else (dict(features), labels)
    return est.data.Dataset.from_tensor_slices(inputs).batch(batch_size)
