"""Handwritten digits with a custom CNN `model_fn`, as the classic MNIST tutorial.

The network of tf's "Build a Convolutional Neural Network using Estimators",
scaled to 8x8 images: conv 5x5 (16) -> max-pool 2x2 -> conv 5x5 (36) -> max-pool
2x2 -> flatten -> dense 128 -> dropout 0.4 -> 10 logits, trained with Adam
(learning rate 1e-3). Same seeded split as `digits_dnn.py` (1,438 / 359).

Run: python examples/digits_cnn.py [--batch_size 100] [--train_steps 2000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import estimators as est

sys.path.insert(0, os.path.dirname(__file__))
from digits_dnn import eval_input_fn, load_data, train_input_fn  # noqa: E402


def cnn_model_fn(features, labels, mode, params):
    """Two convolution + pooling blocks, a dense layer and the logits."""
    training = mode == est.ModeKeys.TRAIN
    net = features["pixels"].reshape(-1, 8, 8, 1)
    for filters in (16, 36):
        net = nn.relu(nn.Conv(filters, kernel_size=(5, 5), padding="SAME")(net))
        net = nn.max_pool(net, window_shape=(2, 2), strides=(2, 2))
    net = net.reshape(net.shape[0], -1)
    net = nn.relu(nn.Dense(128)(net))
    net = nn.Dropout(rate=0.4, deterministic=not training)(net)
    logits = nn.Dense(10)(net)

    predicted = jnp.argmax(logits, axis=1)
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(
            mode,
            predictions={"classes": predicted, "probabilities": jax.nn.softmax(logits)},
        )
    loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    metrics = {"accuracy": est.metrics.accuracy(labels=labels, predictions=predicted)}
    if mode == est.ModeKeys.EVAL:
        return est.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
    optimizer = optax.adam(params["learning_rate"])
    return est.EstimatorSpec(mode, loss=loss, optimizer=optimizer)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", default=100, type=int, help="batch size")
    parser.add_argument("--train_steps", default=2000, type=int, help="training steps")
    parser.add_argument("--learning_rate", default=1e-3, type=float, help="Adam's")
    parser.add_argument("--model_dir", default=None, help="where checkpoints go")
    args = parser.parse_args(argv)

    (train_x, train_y), (test_x, test_y) = load_data()
    classifier = est.Estimator(
        cnn_model_fn,
        model_dir=args.model_dir,
        config=est.RunConfig(random_seed=0),
        params={"learning_rate": args.learning_rate},
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
