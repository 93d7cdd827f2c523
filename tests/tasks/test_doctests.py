"""The examples in the pipeline's docstrings run (pytest collects only estimators/)."""

import doctest

import pytest

import flows.config
import flows.environment
import tasks.columns
import tasks.model
import tasks.plots
import tasks.register
import tasks.tracking

MODULES = [
    flows.config,
    flows.environment,
    tasks.columns,
    tasks.model,
    tasks.plots,
    tasks.register,
    tasks.tracking,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
