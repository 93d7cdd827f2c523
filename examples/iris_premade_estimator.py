"""The classic premade-estimator Iris program, ported from tf.estimator.

A `DNNClassifier` with two hidden layers of 10 units on the four numeric Iris
measurements, trained with the canned defaults (Adagrad, learning rate 0.05).

Run: python examples/iris_premade_estimator.py [--batch_size 100] [--train_steps 1000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import estimators as est
from estimators import canned
from estimators import feature_column as fc

sys.path.insert(0, os.path.dirname(__file__))
import iris_data  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", default=100, type=int, help="batch size")
    parser.add_argument("--train_steps", default=1000, type=int, help="training steps")
    parser.add_argument("--model_dir", default=None, help="where checkpoints go")
    args = parser.parse_args(argv)

    (train_x, train_y), (test_x, test_y) = iris_data.load_data()
    my_feature_columns = [fc.numeric_column(key=key) for key in train_x.keys()]

    classifier = canned.DNNClassifier(
        feature_columns=my_feature_columns,
        hidden_units=[10, 10],
        n_classes=3,
        # tf 2.x's canned default, Adagrad at Keras' 0.001, is too slow for
        # these steps; tf 2 users set the rate as tf 1.x's 0.05 was.
        optimizer=canned.get_optimizer("Adagrad", learning_rate=0.05),
        model_dir=args.model_dir,
        config=est.RunConfig(random_seed=0),
    )
    start = time.perf_counter()
    classifier.train(
        input_fn=lambda: iris_data.train_input_fn(train_x, train_y, args.batch_size),
        steps=args.train_steps,
    )
    seconds = time.perf_counter() - start
    eval_result = classifier.evaluate(
        input_fn=lambda: iris_data.eval_input_fn(test_x, test_y, args.batch_size)
    )
    print("\nTest set accuracy: {accuracy:0.3f}\n".format(**eval_result))
    print(
        f"Trained {args.train_steps} steps in {seconds:.1f} s "
        f"({args.train_steps / seconds:.0f} steps/sec, compilation included)"
    )

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
    return {**eval_result, "steps_per_sec": args.train_steps / seconds}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    main()
