"""The classic custom-estimator Iris program, ported from tf.estimator.

Run: python examples/iris_custom_estimator.py [--batch_size 100] [--train_steps 1000]
"""

from __future__ import annotations

import argparse
import logging
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import estimators as est
from estimators import feature_column as fc

sys.path.insert(0, __import__("os").path.dirname(__file__))
import iris_data  # noqa: E402


def my_model(features, labels, mode, params):
    """DNN with hidden layers and a softmax output, built with flax.linen layers."""
    net = fc.input_layer(features, params["feature_columns"])
    for units in params["hidden_units"]:
        net = nn.relu(nn.Dense(units)(net))
    logits = nn.Dense(params["n_classes"])(net)

    predicted_classes = jnp.argmax(logits, 1)
    if mode == est.ModeKeys.PREDICT:
        predictions = {
            "class_ids": predicted_classes[:, None],
            "probabilities": jax.nn.softmax(logits),
            "logits": logits,
        }
        return est.EstimatorSpec(mode, predictions=predictions)

    loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    accuracy = est.metrics.accuracy(labels=labels, predictions=predicted_classes)
    metrics = {"accuracy": accuracy}
    est.summary.scalar("accuracy", accuracy)

    if mode == est.ModeKeys.EVAL:
        return est.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)

    return est.EstimatorSpec(mode, loss=loss, optimizer=optax.adagrad(0.1))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", default=100, type=int, help="batch size")
    parser.add_argument("--train_steps", default=1000, type=int, help="training steps")
    parser.add_argument("--model_dir", default=None, help="where checkpoints go")
    args = parser.parse_args(argv)

    (train_x, train_y), (test_x, test_y) = iris_data.load_data()
    my_feature_columns = [fc.numeric_column(key=key) for key in train_x.keys()]

    classifier = est.Estimator(
        model_fn=my_model,
        model_dir=args.model_dir,
        params={
            "feature_columns": my_feature_columns,
            "hidden_units": [10, 10],
            "n_classes": 3,
        },
    )
    classifier.train(
        input_fn=lambda: iris_data.train_input_fn(train_x, train_y, args.batch_size),
        steps=args.train_steps,
    )
    eval_result = classifier.evaluate(
        input_fn=lambda: iris_data.eval_input_fn(test_x, test_y, args.batch_size)
    )
    print("\nTest set accuracy: {accuracy:0.3f}\n".format(**eval_result))

    expected = ["Setosa", "Versicolor", "Virginica"]
    predict_x = {
        "SepalLength": [5.1, 5.9, 6.9],
        "SepalWidth": [3.3, 3.0, 3.1],
        "PetalLength": [1.7, 4.2, 5.4],
        "PetalWidth": [0.5, 1.5, 2.1],
    }
    predictions = classifier.predict(
        input_fn=lambda: iris_data.eval_input_fn(predict_x, None, args.batch_size)
    )
    for pred_dict, expec in zip(predictions, expected, strict=True):
        class_id = int(pred_dict["class_ids"][0])
        probability = pred_dict["probabilities"][class_id]
        print(
            f'Prediction is "{iris_data.SPECIES[class_id]}" ({100 * probability:.1f}%), expected "{expec}"'
        )
    return eval_result["accuracy"]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    main()
