"""Sliced evaluation: the metrics of each value of some raw features, in one pass.

`evaluate(..., slice_by=["country", ("age_bucket", "sex")])` reads the named raw
features of each batch on the host (before the feature-column transform), and
for each value (or combination of values) present in the batch runs the same
compiled eval step with a mask selecting that value's rows (a call per slice
value and batch; their results are read from the device together). `est.losses` and
`est.metrics` honour the mask and merge exactly across batches, so each slice's
metrics equal those computed on the slice's rows alone, however the data is
batched; the slice's `loss` is its batch losses weighted by its rows (exact for a
loss that is a mean over rows, as est.losses' default reductions are).

Example:
    >>> parse_slice_by(["country", ("age_bucket", "sex")])
    (('country',), ('age_bucket', 'sex'))
    >>> slice_name({"age_bucket": 3, "sex": "F"})
    'age_bucket=3,sex=F'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import pyarrow as pa

from estimators import atomic, batching
from estimators.metrics import Metric, compute_results

__all__ = ["Slicer", "parse_slice_by", "slice_name", "write_slices"]

SliceSpec = tuple[str, ...]
SliceKey = tuple[SliceSpec, tuple[Any, ...]]
EvalFn = Callable[[batching.Batch], tuple[Any, ...]]  # loss, metrics, ...


def parse_slice_by(slice_by: Any) -> tuple[SliceSpec, ...]:
    """`slice_by` as a tuple of feature-name tuples (a name is a 1-tuple)."""
    if slice_by is None:
        return ()
    if isinstance(slice_by, str):
        slice_by = [slice_by]
    specs = []
    for item in slice_by:
        spec = (item,) if isinstance(item, str) else item
        if (
            not isinstance(spec, tuple | list)
            or not spec
            or not all(isinstance(n, str) and n for n in spec)
        ):
            raise ValueError(
                "`slice_by` entries must be a feature name or a tuple of names, "
                f"got {item!r}."
            )
        specs.append(tuple(spec))
    return tuple(dict.fromkeys(specs))


def slice_name(values: Mapping[str, Any]) -> str:
    """A slice's label: `feature=value` pairs joined by commas."""
    return ",".join(f"{name}={value}" for name, value in values.items())


def _encode(name: str, column: Any, rows: int) -> tuple[np.ndarray, list[Any]]:
    """Codes per row (int64) and the value of each code; null is a value (None)."""
    if not isinstance(column, pa.Array | pa.ChunkedArray):
        column = np.asarray(column)
        if column.ndim == 2 and column.shape[1] == 1:  # [B, 1], as numpy_input_fn
            column = column[:, 0]
        if column.ndim != 1:
            raise ValueError(
                f"slice_by: feature {name!r} must hold one value per row (a string"
                f" or int column), got shape {column.shape}."
            )
    try:
        array = column if not isinstance(column, np.ndarray) else pa.array(column)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
        raise ValueError(
            f"slice_by: feature {name!r} cannot be sliced on ({e})."
        ) from e
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) != rows or pa.types.is_nested(array.type):
        raise ValueError(
            f"slice_by: feature {name!r} must hold one value per row (a string or "
            f"int column), got type {array.type} with {len(array)} values for "
            f"{rows} rows."
        )
    encoded = array.dictionary_encode()
    values = encoded.dictionary.to_pylist() + [None]
    codes = encoded.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)
    return codes.astype(np.int64), values


def _sort_key(key: SliceKey) -> Any:
    return tuple(
        (v is None, type(v).__name__, v if v is not None else 0) for v in key[1]
    )


