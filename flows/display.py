"""What `estimators-pipeline run` prints while the flow runs: one line per event.

Prefect's run loggers carry each stage's result (the same lines the Prefect UI
shows); here they are printed one line each, `stage | message`, tracebacks
left out. Everything, tracebacks included, also goes to a log file.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["show_stages"]

_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
_FILE_HANDLER = "estimators-pipeline-log-file"


class _StageLine(logging.Handler):
    """`stage | first line of the message` on stderr, for INFO and WARNING.

    Errors are left to the command's one-line verdict (and the log file), so a
    failure is reported once.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            return
        if getattr(record, "estimators_progress", False) and _is_terminal(sys.stderr):
            return  # the live bar shows it
        try:
            stage = getattr(record, "task_run_name", None)
            stage = stage.rsplit("-", 1)[0] if stage else "pipeline"
            lines = record.getMessage().strip().splitlines()
            text = lines[0] if lines else ""
            if text.startswith("Finished in state") and "Cached" not in text:
                return  # the stage's own line said it; the verdict comes last
            print(f"  {stage:<18}| {text}", file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def show_stages(log_path: str) -> str:
    """Prints run-log lines on stderr and writes them in full to `log_path`."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    to_file = logging.FileHandler(log_path, encoding="utf-8")
    to_file.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    to_file.set_name(_FILE_HANDLER)
    line = _StageLine(logging.INFO)
    for name in _RUN_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):  # a second run in the same process
            if isinstance(old, _StageLine) or old.get_name() == _FILE_HANDLER:
                logger.removeHandler(old)
                old.close()
        logger.addHandler(line)
        logger.addHandler(to_file)
    return log_path


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
