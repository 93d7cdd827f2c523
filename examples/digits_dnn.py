"""Handwritten digits with a premade `DNNClassifier`, as the classic MNIST DNN.

The 1,797 8x8 digits of `data/digits.csv` (pixel intensities 0..16, scaled to
[0, 1]) are split once, with a fixed seed, into 1,438 training and 359 held-out
images. A DNNClassifier with hidden layers [512, 256, 128] and the canned
defaults (Adagrad, learning rate 0.05) learns them.

Run: python examples/digits_dnn.py [--batch_size 100] [--train_steps 2000]
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import time

import numpy as np
import pandas as pd

import estimators as est
from estimators import canned
from estimators import feature_column as fc

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "digits.csv"
Split = tuple[dict[str, np.ndarray], np.ndarray]


def load_data(test_fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """Returns (train_x, train_y), (test_x, test_y); x is {"pixels": [N, 64]} in [0, 1]."""
    frame = pd.read_csv(DATA)
    labels = frame.pop("label").to_numpy(np.int32)
    pixels = frame.to_numpy(np.float32) / 16.0
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = round(test_fraction * len(labels))
    test, train = order[:n_test], order[n_test:]
    return (
        ({"pixels": pixels[train]}, labels[train]),
        ({"pixels": pixels[test]}, labels[test]),
    )


def train_input_fn(
    x: dict[str, np.ndarray], y: np.ndarray, batch_size: int
) -> est.Dataset:
    """Shuffled, repeated batches for training."""
    dataset = est.data.Dataset.from_tensor_slices((x, y))
    return dataset.shuffle(len(y), seed=0).repeat().batch(batch_size)


def eval_input_fn(
    x: dict[str, np.ndarray], y: np.ndarray | None, batch_size: int
) -> est.Dataset:
    """One pass in order, for evaluation or prediction (y may be None)."""
    inputs = x if y is None else (x, y)
    return est.data.Dataset.from_tensor_slices(inputs).batch(batch_size)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", default=100, type=int, help="batch size")
    parser.add_argument("--train_steps", default=2000, type=int, help="training steps")
    parser.add_argument("--model_dir", default=None, help="where checkpoints go")
    args = parser.parse_args(argv)

    (train_x, train_y), (test_x, test_y) = load_data()
    classifier = canned.DNNClassifier(
        hidden_units=[512, 256, 128],
        feature_columns=[fc.numeric_column("pixels", shape=64)],
        n_classes=10,
        # tf 2.x's canned default, Adagrad at Keras' 0.001, is too slow for
        # these steps; tf 2 users set the rate as tf 1.x's 0.05 was.
        optimizer=canned.get_optimizer("Adagrad", learning_rate=0.05),
        model_dir=args.model_dir,
        config=est.RunConfig(random_seed=0),
    )
    start = time.perf_counter()
    classifier.train(
        lambda: train_input_fn(train_x, train_y, args.batch_size),
        steps=args.train_steps,
    )
    seconds = time.perf_counter() - start
    result = classifier.evaluate(lambda: eval_input_fn(test_x, test_y, args.batch_size))
    print(
        f"\nTest set accuracy: {result['accuracy']:0.3f} "
        f"({len(test_y)} held-out images)\n"
    )
    print(
        f"Trained {args.train_steps} steps in {seconds:.1f} s "
        f"({args.train_steps / seconds:.0f} steps/sec, compilation included)"
    )
    return {**result, "steps_per_sec": args.train_steps / seconds}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    main()
