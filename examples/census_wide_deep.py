"""A census-like wide & deep model trained from Parquet, as in tf.estimator's census tutorial.

The wide part is a linear model over sparse columns (vocabulary, hashed, crossed
and bucketized; no one-hot), the deep part a DNN over embedded and numeric
columns. Vocabularies, z-score statistics and bucket boundaries are learnt by one
`fc.analyze` pass over the training files and frozen before training.

Run: python examples/census_wide_deep.py [--train_steps 100] [--data data/census]
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import time

import estimators as est
from estimators import canned
from estimators import feature_column as fc

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "census"
NUMERIC = ["age", "hours_per_week", "education_num", "capital_gain", "credit_score"]


def build_columns():
    """Open columns: what they learn from data is left to `fc.analyze`."""
    age = fc.numeric_column("age")
    workclass = fc.categorical_column_with_vocabulary_list(
        "workclass", num_oov_buckets=1
    )
    occupation = fc.categorical_column_with_vocabulary_list(
        "occupation", top_k=50, num_oov_buckets=2
    )
    city = fc.categorical_column_with_vocabulary_list(
        "city", min_frequency=2, num_oov_buckets=5
    )
    employer = fc.categorical_column_with_hash_bucket("employer", hash_bucket_size=500)
    zipcode = fc.categorical_column_with_hash_bucket("zipcode", hash_bucket_size=1000)
    age_buckets = fc.bucketized_column(age, num_buckets=8)
    wide = [
        workclass,
        occupation,
        employer,
        age_buckets,
        fc.crossed_column(["workclass", "occupation"], hash_bucket_size=1000),
        fc.crossed_column([age_buckets, "workclass"], hash_bucket_size=200),
    ]
    deep = [
        *[fc.numeric_column(key, normalizer="zscore") for key in NUMERIC],
        fc.indicator_column(workclass),
        fc.embedding_column(occupation, dimension=8),
        fc.embedding_column(city, dimension=8),
        fc.embedding_column(zipcode, dimension=8),
    ]
    return wide, deep


def input_fn(files, *, shuffle: bool, batch_size: int = 256):
    def make():
        dataset = est.data.Dataset.from_parquet(files, label="label")
        if shuffle:
            dataset = dataset.shuffle(2_000, seed=0).repeat()
        return dataset.batch(batch_size).prefetch(2)

    return make


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA), help="folder of Parquet files")
    parser.add_argument("--train_steps", type=int, default=100)
    parser.add_argument("--model_dir", default=None)
    args = parser.parse_args(argv)

    files = sorted(str(p) for p in pathlib.Path(args.data).glob("*.parquet"))
    train_files, eval_files = files[:-1], files[-1:]  # the last file is held out

    wide, deep = build_columns()
    frozen = fc.analyze(
        est.data.Dataset.from_parquet(train_files, label="label").batch(4096),
        wide + deep,
    )
    wide, deep = frozen[: len(wide)], frozen[len(wide) :]

    model = canned.DNNLinearCombinedClassifier(
        model_dir=args.model_dir,
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=[64, 32],
        dnn_optimizer="Adam",
        config=est.RunConfig(steps_per_execution=10, log_step_count_steps=200),
    )
    start = time.perf_counter()
    model.train(input_fn(train_files, shuffle=True), steps=args.train_steps)
    seconds = time.perf_counter() - start
    result = model.evaluate(input_fn(eval_files, shuffle=False))
    print(
        f"\nTrained {args.train_steps} steps in {seconds:.1f} s "
        f"({args.train_steps / seconds:.0f} steps/s, compilation included)"
    )
    for key in sorted(result):
        print(f"  {key:22s} {result[key]:.4f}")
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    main()
