"""`TensorBoardWriter`: TensorBoard event files, as tf.estimator wrote them.

A `MetricWriter` over `tensorboardX` (no TensorFlow), installed with the
`tensorboard` extra (`pip install "estimators[tensorboard]"`) and imported only
when a writer is made. Training scalars go to `<logdir>/`, evaluation results
(`eval/<key>`, `eval_<name>/<key>`) to `<logdir>/eval` (`<logdir>/eval_<name>`)
under their key, so TensorBoard draws the training and evaluation curves of a
metric on one chart, as it did for tf.estimator's model_dir.

    est.RunConfig(metric_writers=[est.TensorBoardWriter("runs/tb")])
    # then: tensorboard --logdir runs/tb
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["TensorBoardWriter"]


class TensorBoardWriter:
    """Writes scalars as TensorBoard event files (`tensorboardX`).

    Args:
        logdir: The folder TensorBoard reads (e.g. the model_dir).
        flush_secs: How often the event files are flushed. Default 10.

    Example:
        >>> import tempfile
        >>> writer = TensorBoardWriter(tempfile.mkdtemp())  # doctest: +SKIP
        >>> writer.write_scalars(10, {"loss": 0.5, "eval/auc": 0.8})  # doctest: +SKIP
        >>> writer.close()  # doctest: +SKIP
    """

    def __init__(
        self, logdir: str | os.PathLike[str], *, flush_secs: float = 10
    ) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError(
                "TensorBoardWriter needs tensorboardX: pip install "
                '"estimators[tensorboard]" (or tensorboardX).'
            ) from None
        self.logdir = os.fspath(logdir)
        self._make = lambda sub: SummaryWriter(
            os.path.join(self.logdir, sub) if sub else self.logdir,
            flush_secs=flush_secs,
        )
        self._writers: dict[str, Any] = {}
        self._closed = False

    def _writer(self, sub: str) -> Any:
        if sub not in self._writers:
            self._writers[sub] = self._make(sub)
        return self._writers[sub]

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Adds each scalar at `step`; `eval*/key` goes to that evaluation's folder."""
        if self._closed:
            raise ValueError("TensorBoardWriter is closed.")
        for name, value in scalars.items():
            sub, tag = "", name
            head, sep, rest = name.partition("/")
            if sep and head.startswith("eval"):
                sub, tag = head, rest
            self._writer(sub).add_scalar(tag, float(value), int(step))

    def flush(self) -> None:
        """Flushes every event file."""
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        """Flushes and closes the event files; closing twice is allowed."""
        if not self._closed:
            for writer in self._writers.values():
                writer.close()
            self._closed = True
