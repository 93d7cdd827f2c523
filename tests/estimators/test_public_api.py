"""The public API is one explicit list (STYLE guideline 2)."""

from __future__ import annotations

import estimators as est


def test_every_public_name_exists():
    for name in est.__all__:
        assert hasattr(est, name), name


def test_the_contract_names_of_design_md_are_public():
    required = {
        "ModeKeys",
        "EstimatorSpec",
        "RunConfig",
        "Estimator",
        "Hook",
        "NanLossDuringTrainingError",
        "MetricWriter",
        "feature_column",
        "losses",
        "metrics",
        "summary",
        "data",
        "inputs",
        "WarmStartSettings",
    }
    assert required <= set(est.__all__)
    assert callable(est.inputs.numpy_input_fn) and callable(est.inputs.pandas_input_fn)
    assert hasattr(est.data, "Dataset")
