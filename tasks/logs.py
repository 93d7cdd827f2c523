"""The logger of the current Prefect run, so stage results reach the Prefect UI.

Inside a flow or task run, messages go to Prefect's run logger (the run page's
logs, and the command line's stage display); outside one (a task called with
`.fn()`, a test), to a standard logger of the same name.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

__all__ = ["stage_logger"]


def stage_logger(name: str) -> logging.Logger | logging.LoggerAdapter[Any]:
    """Prefect's run logger when in a run, else `logging.getLogger(name)`.

    Example:
        >>> stage_logger("estimators_pipeline.tasks.ingest").name
        'estimators_pipeline.tasks.ingest'
    """
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(name)
