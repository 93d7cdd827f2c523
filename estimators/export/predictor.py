"""`Predictor`: a compiled predict function and its variables, kept hot.

tf.estimator's `predict()` rebuilt the graph and reloaded the checkpoint on every
call. A `Predictor` loads once, pads request sizes to powers of two so that a
few compilations serve every size, and reloads only when a newer checkpoint (or
export) appears, or when asked to with `reload()`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from estimators import checkpoints
from estimators.export import _files, _host
from estimators.export._shapes import example_features
from estimators.export.exported import ExportedModel
from estimators.export.serving import InputSpec, ServingInputReceiver, as_input_spec
from estimators.feature_column import make_parse_example_spec
from estimators.mode_keys import ModeKeys
from estimators.runner import ModelRunner

__all__ = ["Predictor"]

Runner = Callable[[Any], dict[str, np.ndarray]]


class Predictor:
    """Low-latency predictions from an export or from an Estimator's checkpoints.

    Args:
        export_path: An export directory, or an `export_dir_base` of timestamped
            exports (the newest is served, and a newer one is picked up).
        check_interval_secs: How often (at most) a call looks for a newer export
            or checkpoint; 0 checks on every call.
        strict_vocabulary: Refuse categories outside a vocabulary without OOV
            buckets instead of treating them as missing.

    Example:
        >>> import flax.linen as nn, optax, numpy as np
        >>> import estimators as est
        >>> def model_fn(features, labels, mode):
        ...     y = nn.Dense(1)(features["x"])[:, 0]
        ...     if mode == est.ModeKeys.PREDICT:
        ...         return est.EstimatorSpec(mode, predictions={"y": y})
        ...     loss = est.losses.mean_squared_error(labels, y)
        ...     return est.EstimatorSpec(mode, loss=loss, optimizer=optax.sgd(0.1))
        >>> x = np.ones((4, 2), np.float32)
        >>> e = est.Estimator(model_fn).train(lambda: ({"x": x}, x[:, 0]), steps=50)
        >>> predictor = e.predictor()
        >>> round(float(predictor({"x": x[:1]})["y"][0]), 2)
        1.0
    """

    def __init__(
        self,
        export_path: str | os.PathLike[str],
        *,
        check_interval_secs: float = 1.0,
        strict_vocabulary: bool = True,
    ) -> None:
        self._setup(
            _ExportSource(os.fspath(export_path), strict_vocabulary),
            check_interval_secs,
        )

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        *,
        checkpoint_path: str | os.PathLike[str] | None = None,
        check_interval_secs: float = 1.0,
    ) -> Predictor:
        """A Predictor over an Estimator's latest (or a given) checkpoint.

        It shares the Estimator's compiled predict function and variable cache,
        and reloads when training writes a newer checkpoint.

        Args:
            estimator: An `est.Estimator` (its `runner` and `model_dir` are used).
            checkpoint_path: Serve this checkpoint; default the latest.
            check_interval_secs: How often (at most) to look for a newer one.
        """
        predictor = cls.__new__(cls)
        path = os.fspath(checkpoint_path) if checkpoint_path else None
        source = _CheckpointSource(estimator.runner, estimator.model_dir, path)
        predictor._setup(source, check_interval_secs)
        return predictor

    def _setup(self, source: Any, check_interval_secs: float) -> None:
        if check_interval_secs < 0:
            raise ValueError(
                f"`check_interval_secs` must be >= 0, got {check_interval_secs}."
            )
        self._source = source
        self._interval = float(check_interval_secs)
        self._lock = threading.Lock()
        self._stamp: Any = None
        self._runner: Any = None
        self._checked = float("-inf")
        self.reload()

    @property
    def path(self) -> str | None:
        """The export or checkpoint being served (None before any checkpoint)."""
        return self._source.describe(self._stamp)

    @property
    def global_step(self) -> int:
        """The global_step of the model being served."""
        return self._runner.global_step

    def reload(self) -> None:
        """Loads the newest export or checkpoint now, even when it is unchanged."""
        with self._lock:
            self._stamp = self._source.stamp()
            self._runner = self._source.load(self._stamp)
            self._checked = time.monotonic()

    def refresh(self) -> bool:
        """Reloads if a newer export or checkpoint appeared; returns whether it did."""
        stamp = self._source.stamp()
        self._checked = time.monotonic()
        if stamp == self._stamp:
            return False
        with self._lock:
            self._runner = self._source.load(stamp)
            self._stamp = stamp
        return True

    def __call__(
        self, features: Any, predict_keys: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Predicts a batch: one array per prediction key, batch first.

        Args:
            features: A dict of columns, one dict row, a list of records, a pandas
                DataFrame or an Arrow table.
            predict_keys: Which prediction keys to return; default all.
        """
        if time.monotonic() - self._checked >= self._interval:
            self.refresh()
        outputs = self._runner(features)
        if predict_keys is None:
            return outputs
        keys = [predict_keys] if isinstance(predict_keys, str) else list(predict_keys)
        missing = [k for k in keys if k not in outputs]
        if missing:
            raise ValueError(
                f"predict_keys {missing} are not among the predictions {sorted(outputs)}."
            )
        return {k: outputs[k] for k in keys}

    predict = __call__


