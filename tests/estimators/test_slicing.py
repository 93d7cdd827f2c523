"""Sliced evaluation: per-slice metrics equal pandas groupby, under any batching."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import estimators as est
from estimators import feature_column as fc
from estimators.slicing import parse_slice_by

FEATURES = ["x", "country", "age_bucket", "sex"]


@pytest.fixture(scope="module")
def people():
    rng = np.random.default_rng(5)
    n = 203  # not a multiple of either batch size
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n).astype(np.float32),
            "country": rng.choice(["DE", "FR", "US"], size=n),
            "age_bucket": rng.integers(0, 3, size=n),
            "sex": rng.choice(["F", "M"], size=n),
        }
    )
    noisy = frame["x"] + (frame["country"] == "US") + rng.normal(scale=0.8, size=n)
    frame["label"] = (noisy > 0.3).astype(np.int64)
    return frame


@pytest.fixture(scope="module")
def classifier(people, tmp_path_factory):
    columns = [
        fc.numeric_column("x"),
        fc.categorical_column_with_vocabulary_list("country", ["DE", "FR", "US"]),
    ]
    model = est.LinearClassifier(
        columns,
        model_dir=str(tmp_path_factory.mktemp("sliced")),
        config=est.RunConfig(save_checkpoints_secs=None, log_step_count_steps=None),
    )
    model.train(
        est.inputs.pandas_input_fn(
            people[FEATURES], people["label"], batch_size=32, num_epochs=3, shuffle=True
        )
    )
    return model


def eval_input(people, batch_size):
    return est.inputs.pandas_input_fn(
        people[FEATURES], people["label"], batch_size=batch_size, shuffle=False
    )


def pandas_oracle(classifier, people):
    """Per-row correctness and loss from predict, grouped with pandas."""
    predictions = list(
        classifier.predict(
            est.inputs.pandas_input_fn(people[FEATURES], batch_size=50, shuffle=False)
        )
    )
    logits = np.array([p["logits"][0] for p in predictions], np.float64)
    class_ids = np.array([p["class_ids"][0] for p in predictions])
    y = people["label"].to_numpy()
    rows = people.assign(
        correct=(class_ids == y).astype(np.float64),
        # sigmoid cross-entropy from logits: softplus(z) - y * z
        loss=np.logaddexp(0.0, logits) - y * logits,
    )
    return rows


def by_slice(result):
    return {tuple(sorted(row["slice"].items())): row for row in result["slices"]}


@pytest.mark.parametrize("batch_size", [7, 64])
def test_per_slice_metrics_equal_pandas_groupby(classifier, people, batch_size):
    result = classifier.evaluate(
        eval_input(people, batch_size), slice_by=["country", ("age_bucket", "sex")]
    )
    rows = pandas_oracle(classifier, people)
    assert result["accuracy"] == pytest.approx(rows["correct"].mean(), rel=1e-6)
    slices = by_slice(result)
    expected_slices = 0
    for keys in (["country"], ["age_bucket", "sex"]):
        grouped = rows.groupby(keys).agg(
            count=("loss", "size"), accuracy=("correct", "mean"), loss=("loss", "mean")
        )
        for values, expected in grouped.iterrows():
            values = values if isinstance(values, tuple) else (values,)
            plain = [v.item() if hasattr(v, "item") else v for v in values]
            key = tuple(sorted(zip(keys, plain, strict=True)))
            row = slices[key]
            assert row["count"] == expected["count"]
            assert row["accuracy"] == pytest.approx(expected["accuracy"], rel=1e-6)
            assert row["loss"] == pytest.approx(expected["loss"], rel=1e-5)
            assert row["average_loss"] == pytest.approx(expected["loss"], rel=1e-5)
            expected_slices += 1
    assert len(result["slices"]) == expected_slices == 3 + 3 * 2
    # The slices of one feature partition the rows.
    assert sum(r["count"] for r in result["slices"] if "country" in r["slice"]) == 203


def test_slices_are_written_as_parquet_and_csv_next_to_the_metrics(classifier, people):
    result = classifier.evaluate(
        eval_input(people, 64), name="holdout", slice_by="country"
    )
    step = result["global_step"]
    directory = classifier.eval_dir("holdout")
    table = pq.read_table(os.path.join(directory, f"slices-{step}.parquet"))
    assert table.column_names[:3] == ["slice", "country", "count"]
    assert table.column("slice").to_pylist() == [
        "country=DE",
        "country=FR",
        "country=US",
    ]
    assert table.column("count").to_pylist() == [r["count"] for r in result["slices"]]
    assert "accuracy" in table.column_names and "auc" in table.column_names
    csv = pd.read_csv(os.path.join(directory, f"slices-{step}.csv"))
    assert list(csv["country"]) == ["DE", "FR", "US"]


def test_bad_slice_by_names_the_feature(classifier, people):
    with pytest.raises(ValueError, match="feature 'city' is not in the input"):
        classifier.evaluate(eval_input(people, 64), slice_by=["city"])
    with pytest.raises(ValueError, match="`slice_by` entries must be"):
        parse_slice_by([3])
    assert parse_slice_by(None) == ()


def test_slicer_merges_exactly_across_batches_with_nulls():
    import jax.numpy as jnp
    import pyarrow as pa

    from estimators import batching
    from estimators.metrics import Metric
    from estimators.slicing import Slicer

    def mean_of_mask(state):
        return state["total"] / state["count"]

    def evaluate(batch):  # what a mask-aware model_fn computes on a batch
        values, mask = jnp.asarray(batch.labels), jnp.asarray(batch.mask)
        metric = Metric(
            {"total": jnp.sum(values * mask), "count": jnp.sum(mask)}, mean_of_mask
        )
        return metric.result(), {"mean": metric}

    slicer = Slicer(parse_slice_by(["city"]))
    capture = slicer.capture(None)
    for cities, labels in [
        (pa.array(["a", None, "a"]), [1.0, 2.0, 4.0]),
        (np.array(["b", "a"], dtype=object), [8.0, 16.0]),
    ]:
        capture({"city": cities})
        rows = len(labels)
        batch = batching.Batch({}, np.array(labels, np.float32), None)
        slicer.add(batch, rows, evaluate)
    got = {row["slice"]["city"]: row for row in slicer.rows()}
    assert list(got) == ["a", "b", None]
    # "a": rows 1, 4 and 16 over two batches: (1 + 4 + 16) / 3 = 7; the loss is
    # the batch means (2.5 over 2 rows, 16 over 1) weighted by rows: (5 + 16) / 3.
    assert got["a"]["count"] == 3
    assert got["a"]["mean"] == pytest.approx(7.0)
    assert got["a"]["loss"] == pytest.approx(7.0)
    assert got[None]["count"] == 1 and got[None]["mean"] == pytest.approx(2.0)
    assert got["b"]["mean"] == pytest.approx(8.0)