class Slicer:
    """Accumulates per-slice metrics over the batches of one evaluation.

    Args:
        specs: What `parse_slice_by` returns.
    """

    def __init__(self, specs: Sequence[SliceSpec]) -> None:
        self.specs = tuple(specs)
        self.columns = sorted({name for spec in self.specs for name in spec})
        self._raw: dict[str, Any] | None = None
        # slice -> metric name -> (result_fn, summed statistics on the host)
        self._metrics: dict[SliceKey, dict[str, tuple[Any, dict[str, Any]]]] = {}
        self._loss: dict[SliceKey, float] = {}
        self._count: dict[SliceKey, float] = {}

    def capture(
        self, transform: Callable[[Mapping[str, Any]], Any] | None
    ) -> Callable[[Mapping[str, Any]], Any]:
        """Wraps a pipeline's host transform to keep each batch's raw slice columns."""

        def capturing(features: Mapping[str, Any]) -> Any:
            missing = [name for name in self.columns if name not in features]
            if missing:
                raise ValueError(
                    f"slice_by: feature {missing[0]!r} is not in the input; the "
                    f"input has {sorted(features)}."
                )
            self._raw = {name: features[name] for name in self.columns}
            return features if transform is None else transform(features)

        return capturing

    def add(self, batch: batching.Batch, rows: int, evaluate: EvalFn) -> None:
        """Runs `evaluate` once per slice value in the batch, with its rows' mask.

        `evaluate(batch)` returns the loss and metrics of a masked batch; the
        results of all slices are read from the device together.
        """
        raw, self._raw = self._raw, None
        if raw is None:
            raise ValueError(
                "slice_by needs the input's features as a dict of columns."
            )
        encoded = {name: _encode(name, raw[name], rows) for name in self.columns}
        size = len(batch.mask) if batch.mask is not None else rows
        keys: list[SliceKey] = []
        counts: list[float] = []
        outputs = []
        for spec in self.specs:
            combined = np.zeros(rows, np.int64)
            for name in spec:
                codes, values = encoded[name]
                combined = combined * len(values) + codes
            for code in np.unique(combined):
                selected = combined == code
                first = int(np.argmax(selected))
                keys.append(
                    (spec, tuple(encoded[n][1][encoded[n][0][first]] for n in spec))
                )
                counts.append(float(selected.sum()))
                mask = np.zeros(size, np.float32)
                mask[:rows] = selected
                outputs.append(evaluate(batch._replace(mask=mask))[:2])
        for key, count, (loss, metrics) in zip(
            keys, counts, jax.device_get(outputs), strict=True
        ):
            totals = self._metrics.setdefault(key, {})
            for name, metric in metrics.items():
                state = {k: np.asarray(v) for k, v in metric.state.items()}
                if name in totals:
                    before = totals[name][1]
                    state = {k: before[k] + v for k, v in state.items()}
                totals[name] = (metric.result_fn, state)
            self._loss[key] = self._loss.get(key, 0.0) + float(loss) * count
            self._count[key] = self._count.get(key, 0.0) + count

    def rows(self) -> list[dict[str, Any]]:
        """One row per slice: `{"slice": {feature: value}, "count": n, metrics...}`."""
        keys = list(self._metrics)
        try:
            keys.sort(key=lambda k: (self.specs.index(k[0]), _sort_key(k)))
        except TypeError:  # values of mixed types: keep the order first seen
            keys.sort(key=lambda k: self.specs.index(k[0]))
        out = []
        for key in keys:
            spec, values = key
            count = self._count[key]
            out.append(
                {
                    "slice": dict(zip(spec, values, strict=True)),
                    "count": int(count),
                    **compute_results(
                        {
                            n: Metric(st, fn)
                            for n, (fn, st) in self._metrics[key].items()
                        }
                    ),
                    "loss": self._loss[key] / count if count else 0.0,
                }
            )
        return out


def write_slices(
    directory: str, rows: Sequence[Mapping[str, Any]], step: int
) -> list[str]:
    """Writes the slice rows as `slices-<step>.parquet` and `.csv` in `directory`.

    Columns: `slice` (its label), one column per sliced feature (null where a row
    slices on others), `count`, then each scalar metric.
    """
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    flat = [_flat(row) for row in rows]
    names = list(dict.fromkeys(name for row in flat for name in row))
    table = pa.Table.from_pydict({n: [row.get(n) for row in flat] for n in names})
    os.makedirs(directory, exist_ok=True)
    paths = []
    for suffix, write in (
        ("parquet", lambda path: pq.write_table(table, path)),
        ("csv", lambda path: pa_csv.write_csv(table, path)),
    ):
        path = os.path.join(directory, f"slices-{step}.{suffix}")
        atomic.write_with(path, write)
        paths.append(path)
    return paths


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    values = row["slice"]
    flat: dict[str, Any] = {"slice": slice_name(values)}
    metrics = {k: v for k, v in row.items() if k != "slice" and np.ndim(v) == 0}
    for name, value in values.items():
        flat[f"slice/{name}" if name in metrics or name == "slice" else name] = value
    flat.update(metrics)
    return flat
