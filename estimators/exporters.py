"""Exporters: what `train_and_evaluate` exports after its evaluations.

tf.estimator's `LatestExporter`, `FinalExporter` and `BestExporter`: each writes
`estimator.export_saved_model` exports under `model_dir/export/<name>/`.
"""

from __future__ import annotations

import abc
import inspect
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from typing import Any

from estimators.estimator import Estimator
from estimators.eval_records import read_eval_metrics
from estimators.validation import is_int

__all__ = [
    "BestExporter",
    "EvalResult",
    "Exporter",
    "FinalExporter",
    "LatestExporter",
    "loss_smaller",
]

logger = logging.getLogger("estimators")

EvalResult = Mapping[str, Any]


def loss_smaller(best_eval_result: EvalResult, current_eval_result: EvalResult) -> bool:
    """Whether `current_eval_result` has a smaller "loss"; `BestExporter`'s default.

    Example:
        >>> loss_smaller({"loss": 0.5}, {"loss": 0.25})
        True
    """
    for name, result in (
        ("best_eval_result", best_eval_result),
        ("current_eval_result", current_eval_result),
    ):
        if not result or "loss" not in result:
            raise ValueError(f"`{name}` has no 'loss' to compare, got {result!r}.")
    return best_eval_result["loss"] > current_eval_result["loss"]


class Exporter(abc.ABC):
    """Exports a model after an evaluation in `train_and_evaluate`.

    Subclasses name themselves (`name`, the folder under `model_dir/export/`) and
    implement `export`.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The exporter's name: its folder under `model_dir/export/`."""

    @abc.abstractmethod
    def export(
        self,
        estimator: Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: EvalResult,
        is_the_final_export: bool,
    ) -> Any:
        """Exports `checkpoint_path` under `export_path`; returns e.g. its path.

        Args:
            estimator: The Estimator being trained.
            export_path: `model_dir/export/<name>`; timestamped exports go inside.
            checkpoint_path: The checkpoint just evaluated.
            eval_result: Its evaluation results (with `global_step`).
            is_the_final_export: Whether training has ended.
        """


class _SavedModelExporter(Exporter, abc.ABC):
    """Writes `estimator.export_saved_model` exports, keeping the newest few."""

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable[[], Any] | None,
        exports_to_keep: int | None,
    ) -> None:
        kind = type(self).__name__
        if not isinstance(name, str) or not name or name in (".", ".."):
            raise ValueError(f"{kind}: `name` must be a non-empty str, got {name!r}.")
        if "/" in name or os.sep in name:
            raise ValueError(f"{kind}: `name` must be one folder name, got {name!r}.")
        if serving_input_receiver_fn is not None and not callable(
            serving_input_receiver_fn
        ):
            raise TypeError(
                f"{kind}: `serving_input_receiver_fn` must be callable or None, got "
                f"{type(serving_input_receiver_fn).__name__}."
            )
        if exports_to_keep is not None and (
            not is_int(exports_to_keep) or exports_to_keep <= 0
        ):
            raise ValueError(
                f"{kind}: `exports_to_keep` must be an int > 0 or None, got "
                f"{exports_to_keep!r}."
            )
        self._name = name
        self._serving_input_receiver_fn = serving_input_receiver_fn
        self._exports_to_keep = exports_to_keep

    @property
    def name(self) -> str:
        return self._name

    def _export(self, estimator: Estimator, export_path: str, checkpoint: str) -> str:
        path = estimator.export_saved_model(
            export_path, self._serving_input_receiver_fn, checkpoint_path=checkpoint
        )
        if self._exports_to_keep is not None:
            _remove_older_exports(export_path, self._exports_to_keep)
        return path


def _remove_older_exports(export_path: str, keep: int) -> None:
    """Deletes all but the `keep` newest timestamped exports in `export_path`."""
    stamps = sorted(int(n) for n in os.listdir(export_path) if n.isdigit())
    for stamp in stamps[: max(len(stamps) - keep, 0)]:
        shutil.rmtree(os.path.join(export_path, str(stamp)), ignore_errors=True)