class _ExportSource:
    def __init__(self, path: str, strict_vocabulary: bool) -> None:
        self.path = path
        self.strict = strict_vocabulary
        self.single = os.path.exists(os.path.join(path, _files.MANIFEST))
        if not self.single and _files.latest_export(path) is None:
            _files.read_manifest(path)  # raises, naming what is missing

    def stamp(self) -> str | None:
        return self.path if self.single else _files.latest_export(self.path)

    def describe(self, stamp: Any) -> str | None:
        return stamp

    def load(self, stamp: Any) -> ExportedModel:
        if stamp is None:
            _files.read_manifest(self.path)
        return ExportedModel(stamp, strict_vocabulary=self.strict)


class _CheckpointSource:
    def __init__(
        self, runner: ModelRunner, model_dir: str, checkpoint_path: str | None
    ) -> None:
        self.runner = runner
        self.model_dir = model_dir
        self.checkpoint_path = checkpoint_path

    def stamp(self) -> tuple[str | None, Any]:
        path = self.checkpoint_path or checkpoints.newest_usable_checkpoint(
            self.model_dir, self.runner.verified_checkpoints
        )
        return path, checkpoints.checkpoint_stamp(path) if path else None

    def describe(self, stamp: Any) -> str | None:
        return None if stamp is None else stamp[0]

    def load(self, stamp: Any) -> _CheckpointRunner:
        self.runner.forget_variables()  # reload the variables too
        return _CheckpointRunner(self.runner, stamp[0])


class _CheckpointRunner:
    """Host transform + bucketed predict step over a `ModelRunner`."""

    def __init__(self, runner: ModelRunner, checkpoint_path: str | None) -> None:
        self.runner = runner
        self.path = checkpoint_path
        self.specs: dict[str, InputSpec] = {}
        self.var_width: frozenset[str] = frozenset()
        if runner.feature_columns:
            spec = make_parse_example_spec(runner.feature_columns)
            self.specs = {k: as_input_spec(k, v) for k, v in spec.items()}
            _, self.var_width = example_features(
                runner, ServingInputReceiver(self.specs, parse_records=True)
            )
        self.pipeline = runner.pipeline_of((), ModeKeys.PREDICT)
        self.global_step = 0
        if checkpoint_path is not None:
            self.global_step = checkpoints.checkpoint_step(checkpoint_path)

    def __call__(self, inputs: Any) -> dict[str, np.ndarray]:
        columns = _host.to_columns(inputs)
        rows = _host.rows_of(columns)
        if self.specs:
            columns = {**columns, **_host.check_inputs(columns, self.specs, rows)}
        features, _, rows = self.pipeline.prepare(columns, None)
        result = self.runner.predict_features(
            features,
            rows,
            self.path,
            host_only=self.pipeline.host_only,
            var_width=self.var_width,
        )
        if not isinstance(result, Mapping):
            return {"predictions": result}
        return dict(result)
