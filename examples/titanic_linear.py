"""The TF Estimators guide's Titanic program: make_csv_dataset + LinearClassifier.

Ported from https://www.tensorflow.org/guide/estimator ("Pre-made Estimators"
on the Titanic data) by changing the imports. The CSVs are synthetic rows with
the real columns and rates (data/make_titanic.py); nothing is downloaded.

    python examples/titanic_linear.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

import estimators as est  # noqa: E402
from estimators import feature_column as fc  # noqa: E402

TRAIN = str(ROOT / "data" / "titanic_train.csv")
EVAL = str(ROOT / "data" / "titanic_eval.csv")


def train_input_fn():
    titanic = est.data.experimental.make_csv_dataset(
        TRAIN, batch_size=32, label_name="survived"
    )
    return titanic.cache().repeat().shuffle(500).prefetch(est.data.AUTOTUNE)


def eval_input_fn():
    return est.data.experimental.make_csv_dataset(
        EVAL, batch_size=32, label_name="survived", num_epochs=1, shuffle=False
    )


def main() -> None:
    age = fc.numeric_column("age")
    cls = fc.categorical_column_with_vocabulary_list(
        "class", ["First", "Second", "Third"]
    )
    # The guide's vocabulary, its typo included ('Southhampton').
    embark = fc.categorical_column_with_vocabulary_list(
        "embark_town", ["Cherbourg", "Southhampton", "Queenstown"]
    )
    model = est.LinearClassifier(
        model_dir=tempfile.mkdtemp(), feature_columns=[embark, cls, age], n_classes=2
    )
    model = model.train(input_fn=train_input_fn, steps=100)
    result = model.evaluate(eval_input_fn)
    for key, value in sorted(result.items()):
        print(f"{key:22} {value:.4f}" if key != "global_step" else f"{key:22} {value}")


if __name__ == "__main__":
    main()