class LatestExporter(_SavedModelExporter):
    """Exports after every evaluation, keeping the `exports_to_keep` newest.

    Args:
        name: The folder under `model_dir/export/`.
        serving_input_receiver_fn: As in `Estimator.export_saved_model`; default:
            records of the estimator's feature columns.
        exports_to_keep: How many exports to keep; None keeps all. Default 5.

    Example:
        >>> LatestExporter("serving", exports_to_keep=3).name
        'serving'
    """

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable[[], Any] | None = None,
        exports_to_keep: int | None = 5,
    ) -> None:
        super().__init__(name, serving_input_receiver_fn, exports_to_keep)

    def export(
        self,
        estimator: Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: EvalResult,
        is_the_final_export: bool,
    ) -> str:
        return self._export(estimator, export_path, checkpoint_path)


class FinalExporter(_SavedModelExporter):
    """Exports once, after the final evaluation.

    Args:
        name: The folder under `model_dir/export/`.
        serving_input_receiver_fn: As in `Estimator.export_saved_model`.

    Example:
        >>> FinalExporter("final").name
        'final'
    """

    def __init__(
        self, name: str, serving_input_receiver_fn: Callable[[], Any] | None = None
    ) -> None:
        super().__init__(name, serving_input_receiver_fn, None)

    def export(
        self,
        estimator: Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: EvalResult,
        is_the_final_export: bool,
    ) -> str | None:
        if not is_the_final_export:
            return None
        return self._export(estimator, export_path, checkpoint_path)


class BestExporter(_SavedModelExporter):
    """Exports only when an evaluation beats the best one so far.

    The best so far starts as the best evaluation already recorded in the
    model_dir (so a resumed run keeps its standard), not counting the evaluation
    being exported.

    Args:
        name: The folder under `model_dir/export/`. Default "best_exporter".
        serving_input_receiver_fn: As in `Estimator.export_saved_model`.
        compare_fn: `compare_fn(best_eval_result=..., current_eval_result=...)`
            returns whether the current result is better. Default `loss_smaller`.
        exports_to_keep: How many exports to keep; None keeps all. Default 5.
        eval_name: The name of the evaluation whose recorded results seed the
            best (`EvalSpec.name`); default None, the unnamed evaluation.

    Example:
        >>> BestExporter(compare_fn=loss_smaller).name
        'best_exporter'
    """

    def __init__(
        self,
        name: str = "best_exporter",
        serving_input_receiver_fn: Callable[[], Any] | None = None,
        compare_fn: Callable[..., bool] = loss_smaller,
        exports_to_keep: int | None = 5,
        *,
        eval_name: str | None = None,
    ) -> None:
        super().__init__(name, serving_input_receiver_fn, exports_to_keep)
        _check_compare_fn(compare_fn)
        if eval_name is not None and (not isinstance(eval_name, str) or not eval_name):
            raise ValueError(
                f"BestExporter: `eval_name` must be a non-empty str or None, got "
                f"{eval_name!r}."
            )
        self._compare_fn = compare_fn
        self._eval_name = eval_name
        self._model_dir: str | None = None
        self._best: EvalResult | None = None

    def export(
        self,
        estimator: Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: EvalResult,
        is_the_final_export: bool,
    ) -> str | None:
        if self._model_dir != estimator.model_dir:
            self._model_dir = estimator.model_dir
            self._best = self._best_recorded(eval_result.get("global_step"))
        if self._best is not None and not self._compare_fn(
            best_eval_result=self._best, current_eval_result=eval_result
        ):
            return None
        logger.info("Performing best model export.")
        self._best = dict(eval_result)
        return self._export(estimator, export_path, checkpoint_path)

    def _best_recorded(self, current_step: int | None) -> EvalResult | None:
        best = None
        for step, metrics in read_eval_metrics(
            self._model_dir, self._eval_name
        ).items():
            if step == current_step:
                continue
            result = {**metrics, "global_step": step}
            if best is None or self._compare_fn(
                best_eval_result=best, current_eval_result=result
            ):
                best = result
        return best


def _check_compare_fn(compare_fn: Any) -> None:
    if not callable(compare_fn):
        raise TypeError(
            f"BestExporter: `compare_fn` must be callable, got {compare_fn!r}."
        )
    try:
        inspect.signature(compare_fn).bind(best_eval_result={}, current_eval_result={})
    except TypeError:
        raise ValueError(
            "BestExporter: `compare_fn` must take the arguments `best_eval_result` "
            f"and `current_eval_result`, got {getattr(compare_fn, '__name__', '')}"
            f"{inspect.signature(compare_fn)}."
        ) from None
    except ValueError:  # no signature (a builtin): let the call decide
        pass
