"""An Estimator trained on a from_generator input, resumed: the input starts over."""

from __future__ import annotations

from support import classifier_model_fn, fast_config

import estimators as est
from estimators.data import Dataset


def test_an_estimator_resumes_a_generator_input_from_its_beginning(tmp_path, blobs):
    x, y = blobs
    calls = []

    def rows():
        calls.append("start")
        for i in range(len(y)):
            yield {"x": x[i]}, y[i]

    def input_fn():
        return Dataset.from_generator(rows).repeat().batch(30)

    model = est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "model"),
        config=fast_config(random_seed=1),
    )
    model.train(input_fn, steps=4)
    started = len(calls)
    # The position saved with the checkpoint is refused (a generator cannot be
    # rewound): the second call starts the input afresh instead of failing.
    model.train(input_fn, steps=3)
    assert model.get_variable_value("global_step") == 7
    assert len(calls) > started
