"""The examples in the pipeline's docstrings run (pytest collects only estimators/)."""

import doctest
import importlib

import pytest

MODULES = [
    "estimators_pipeline.flows.environment",
    "estimators_pipeline.tasks.cache",
    "estimators_pipeline.flows.report",
    "estimators_pipeline.tasks.columns",
    "estimators_pipeline.tasks.config",
    "estimators_pipeline.tasks.model",
    "estimators_pipeline.tasks.names",
    "estimators_pipeline.tasks.plots",
    "estimators_pipeline.tasks.register",
    "estimators_pipeline.tasks.schemas",
    "estimators_pipeline.tasks.tracking",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS
    )
    assert result.failed == 0 and result.attempted > 0
